"""Binder: the files repo2docker reads install what the notebooks need, and the badge lands.

repo2docker (what mybinder.org runs) reads ``binder/`` only when it exists:
``requirements.txt`` is installed with pip from the repository root (so ``.``
is this package), ``runtime.txt`` picks the Python, ``apt.txt`` lists Debian
packages. These tests pin what the notebooks rely on there, and that the
README's Binder badge opens a notebook that exists.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from urllib.parse import unquote

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
#: The badge line the README carries (OWNER/REPO as the repository is published).
BADGE = re.compile(
    r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]"
    r"\((https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/[^?\s)]+)\?urlpath=([^)\s]+)\)"
)
EXAMPLE_BADGE = (
    "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/"
    "OWNER/REPO/HEAD?urlpath=lab/tree/notebooks/01_quickstart.ipynb)"
)


def _lines(path: Path) -> list[str]:
    """The meaningful lines of a requirements-style file (comments and blanks dropped)."""
    lines = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _requires_python() -> SpecifierSet:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^requires-python\s*=\s*"([^"]+)"', text, re.MULTILINE)
    assert match, "pyproject.toml declares no requires-python"
    return SpecifierSet(match.group(1))


def test_requirements_install_this_package_with_its_notebook_extras() -> None:
    lines = _lines(BINDER / "requirements.txt")
    local = [line for line in lines if re.fullmatch(r"\.(\[[\w,\s-]*\])?", line)]
    assert local, "binder/requirements.txt must install the repository itself ('.[notebook]')"
    extras = {extra.strip() for extra in local[0].strip(".[]").split(",")}
    # notebook: the widgets and magics; redis: the scale-out notebook.
    assert {"notebook", "redis"} <= extras, local[0]
    names = {Requirement(line).name.lower() for line in lines if line not in local}
    assert "jupyterlab" in names, "binder/requirements.txt must install jupyterlab"


def test_requirements_name_extras_the_package_has() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    local = next(line for line in _lines(BINDER / "requirements.txt") if line.startswith("."))
    for extra in local.strip(".[]").split(","):
        assert re.search(rf"^{re.escape(extra.strip())}\s*=\s*\[", pyproject, re.MULTILINE), (
            f"pyproject.toml has no optional-dependencies group {extra.strip()!r}"
        )


def test_runtime_is_a_python_the_package_supports() -> None:
    lines = _lines(BINDER / "runtime.txt")
    assert len(lines) == 1, lines
    match = re.fullmatch(r"python-(\d+\.\d+)", lines[0])
    assert match, f"runtime.txt must read python-X.Y, not {lines[0]!r}"
    version = Version(match.group(1))
    supported = _requires_python()
    assert version in supported, f"runtime.txt {version} is outside requires-python {supported}"
    # repo2docker gives Pythons older than 3.7 a kernel environment apart from JupyterLab's,
    # where the widget front ends would not be found.
    assert version >= Version("3.7")


def test_apt_installs_redis_server_for_the_scale_out_notebook() -> None:
    packages = _lines(BINDER / "apt.txt")
    assert all(re.match(r"^[a-z0-9.+-]+$", package) for package in packages), packages
    assert "redis-server" in packages


def test_readme_binder_badge_opens_an_existing_notebook() -> None:
    readme = (ROOT / "README.md").read_text()
    badges = BADGE.findall(readme)
    assert badges, f"README.md has no Binder badge; expected a line like\n{EXAMPLE_BADGE}"
    for _, urlpath in badges:
        target = unquote(urlpath)
        assert target.startswith("lab/tree/"), f"urlpath should open JupyterLab: {target}"
        notebook = ROOT / target.removeprefix("lab/tree/")
        assert notebook.is_file(), f"the Binder badge opens {target}, which does not exist"
        assert notebook.suffix == ".ipynb"


def test_readme_images_exist_and_stay_small() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in re.findall(r"!\[[^\]]*\]\(((?!https?://)[^)\s]+)\)", readme):
        image = ROOT / path
        assert image.is_file(), f"README.md shows {path}, which does not exist"
        size = image.stat().st_size
        assert size < 200_000, f"{path} is {size} bytes: keep README images under 200 KB"
        if image.suffix == ".png":
            header = image.read_bytes()[:24]
            assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
            width, height = struct.unpack(">II", header[16:24])
            assert width > 0 and height > 0
