"""JupyterLab in headless Chromium: ``02_agent_streaming.ipynb``, run from the Run menu, live.

The whole path a user takes: a real ``jupyter lab`` (127.0.0.1, a free port,
no token, a temp copy of ``notebooks/``, private settings and kernelspec from
:mod:`.jupyter_env`), the system Chromium driven by Playwright, *Run → Run All
Cells*, and the widgets' DOM (class names from
``praison_push/notebook/static/widgets.js``): the demo-weather run's streamed
answer, its ``get_weather`` tool call completed, and the presence list with
both clients. Only requests to the Jupyter server leave the page: the
widgets need no network.

Every wait is a bounded wait on a condition (HTTP status, DOM predicate),
never a fixed sleep. The server, and with it every kernel, is shut down in
the fixture's finalizer, and any process it leaves behind is killed. A
screenshot goes to ``tests/artifacts/jupyterlab-02.png`` and a crop of the
ExecutionView to ``tests/artifacts/execution-view.png``; with
``PRAISON_PUSH_UPDATE_SCREENSHOTS=1`` the crop also replaces the README's
``docs/images/execution-view.png``.

Nothing here is skipped: without Chromium or JupyterLab the test fails and
says what to install.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import launch_chromium
from support import timeout

from .jupyter_server import ARTIFACTS, STARTUP, Lab

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

NOTEBOOK = "02_agent_streaming.ipynb"
WEATHER = "The weather in Paris is currently 18°C and partly cloudy."
REPO = Path(__file__).resolve().parents[2]
DOCS_IMAGE = REPO / "docs" / "images" / "execution-view.png"
#: Bound for all cells to run and the widgets to show their final state.
RUN = timeout(60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system Chromium (fails, saying how to install it, when missing)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        try:
            yield instance
        finally:
            instance.close()


# What the page shows, read from the DOM in one go (also the failure message).
STATE_JS = """
() => {
  const text = (el) => (el ? el.textContent.trim() : null);
  const all = (root, sel) => [...root.querySelectorAll(sel)];
  // The notebook on show (a restored workspace could hold others in hidden tabs).
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') || document;
  const views = (kind) => all(panel, `.pp-${kind}`).map((el) => ({
    status: text(el.querySelector(':scope > .pp-status')),
    body: text(el.querySelector('.pp-body')),
    footer: text(el.querySelector('.pp-footer')),
    calls: all(el, '.pp-tools tbody tr').map((tr) => ({
      name: text(tr.querySelector('.pp-name')),
      state: text(tr.querySelector('.pp-state')),
      cls: tr.className,
    })),
  }));
  const prompts = all(panel, '.jp-CodeCell .jp-InputArea-prompt').map(text);
  return {
    prompts,
    done: prompts.length > 0 && prompts.every((p) => /^\\[\\d+\\]:$/.test(p)),
    // The status bar's kernel item ("Python 3 | Idle"): it reads Idle only once the
    // kernel is started and connected (the toolbar's indicator says idle before that).
    kernel: all(document, '.jp-StatusBar-TextItem').map(text)
      .filter((t) => /^Python 3 \\| /.test(t))[0] || null,
    dialogs: all(document, '.jp-Dialog').map(text),
    execution: views('execution-view'),
    tokens: views('token-stream'),
    tools: all(panel, '.pp-tool-calls tbody tr').map((tr) => ({
      name: text(tr.querySelector('.pp-name')),
      state: text(tr.querySelector('.pp-state')),
    })),
    presence: all(panel, '.pp-presence-list').map((el) => ({
      title: text(el.querySelector('.pp-status')),
      clients: all(el, '.pp-client .pp-name').map(text),
      statuses: all(el, '.pp-client td:nth-child(2)').map(text),
    })),
    stderr: all(panel, '[data-mime-type="application/vnd.jupyter.stderr"]').map(text),
    widgetErrors: all(panel, '.jp-OutputArea-output').map(text)
      .filter((t) => /Error displaying widget|Loading widget/.test(t)),
  };
}
"""


def _wait_for(page: Any, predicate_js: str, seconds: float, what: str, console: list[str]) -> None:
    """Wait (bounded) until ``predicate_js`` holds in the page; fail with what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(predicate_js, timeout=seconds * 1000, polling=100)
    except PlaywrightTimeout:
        state = json.dumps(page.evaluate(STATE_JS), indent=1, ensure_ascii=False)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-02.png"))
        raise AssertionError(
            f"not within {seconds:.0f}s: {what}\npage state: {state}\n"
            f"console errors: {console}\nscreenshot: tests/artifacts/jupyterlab-02.png"
        ) from None


def _predicate(body: str) -> str:
    """A page predicate over the state of :data:`STATE_JS` (``s``)."""
    return f"() => {{ const s = ({STATE_JS})(); return Boolean({body}); }}"


@pytest.mark.timeout(int(timeout(150)))
def test_agent_streaming_notebook_runs_live_in_jupyterlab(lab: Lab, browser: Any) -> None:
    # Twice the pixels per CSS pixel: a crisp picture for the README.
    context = browser.new_context(viewport={"width": 1120, "height": 1000}, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(RUN * 1000)  # clicks and locators: bounded too
    console: list[str] = []
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    # The Jupyter server and nothing else: no CDN, no news feed.
    local = (lab.url, "blob:", "data:")
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    try:
        # A workspace of its own: the shared server may have others with other notebooks open.
        page.goto(
            f"{lab.url}/lab/workspaces/agent-streaming/tree/{NOTEBOOK}?reset",
            timeout=STARTUP * 1000,
        )
        _wait_for(
            page,
            _predicate("s.prompts.length > 0 && s.kernel === 'Python 3 | Idle'"),
            STARTUP,
            "the notebook open with its kernel idle",
            console,
        )

        # Run → Run All Cells, as a person would.
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

        _wait_for(
            page,
            _predicate("s.done && s.kernel === 'Python 3 | Idle'"),
            RUN,
            "every cell run (an execution count on each) and the kernel idle",
            console,
        )
        # (a) The demo-weather run streamed its whole answer, live and in the replay.
        weather = (
            "s.execution.filter((v) => (v.status || '').startsWith('demo-weather')"
            " && v.status.includes('completed')"
            f" && v.body === {json.dumps(WEATHER)})"
        )
        _wait_for(
            page,
            _predicate(f"{weather}.length === 2"),
            RUN,
            "the demo-weather ExecutionViews (live and replayed) show the full answer",
            console,
        )
        _wait_for(
            page,
            _predicate(
                "s.tokens.some((v) => (v.status || '').startsWith('demo-weather')"
                f" && v.body === {json.dumps(WEATHER)})"
            ),
            RUN,
            "the TokenStream of the demo-weather run shows the full answer",
            console,
        )
        # (b) Its tool-call table: get_weather, completed.
        _wait_for(
            page,
            _predicate(
                f"{weather}.length === 2"
                f" && {weather}.every((v) => v.calls.length === 1"
                " && v.calls[0].name === 'get_weather'"
                " && v.calls[0].state.includes('completed')"
                " && v.calls[0].cls.includes('pp-completed'))"
                " && s.tools.some((c) => c.name === 'get_weather'"
                " && c.state.includes('completed'))"
            ),
            RUN,
            "get_weather completed in the tool-call tables",
            console,
        )
        # (c) The presence list: the notebook's client and the watcher.
        _wait_for(
            page,
            _predicate(
                "s.presence.some((p) => p.clients.length === 2"
                " && p.clients.some((c) => c.startsWith('notebook'))"
                " && p.clients.includes('watcher')"
                " && p.statuses.some((t) => t.includes('watching')))"
            ),
            RUN,
            "the presence list shows notebook and watcher",
            console,
        )
        state = page.evaluate(STATE_JS)
        assert state["stderr"] == [], state["stderr"]
        assert state["widgetErrors"] == [], state["widgetErrors"]
        widget_console = [m for m in console if re.search(r"praison|anywidget|widget", m, re.I)]
        assert widget_console == [], widget_console

        _screenshots(page)
    finally:
        # The whole notebook at a glance, for whoever reads a failure (best effort).
        with contextlib.suppress(Exception):
            page.set_viewport_size({"width": 1120, "height": 3200})
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-02.png"))
        context.close()


def _screenshots(page: Any) -> None:
    """The README's picture: the cell that starts the demo-weather run and its live view.

    The file browser is folded away first, so the notebook (and the widget) gets the width.
    """
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
    page.wait_for_selector("#jp-left-stack", state="hidden", timeout=RUN * 1000)
    cell = page.locator(".jp-CodeCell").filter(has_text='client.execute("demo-weather"').first
    cell.scroll_into_view_if_needed()
    crop = ARTIFACTS / "execution-view.png"
    cell.screenshot(path=str(crop), animations="disabled")
    if os.environ.get("PRAISON_PUSH_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(crop, DOCS_IMAGE)


# --- 05_real_models: a real praisonaiagents Agent and an approval clicked in the page -----

MODELS_JS = """
() => {
  const text = (el) => (el ? el.textContent.trim() : null);
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') || document;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(text);
  return {
    done: prompts.length > 0 && prompts.every((p) => /^\\[\\d+\\]:$/.test(p)),
    kernel: [...document.querySelectorAll('.jp-StatusBar-TextItem')].map(text)
      .filter((t) => /^Python 3 \\| /.test(t))[0] || null,
    views: [...panel.querySelectorAll('.pp-execution-view')].map((el) => ({
      status: text(el.querySelector(':scope > .pp-status')),
      body: text(el.querySelector('.pp-body')),
      reasoning: text(el.querySelector('.pp-reasoning-text')),
      folded: (el.querySelector('details.pp-reasoning') || { open: null }).open === false,
      calls: [...el.querySelectorAll('.pp-tools tbody tr')].map((tr) => ({
        name: text(tr.querySelector('.pp-name')),
        args: text(tr.querySelector('.pp-args')),
        state: text(tr.querySelector('.pp-state')),
        approval: tr.dataset.approval || '',
        buttons: tr.querySelectorAll('button').length,
      })),
    })),
    stderr: [...panel.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')]
      .map(text),
  };
}
"""


def _models(body: str) -> str:
    return f"() => {{ const s = ({MODELS_JS})(); return Boolean({body}); }}"


def _view(agent: str, call: str, *conditions: str) -> str:
    """A predicate over the ExecutionViews of ``agent`` with a ``call`` row (``v``, ``c``)."""
    checks = " && ".join(conditions) or "true"
    return (
        f"s.views.some((v) => (v.status || '').startsWith({json.dumps(agent)})"
        f" && v.calls.some((c) => c.name === {json.dumps(call)} && {checks}))"
    )


@pytest.mark.timeout(int(timeout(150)))
def test_real_models_notebook_approve_in_the_widget_resumes_the_run(lab: Lab, browser: Any) -> None:
    """Issue 9: notebook 05 in JupyterLab on the local fake model. A real
    praisonaiagents Agent's ExecutionView shows its tool row completed; the
    ChatAgent run that waits for approval resumes when Approve is clicked.

    The cells run up to the one that would answer from code (Run All Above
    Selected Cell): the answer must come from the click.
    """
    context = browser.new_context(viewport={"width": 1120, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RUN * 1000)
    console: list[str] = []
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    local = (lab.url, "blob:", "data:")
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    try:
        # A workspace of its own: another test's would restore its notebook too.
        page.goto(
            f"{lab.url}/lab/workspaces/models/tree/05_real_models.ipynb", timeout=STARTUP * 1000
        )
        _wait_for(page, _models("s.kernel === 'Python 3 | Idle'"), STARTUP, "kernel idle", console)
        by_code = page.locator(".jp-CodeCell").filter(has_text="for event in report")
        by_code.locator(".jp-InputPrompt").click()  # select it (command mode)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(
            ".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Above Selected Cell$")
        ).click()
        done = "c.state.includes('completed')"
        _wait_for(
            page,
            _models(
                _view("praisonai-weather", "get_weather", done, "c.args.includes('Paris')")
                + " && s.views.some((v) => (v.status || '').startsWith('praisonai-weather')"
                " && v.status.includes('completed') && v.body.includes('18°C'))"
            ),
            RUN,
            "the praisonaiagents Agent's ExecutionView: get_weather completed, the answer",
            console,
        )
        _wait_for(
            page,
            _models(
                _view("assistant", "get_weather", done)
                + " && s.views.some((v) => v.reasoning && v.reasoning.includes('weather')"
                " && v.folded === true)"
            ),
            RUN,
            "the ChatAgent run: get_weather completed, its reasoning folded",
            console,
        )
        waiting = _view("assistant", "send_report", "c.buttons === 2")
        _wait_for(
            page,
            _models(f"{waiting} && s.kernel === 'Python 3 | Idle'"),
            RUN,
            "Approve/Deny on send_report, every cell above run",
            console,
        )

        page.locator(".pp-execution-view button.pp-approve").first.click()

        _wait_for(
            page,
            _models(
                _view("assistant", "send_report", done, "c.approval.includes('approved')")
                + " && s.views.some((v) => v.calls.some((c) => c.name === 'send_report')"
                " && v.status.includes('completed') && v.body.includes('sent to ada@example.com'))"
            ),
            RUN,
            "the approved run resumed: send_report completed and the answer shown",
            console,
        )
        state = page.evaluate(MODELS_JS)
        assert state["stderr"] == [], state["stderr"]
        assert by_code.locator(".jp-InputPrompt").inner_text().strip() == "[ ]:"  # not run
        widget_console = [m for m in console if re.search(r"praison|anywidget|widget", m, re.I)]
        assert widget_console == [], widget_console
    finally:
        with contextlib.suppress(Exception):
            page.set_viewport_size({"width": 1120, "height": 3200})
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-05.png"))
        context.close()
