"""The tutorial notebooks run top to bottom in a real kernel, offline, without error output.

Each notebook in ``notebooks/`` is executed by nbclient in a temp copy (the
committed files stay output-free), with the ``python3`` kernel pinned to this
interpreter (:mod:`.jupyter_env`). A cell may not produce an ``error`` output
nor write to stderr, and the cells that teach something must show it (the
demo agent's answer, the messages that crossed gateways …). The executed
copies are kept in ``tests/artifacts/notebooks/`` to look at when one fails.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from support import timeout

from .jupyter_env import NOTEBOOKS, JupyterEnv, make_jupyter_env, nbformat

pytestmark = [pytest.mark.kernel, pytest.mark.e2e]


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "notebooks"
#: The bound of one cell (the slowest takes a few seconds).
CELL_TIMEOUT = timeout(60)
#: The bound of a kernel start.
STARTUP_TIMEOUT = timeout(60)

NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
WEATHER = "The weather in Paris is currently 18°C and partly cloudy."

#: What a notebook's cells must show: (text the cell's source contains, text its outputs contain).
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "01_quickstart": [
        ("start_gateway()", "praison_push gateway"),
        ('bob.publish("alerts", {"level": "high"', "delivered=1"),
        ("next(inbox)", "#alerts from bob: {'level': 'high', 'text': 'disk almost full'}"),
        ("ChannelLog(alice", WIDGET),
        ("alice.history", "4 bob {'level': 'high', 'text': 'high priority check'}"),
        ("alice.get_presence", "bob busy {'role': 'writer'}"),
        ("PresenceList(alice", WIDGET),
    ],
    "02_agent_streaming": [
        ("run.show()", WIDGET),
        ("run.result(timeout=30)", WEATHER),
        ("run.result(timeout=30)", "'name': 'get_weather', 'status': 'completed'"),
        ("ipywidgets.VBox", WIDGET),
        ('client.execute("shouter"', WIDGET),
        ("TokenStream(long_run)", WIDGET),
        ("long_run.result", "3000 tokens"),
        ("ExecutionView(replayed)", WIDGET),
        ('PresenceList(client, "lobby")', WIDGET),
    ],
    "03_magics": [
        ("%push gateway start", "praison_push gateway"),
        ("print(receipt.channel", "alerts offset 1"),
        ("Deploy finished", "offset 2"),
        ("%push subscribe alerts", WIDGET),
        ("%push presence alerts", WIDGET),
        ("%%push execute demo-weather", WIDGET),
        ("%push gateway status", "running"),
    ],
    "04_scale_out": [
        ("Using Redis at", "(private redis-server)"),
        ("gw_a = start_gateway", "gateway B: ws://127.0.0.1:"),
        ("ChannelLog(reader", WIDGET),
        ("writer.publish", "A got offset 1 from writer: {'headline': 'scale-out works'}"),
        (
            "writer.publish",
            "A got offset 3 from writer: {'headline': 'offsets stay in order'}",
        ),
        ("latecomer.history", "['scale-out works', 'history lives in Redis', 'offsets stay"),
        ("redis_process.terminate()", "done"),
    ],
    "05_real_models": [
        ("def scripted_model", "Using the local fake model (offline): model 'fake-model'"),
        ('client.execute("assistant", "What is the weather', WIDGET),
        ("answer = run.result", "It is 18°C and partly cloudy in Paris."),
        ("answer = run.result", "get_weather {'city': 'Paris'} completed"),
        ("answer = run.result", "'total_tokens'"),
        ("Send the weather report", WIDGET),
        ("for event in report", "Done: sent to ada@example.com"),
        ("for event in report", "'status': 'approved', 'reason': 'approved from code'"),
        ("report.transcript()", "⚙ send_report"),
        ("report.transcript()", "assistant completed"),
        ('"praisonai-weather"', WIDGET),
        ("praisonai_run.result", "It is 18°C and partly cloudy in Paris."),
        ("praisonai_run.result", "get_weather {'city': 'Paris'} completed"),
    ],
}


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> JupyterEnv:
    return make_jupyter_env(tmp_path_factory.mktemp("jupyter"))


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A copy of ``notebooks/``: the kernel's working directory."""
    copy = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, copy)
    yield copy


def execute(jupyter: JupyterEnv, notebook: Any, workdir: Path, **env: str | None) -> Any:
    """Run every cell of ``notebook`` (errors recorded, not raised); the kernel always stops.

    ``env`` changes the kernel's environment (``None`` removes a variable).
    """
    kernel_env = dict(jupyter.env)
    for key, value in env.items():
        if value is None:
            kernel_env.pop(key, None)
        else:
            kernel_env[key] = value
    manager = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(jupyter.kernels)]),
    )
    from nbclient import NotebookClient  # imports nbformat: see jupyter_env.nbformat

    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT,
        startup_timeout=STARTUP_TIMEOUT,
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    # The client does not own a kernel manager it was given: cleanup_kc makes it stop the
    # kernel (and close its channels) all the same, whatever happened in the cells.
    return client.execute(env=kernel_env, cleanup_kc=True)


def save(notebook: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat().write(notebook, ARTIFACTS / name)


def cell_text(cell: Any) -> str:
    """Everything a code cell showed: streams, reprs, errors (as one string)."""
    pieces: list[str] = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            pieces.append(output.text)
        elif output.output_type == "error":
            pieces.append(f"{output.ename}: {output.evalue}")
        else:
            for mime, value in output.get("data", {}).items():
                pieces.append(mime)
                pieces.append(value if isinstance(value, str) else str(value))
    return "\n".join(pieces)


def problems(notebook: Any) -> list[str]:
    """Every error output and every write to stderr, with the cell that made it."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                trace = "\n".join(output.traceback)
                found.append(f"cell {index} raised {output.ename}: {output.evalue}\n{trace}")
            elif output.output_type == "stream" and output.name == "stderr":
                found.append(f"cell {index} wrote to stderr:\n{output.text}")
    return found


def outputs_of(notebook: Any, fragment: str) -> str:
    """What the code cells whose source contains ``fragment`` showed."""
    cells = [c for c in notebook.cells if c.cell_type == "code" and fragment in c.source]
    assert cells, f"no code cell contains {fragment!r}: update EXPECTED with the notebook"
    return "\n".join(cell_text(cell) for cell in cells)


# --- the committed files ----------------------------------------------------------------


def test_the_tutorials_are_all_there() -> None:
    names = [path.stem for path in NOTEBOOK_PATHS]
    assert names == sorted(EXPECTED), "every notebook has its expectations here, and back"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda path: path.stem)
def test_committed_notebooks_are_clean(path: Path) -> None:
    """No outputs, no execution counts, no saved widget state; the python3 kernel; valid."""
    notebook = nbformat().read(path, as_version=4)
    nbformat().validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.kernelspec.language == "python"
    assert "widgets" not in notebook.metadata, "saved widget state: clear the outputs"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {index} has an execution count"
        assert cell.source.strip(), f"cell {index} is empty"


# --- running them -----------------------------------------------------------------------


def test_the_kernel_is_this_interpreter(jupyter: JupyterEnv, workdir: Path) -> None:
    """The ``python3`` kernel the notebooks name runs this very Python (and its praison_push)."""
    probe = nbformat().v4.new_notebook()
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    probe.cells.append(
        nbformat().v4.new_code_cell(
            "import sys, praison_push\nprint(sys.executable)\nprint(praison_push.__file__)"
        )
    )
    executed = execute(jupyter, probe, workdir)
    assert problems(executed) == []
    executable, package = cell_text(executed.cells[0]).split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    import praison_push

    assert Path(package).resolve() == Path(praison_push.__file__).resolve()


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda path: path.stem)
def test_notebook_runs_clean(jupyter: JupyterEnv, workdir: Path, path: Path) -> None:
    """Top to bottom without error output or stderr, showing what each cell teaches."""
    if path.stem == "04_scale_out":
        from redis_support import redis_server_binary

        if redis_server_binary() is None:
            pytest.fail(
                "redis-server is not installed, so 04_scale_out.ipynb would skip its demo: "
                "`apt-get install redis-server` (.ci/run does)"
            )
    notebook = nbformat().read(workdir / path.name, as_version=4)
    executed = execute(jupyter, notebook, workdir)
    save(executed, path.name)
    assert problems(executed) == []
    for fragment, expected in EXPECTED[path.stem]:
        shown = outputs_of(executed, fragment)
        assert expected in shown, f"the cell with {fragment!r} did not show {expected!r}:\n{shown}"
    # What the saved file shows without a kernel: every widget's final state.
    for fragment, expected in SAVED.get(path.stem, []):
        fallbacks = saved_fallbacks(executed, fragment)
        assert fallbacks, f"the cell with {fragment!r} saved no fallback"
        for mime, text in fallbacks:
            assert expected in text, f"{fragment!r} saved {mime} without {expected!r}:\n{text}"
    for mime, text in saved_fallbacks(executed, ""):
        assert "waiting" not in text and "· 0 tokens" not in text, f"a stale {mime}:\n{text}"
    if path.stem == "02_agent_streaming":
        html = converted_to_html(executed, workdir)
        for expected in (WEATHER, "get_weather", "completed", "3,000 tokens"):
            assert expected in html, f"nbconvert's HTML does not show {expected!r}"


#: What the saved fallbacks (``text/plain`` and ``text/html``) of widget outputs must show.
SAVED: dict[str, list[tuple[str, str]]] = {
    "01_quickstart": [
        ("start_gateway()", "stopped"),
        ("ChannelLog(alice", "4 messages"),
        ("ChannelLog(alice", "high priority check"),
        ("PresenceList(alice", "3 clients"),
        ("PresenceList(alice", "carol"),
    ],
    "02_agent_streaming": [
        ("run.show()", WEATHER),
        ("run.show()", "get_weather"),
        ("run.show()", "demo-weather · completed"),
        ('client.execute("shouter"', "shouter · completed"),
        ("TokenStream(long_run)", "demo-long · completed · 3,000 tokens"),
        ("ExecutionView(replayed)", WEATHER),
        ('PresenceList(client, "lobby")', "watching"),
    ],
    "03_magics": [
        ("%push subscribe alerts", "5 messages"),
        ("%%push execute demo-weather", "demo-weather · completed"),
        ("%%push execute demo-weather", "Tokyo"),
        ("%push gateway status", "● running"),
    ],
}


def saved_fallbacks(notebook: Any, fragment: str) -> list[tuple[str, str]]:
    """``(mime, text)`` of the text fallbacks of praison_push outputs in cells with ``fragment``."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or fragment not in cell.source:
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" not in data or "praison" not in str(data["text/html"]):
                continue
            for mime in ("text/plain", "text/html"):
                found.append((mime, str(data[mime])))
    return found


def converted_to_html(notebook: Any, workdir: Path) -> str:
    """``jupyter nbconvert --to html`` of ``notebook`` saved as JupyterLab saves by default
    (without the widget state), as GitHub, nbviewer and a reopened notebook render it."""
    import copy
    import subprocess

    plain = copy.deepcopy(notebook)
    plain.metadata.pop("widgets", None)
    source = workdir / "saved.ipynb"
    nbformat().write(plain, source)
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(source)],
        capture_output=True,
        timeout=timeout(120),
        check=True,
    )
    html = (workdir / "saved.html").read_text(encoding="utf-8")
    (ARTIFACTS / "02_agent_streaming.html").write_text(html, encoding="utf-8")
    return html


def test_scale_out_skips_cleanly_without_redis(
    jupyter: JupyterEnv, workdir: Path, tmp_path: Path
) -> None:
    """No redis-server and no REDIS_URL: it says so, and every demo cell skips (no error)."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    notebook = nbformat().read(workdir / "04_scale_out.ipynb", as_version=4)
    executed = execute(jupyter, notebook, workdir, PATH=str(empty_bin), REDIS_URL=None)
    save(executed, "04_scale_out-no-redis.ipynb")
    assert problems(executed) == []
    assert "No Redis is reachable" in outputs_of(executed, "Using Redis at")
    for fragment in ("gw_a = start_gateway", "ChannelLog(reader", "writer.publish"):
        assert "skipped: no Redis" in outputs_of(executed, fragment)
    assert "done" in outputs_of(executed, "redis_process.terminate()")


def test_scale_out_uses_redis_url(
    jupyter: JupyterEnv, workdir: Path, tmp_path: Path, redis_server: Any
) -> None:
    """No redis-server on PATH, but REDIS_URL names one: the demo runs against it."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    notebook = nbformat().read(workdir / "04_scale_out.ipynb", as_version=4)
    executed = execute(jupyter, notebook, workdir, PATH=str(empty_bin), REDIS_URL=redis_server.url)
    save(executed, "04_scale_out-redis-url.ipynb")
    assert problems(executed) == []
    assert f"Using Redis at {redis_server.url} (REDIS_URL)" in outputs_of(
        executed, "Using Redis at"
    )
    assert "A got offset 3 from writer" in outputs_of(executed, "writer.publish")
