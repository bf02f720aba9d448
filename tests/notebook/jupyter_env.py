"""A private Jupyter environment for the notebook tests: this interpreter's kernel, no user state.

The notebooks name the ``python3`` kernel. Which interpreter that means depends
on kernelspec lookup (``JUPYTER_PATH``, then the user's data directory, then
the environment's): a ``python3`` kernelspec in ``~/.local/share/jupyter``
could send the tests to another Python without praison_push. So the tests
write their own ``python3`` kernelspec whose ``argv`` is ``sys.executable``
and put it first, and point every Jupyter and IPython directory at a temp
directory, so no user configuration, workspace or startup file takes part.
Variables that would change what the notebooks do (``PRAISON_PUSH_URL``,
``REDIS_URL`` …) are dropped.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NOTEBOOKS", "JupyterEnv", "make_jupyter_env"]

#: The repository's notebooks directory.
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: Variables the notebooks read; the tests decide them.
_DROPPED = ("PRAISON_PUSH_URL", "PRAISON_PUSH_TOKEN", "REDIS_URL", "JUPYTER_TOKEN")


@dataclass(frozen=True)
class JupyterEnv:
    """Where the private environment lives, and the process environment that selects it."""

    root: Path
    kernels: Path
    env: dict[str, str]


def make_jupyter_env(root: Path) -> JupyterEnv:
    """Create the private environment under ``root`` (a fresh temp directory)."""
    path_dir = root / "jupyter-path"
    kernels = path_dir / "kernels"
    spec_dir = kernels / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    dirs = {
        "JUPYTER_PATH": path_dir,
        "JUPYTER_DATA_DIR": root / "data",
        "JUPYTER_CONFIG_DIR": root / "config",
        "JUPYTER_RUNTIME_DIR": root / "runtime",
        "IPYTHONDIR": root / "ipython",
    }
    for key, directory in dirs.items():
        directory.mkdir(parents=True, exist_ok=True)
        env[key] = str(directory)
    env["JUPYTER_PLATFORM_DIRS"] = "1"  # the new directory layout, without a migration warning
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # no debugger warning on kernel start
    # 05_real_models uses the local fake model, never a model this machine happens to run.
    env["PRAISON_PUSH_LLM_BASE_URL"] = "fake"
    return JupyterEnv(root=root, kernels=kernels, env=env)


def nbformat() -> Any:
    """nbformat, imported when a test first needs it: its import (jsonschema's
    format checkers) takes over a second, which collecting the inner loop, where
    no notebook test runs, should not pay."""
    import nbformat as module

    return module
