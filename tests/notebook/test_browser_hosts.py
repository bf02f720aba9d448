"""The widgets as a person sees them, in JupyterLab 4 and in Notebook 7 (headless Chromium).

One Jupyter server serves both hosts (:mod:`.jupyter_server`); each host opens
its own copy of a small notebook and runs its cells one by one with
Shift+Enter, as a person would, checking the page between them:

* a 1,200-token stream keeps its newest token in sight while it runs and at
  the end; scrolling up stops the following and shows "↓ latest";
* ``set_status`` of the widget's own client shows in its ``PresenceList``
  within a second;
* after ``gw.stop()`` the client-fed widgets say they are disconnected;
* at 500 px nothing is clipped and no word is broken mid-token.

Screenshots of each state go to ``tests/artifacts/<host>-<state>.png``. Every
wait is bounded and waits on a condition in the page.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import launch_chromium
from support import timeout

from .jupyter_env import nbformat
from .jupyter_server import ARTIFACTS, STARTUP, Lab

pytestmark = [pytest.mark.browser, pytest.mark.kernel]


#: Bound for a cell to run, a stream to end, the page to change.
WAIT = timeout(60)
#: "Within a second" (scaled on slow CI machines like every bound here).
ONE_SECOND = timeout(1.0)

CELLS = [
    # 0
    "from praison_push import start_gateway\n"
    "from praison_push.notebook import ChannelLog, PresenceList, TokenStream\n"
    "gw = start_gateway()\n"
    "me = gw.client(client_id='me')\n"
    "other = gw.client(client_id='other')\n"
    "other.subscribe('lobby')",
    # 1: a 1,200-token stream
    "long = me.execute('demo-long', '1200@150')\nTokenStream(long)",
    # 2
    "PresenceList(me, 'lobby')",
    # 3
    "ChannelLog(me, 'news')",
    # 4
    "other.publish('news', {'headline': 'top_k results for Paris', 'score': 0.97})",
    # 5
    "me.set_status('away', {'why': 'lunch'})",
    # 6: a stream to scroll up in
    "second = me.execute('demo-long', '1200@150')\nTokenStream(second)",
    # 7
    "gw.stop()",
]

HOSTS = {
    # A workspace of its own: the shared server may have others with other notebooks open.
    "jupyterlab": "/lab/workspaces/hosts/tree/{name}?reset",
    "notebook7": "/notebooks/{name}",
}

# Helpers evaluated in the page: the widgets of the notebook on show.
HELPERS = """
window.pp = {
  panel() {
    return document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)') || document;
  },
  widgets(kind) { return [...pp.panel().querySelectorAll(`.pp-${kind}`)]; },
  prompts() {
    return [...pp.panel().querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
      .map((e) => e.textContent.trim());
  },
  tail(el) {
    const scroller = el.querySelector('.pp-scroll');
    const body = el.querySelector('.pp-body');
    const node = body.lastChild;
    const text = node ? node.data || node.textContent : '';
    const range = document.createRange();
    if (node && node.nodeType === Node.TEXT_NODE && text.length) {
      range.setStart(node, Math.max(0, text.trimEnd().length - 5));
      range.setEnd(node, text.trimEnd().length);
    } else {
      range.selectNodeContents(body);
    }
    const rects = [...range.getClientRects()];
    const last = rects[rects.length - 1];
    const box = scroller.getBoundingClientRect();
    const status = el.querySelector('.pp-status').textContent;
    return {
      status,
      lastWord: text.trimEnd().split(/\\s+/).pop(),
      overflows: scroller.scrollHeight > scroller.clientHeight,
      atEnd: scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= 8,
      top: scroller.scrollTop,
      inSight: Boolean(last) && last.bottom <= box.bottom + 1 && last.top >= box.top - 1,
      latest: !el.querySelector('.pp-latest').hidden,
    };
  },
  brokenWords(root, longest = 16) {
    const broken = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement && node.parentElement.closest('.pp-scroll')) continue;
      for (const match of node.data.matchAll(/\\S+/g)) {
        if (match[0].length > longest) continue;
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
    return broken;
  },
  clipped(root) {
    return [...root.querySelectorAll('td, th, .pp-status, .pp-conn, .pp-toolbar')]
      .filter((node) => node.offsetParent !== null)
      .filter((node) => node.scrollWidth > node.clientWidth + 1)
      .map((node) => node.textContent.trim().slice(0, 60));
  },
  layout() {
    const roots = [...pp.panel().querySelectorAll('.pp-widget')];
    return {
      widgets: roots.length,
      broken: roots.flatMap((r) => pp.brokenWords(r)),
      clipped: roots.flatMap((r) => pp.clipped(r)),
      breakAll: [...pp.panel().querySelectorAll('.pp-widget *')]
        .filter((n) => getComputedStyle(n).wordBreak === 'break-all').length,
      wider: roots.filter((r) => r.scrollWidth > r.clientWidth + 1).length,
    };
  },
};
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        try:
            yield instance
        finally:
            instance.close()


class Host:
    """One notebook page in one host, driven like a person drives it."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name

    def shot(self, state: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{state}.png"))

    def wait(self, predicate: str, what: str, seconds: float = WAIT, arg: Any = None) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(predicate, arg=arg, timeout=seconds * 1000, polling=50)
        except PlaywrightTimeout:
            self.shot("failure")
            state = self.page.evaluate(
                "() => ({prompts: pp.prompts(), text: pp.panel().innerText.slice(-3000)})"
            )
            raise AssertionError(
                f"{self.name}: not within {seconds:.1f}s: {what}\n"
                f"{json.dumps(state, indent=1, ensure_ascii=False)}\n"
                f"screenshot: tests/artifacts/{self.name}-failure.png"
            ) from None

    def run_cell(self, index: int) -> None:
        """Click into cell ``index`` and press Shift+Enter; wait for its execution count.

        Right after a notebook opens, JupyterLab sometimes drops the very first
        run request while its session settles (the prompt stays ``[ ]``, never
        ``[*]``); the request is then made again. A request that was taken shows
        ``[*]`` at once, so nothing runs twice.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        cell = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(index)
        taken = f"() => (pp.prompts()[{index}] || '[ ]:') !== '[ ]:'"
        for _ in range(3):
            cell.scroll_into_view_if_needed()
            cell.locator(".jp-InputArea-editor").click()
            self.page.keyboard.press("Shift+Enter")
            try:
                self.page.wait_for_function(taken, timeout=timeout(5) * 1000, polling=50)
                break
            except PlaywrightTimeout:
                continue
        self.wait(
            f"() => /^\\[\\d+\\]:$/.test(pp.prompts()[{index}] || '')",
            f"cell {index} ran",
        )

    def tail(self, index: int) -> dict[str, Any]:
        state: dict[str, Any] = self.page.evaluate(
            f"() => pp.tail(pp.widgets('token-stream')[{index}])"
        )
        return state


def _notebook(lab: Lab, name: str) -> None:
    notebook = nbformat().v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [nbformat().v4.new_code_cell(source) for source in CELLS]
    nbformat().write(notebook, lab.root / name)


@pytest.mark.timeout(int(timeout(240)))
@pytest.mark.parametrize("host", sorted(HOSTS))
def test_widgets_follow_tell_the_truth_and_fit(lab: Lab, browser: Any, host: str) -> None:
    name = f"browser-{host}.ipynb"
    _notebook(lab, name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT * 1000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    local = (lab.url, "blob:", "data:")
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    page.add_init_script(HELPERS)
    drive = Host(page, host)
    try:
        page.goto(lab.url + HOSTS[host].format(name=name), timeout=STARTUP * 1000)
        drive.wait(f"() => pp.prompts().length === {len(CELLS)}", "the notebook open", STARTUP)
        # Both hosts show the kernel's state here; a cell run before it is idle may be lost.
        drive.wait(
            "() => Boolean(document.querySelector("
            "'.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]'))",
            "the kernel started and connected",
            STARTUP,
        )
        drive.run_cell(0)

        # --- a 1,200-token stream follows its tail, then ends with its last token in sight.
        drive.run_cell(1)
        for cell in (2, 3, 4):
            drive.run_cell(cell)
        drive.wait(
            "() => { const w = pp.widgets('token-stream')[0];"
            " return w && /running · [0-9,]{3,} tokens/.test(pp.tail(w).status)"
            " && pp.tail(w).overflows; }",
            "the stream filled its box",
        )
        samples = []
        for _ in range(3):
            seen = drive.tail(0)["lastWord"]
            drive.wait(
                "(seen) => pp.tail(pp.widgets('token-stream')[0]).lastWord !== seen",
                "more tokens",
                arg=seen,
            )
            samples.append(drive.tail(0))
        running = [s for s in samples if "running" in s["status"]]
        assert running, samples
        for sample in running:
            assert sample["atEnd"] and sample["inSight"] and not sample["latest"], sample
        drive.page.locator(".pp-token-stream").first.scroll_into_view_if_needed()
        drive.shot("stream-following")
        drive.wait(
            "() => pp.tail(pp.widgets('token-stream')[0]).status.includes('completed')",
            "the stream completed",
        )
        drive.wait(
            "() => { const t = pp.tail(pp.widgets('token-stream')[0]);"
            " return t.lastWord === 't1199' && t.inSight && t.atEnd; }",
            "the last token in sight at the end",
        )
        drive.shot("stream-done")

        # --- the widget's own client changes status: shown within a second.
        drive.wait(
            "() => (pp.widgets('presence-list')[0] || {textContent: ''})"
            ".textContent.includes('other')",
            "the presence list shows both clients",
        )
        drive.run_cell(5)
        started = time.monotonic()
        drive.wait(
            "() => { const w = pp.widgets('presence-list')[0];"
            " const row = [...w.querySelectorAll('.pp-client')]"
            "   .find((tr) => tr.textContent.startsWith('me'));"
            " return row && row.textContent.includes('away')"
            "   && row.textContent.includes('lunch'); }",
            "me away (lunch) in the presence list",
            ONE_SECOND,
        )
        assert time.monotonic() - started <= ONE_SECOND
        drive.page.locator(".pp-presence-list").first.scroll_into_view_if_needed()
        drive.shot("presence-away")

        # --- scrolling up stops the follow and offers the way back.
        drive.run_cell(6)
        drive.wait(
            "() => { const w = pp.widgets('token-stream')[1];"
            " return w && pp.tail(w).overflows && pp.tail(w).status.includes('running'); }",
            "the second stream filled its box",
        )
        page.evaluate(
            "() => { const s = pp.widgets('token-stream')[1].querySelector('.pp-scroll');"
            " s.scrollTop = 0; s.dispatchEvent(new Event('scroll')); }"
        )
        seen = drive.tail(1)["lastWord"]
        drive.wait(
            "(seen) => pp.tail(pp.widgets('token-stream')[1]).lastWord !== seen",
            "more tokens after scrolling up",
            arg=seen,
        )
        up = drive.tail(1)
        assert up["top"] == 0 and not up["atEnd"] and up["latest"], up
        drive.page.locator(".pp-token-stream").nth(1).scroll_into_view_if_needed()
        drive.shot("stream-scrolled-up")
        page.locator(".pp-token-stream").nth(1).locator(".pp-latest").click()
        drive.wait(
            "() => { const t = pp.tail(pp.widgets('token-stream')[1]);"
            " return t.atEnd && !t.latest; }",
            "following again after ↓ latest",
        )

        # --- after gw.stop() the client-fed widgets say so.
        drive.run_cell(7)
        drive.wait(
            "() => ['presence-list', 'channel-log'].every((kind) => {"
            " const banner = pp.widgets(kind)[0].querySelector('.pp-conn');"
            " return !banner.hidden && banner.textContent.includes('disconnected'); })",
            "the presence list and the log say they are disconnected",
        )
        drive.page.locator(".pp-channel-log").first.scroll_into_view_if_needed()
        drive.shot("after-stop")

        # --- at 500 px: nothing clipped, no word broken mid-token.
        page.set_viewport_size({"width": 500, "height": 1000})
        drive.wait("() => pp.layout().widgets >= 4", "the widgets at 500 px")
        layout = page.evaluate("() => pp.layout()")
        drive.page.locator(".pp-channel-log").first.scroll_into_view_if_needed()
        drive.shot("narrow-500-log")
        assert layout["breakAll"] == 0, layout
        assert layout["broken"] == [], layout
        assert layout["clipped"] == [], layout
        assert layout["wider"] == 0, layout
        drive.page.locator(".pp-presence-list").first.scroll_into_view_if_needed()
        drive.shot("narrow-500")

        # --- a kernel restart: the views on the page say they no longer follow anything.
        page.set_viewport_size({"width": 1200, "height": 1000})
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Restart Kernel")).first.click()
        page.locator(".jp-Dialog-button.jp-mod-accept").click()
        drive.wait(
            "() => ['presence-list', 'channel-log'].every((kind) =>"
            " pp.widgets(kind)[0].querySelector('.pp-conn').textContent.includes('not live'))",
            "the widgets say they are not live after a kernel restart",
        )
        drive.page.locator(".pp-presence-list").first.scroll_into_view_if_needed()
        drive.shot("after-restart")
        assert [e for e in errors if "praison" in e or "anywidget" in e] == [], errors
    finally:
        context.close()
