"""``widgets.js`` in headless Chromium: deltas, gaps, late and second views, controls, XSS.

The static files and ``js/harness.html`` are served from 127.0.0.1 (port 0);
the harness imports the module from a blob: URL as anywidget does, and drives
it through a fake model with anywidget's model API. Each scenario runs in the
page (``page.evaluate``) and returns what the DOM and the model show.

Chromium is the system one (``/usr/bin/chromium``, installed by ``.ci/run``);
no browser is ever downloaded. Without it these tests fail, loudly: they are
the only check of the front end.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from browser_support import launch_chromium

from praison_push.notebook.widgets import StreamWidget
from praison_push.notebook.widgets._base import STATIC

from .helpers import WAIT

pytestmark = pytest.mark.browser

HARNESS = Path(__file__).resolve().parent / "js"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """``/static/*`` from the package, everything else from the harness directory."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
    }

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/static/"):
            return str(STATIC / clean.removeprefix("/static/"))
        return str(HARNESS / clean.lstrip("/"))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.set_default_timeout(WAIT * 1000)
    # Nothing but the local server: the widgets must need no network.
    tab.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(server) else route.abort(),
    )
    tab.goto(f"{server}/harness.html")
    tab.wait_for_function("window.harness !== undefined")
    tab.evaluate("async () => { await window.harness; }")
    yield tab
    context.close()
    assert errors == [], errors


def scenario(page: Any, name: str, *args: Any) -> Any:
    """Run scenario ``name`` of ``js/scenarios.js`` in the page; return its result."""
    return page.evaluate("([name, args]) => window.runScenario(name, ...args)", [name, list(args)])


def test_the_static_files_are_what_the_widgets_load() -> None:
    assert str(StreamWidget._esm) == (STATIC / "widgets.js").read_text()
    assert str(StreamWidget._css) == (STATIC / "widgets.css").read_text()


def test_deltas_in_order_show_the_text_cursor_and_status(page: Any) -> None:
    result = scenario(page, "deltasInOrder")
    assert result["text"] == "Hello world"
    assert result["running"] == {"hidden": False, "blink": "pp-blink"}
    assert result["doneHidden"] is True
    assert result["status"] == "demo · completed · 2 tokens · 41 tok/s · 50 ms"
    assert result["sent"] == []


def test_a_gap_asks_for_a_resync_and_the_snapshot_repairs_the_view(page: Any) -> None:
    result = scenario(page, "gapThenSnapshot")
    assert result["during"] == "a"  # frozen at the gap
    assert result["asked"] == [{"kind": "resync", "seq": 1}]  # once, however many gaps follow
    assert result["healed"] == "abcd"
    assert result["after"] == "abcde"  # older deltas and an older snapshot were ignored


def test_a_late_view_and_a_second_view_show_everything(page: Any) -> None:
    result = scenario(page, "lateAndSecondViews")
    expected = " ".join(str(n) for n in range(1, 51)) + " end"
    assert result["both"] == [expected, expected]
    assert result["afterClose"] == [expected + "!", expected]
    assert result["listeners"] == 0


def test_a_model_built_from_a_later_snapshot_needs_no_resync(page: Any) -> None:
    # A reloaded page gets the snapshot trait as state, then the deltas after it.
    assert scenario(page, "builtFromLaterSnapshot") == {"text": "so far, more", "sent": []}


def test_markdown_renders_a_safe_subset(page: Any) -> None:
    result = scenario(page, "markdown")
    assert result["streaming"] == {"pre": "if a<b:\n  go()\n"}  # an unclosed fence, mid-stream
    assert result["strong"] == "bold"
    assert result["code"] == "x < y"
    assert result["paragraphs"] == 2
    assert result["lastP"] == "After `tick"  # an unclosed backtick stays literal
    assert result["plain"].startswith("Use **bold**")
    assert result["unit"] == [
        "<p>a<br>b</p>",
        "<p><strong>x</strong></p>",
        "<p><code>a</code>b`</p>",
        "<p>** not bold**</p>",
        "",
    ]


XSS = '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'


def test_network_text_never_becomes_markup(page: Any) -> None:
    result = scenario(page, "networkTextIsNeverMarkup", XSS)
    assert result["images"] == 0 and result["scripts"] == 0
    assert result["xss"] is None
    assert result["shown"] == [True, True, True, True]
    assert result["escaped"] == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"


def test_tool_calls_table_truncates_results_and_marks_status(page: Any) -> None:
    result = scenario(page, "toolCalls")
    assert result["empty"] == {"hidden": False, "rows": 0}
    assert result["calling"] == "pp-call pp-calling"
    first, second = result["cells"]
    assert first[:3] == ["get_weather", '{"city":"Paris"}', "✓ completed"]
    assert first[3] == "r" * 79 + "…" and first[4] == "12 ms"
    assert second == ["bad", "", "✗ failed", "boom", "3 ms"]
    assert result["title"] == "r" * 200  # the full text, on hover
    assert result["failedWeight"] == "600"


def test_execution_view_shows_text_tools_usage_and_latency(page: Any) -> None:
    result = scenario(page, "executionView")
    assert result["before"] == {"tools": True, "footer": True}
    assert result["status"] == "demo-weather · failed · 1 token · 90 ms"
    assert result["title"] == "exec_1"
    assert result["tools"] == 1 and result["text"] == "Sunny."
    assert result["footer"] == (
        "usage: 4 prompt + 1 completion = 5 tokens · latency 90 ms · error: AGENT_FAILED: boom"
    )
    assert result["footerError"] is True
    assert result["statusError"] is True  # a failed run's status line is red like its footer


def test_channel_log_pause_resume_and_clear(page: Any) -> None:
    result = scenario(page, "channelLogPauseResumeClear")
    assert result["initial"] == ["m2", "m1"]  # newest first
    assert result["paused"] == {"flag": True, "saved": 1, "label": "Resume"}
    assert result["whilePaused"] == {
        "rows": ["m2", "m1"],
        "other": ["m2", "m1"],
        "badge": "2 new",
        "buttonMoved": 0,  # the badge appearing does not push the buttons
        "header": ["Time", "Channel", "From", "Message"],
    }
    assert result["resumed"] == ["m4", "m3", "m2"]  # bounded to limit 3
    assert result["cleared"] == {
        "rows": [],
        "other": [],
        "sent": [{"kind": "clear", "through": 4}],
    }
    assert result["after"] == ["m5"]
    assert result["title"] == "#alerts · 1 message"


def test_channel_log_rendered_while_paused_and_cleared_while_paused(page: Any) -> None:
    result = scenario(page, "channelLogPausedFromTheStart")
    assert result == {"frozen": ["m1"], "badge": "1 new", "after": ["m3"]}


def test_presence_list_shows_clients_status_and_relative_time(page: Any) -> None:
    result = scenario(page, "presenceList")
    # A connected client is "active"; one the gateway calls offline shows when it was seen.
    assert result["before"] == [
        ["me (you)", "online", '{"role":"a"}', "active"],
        ["bob", "away", "", "active"],
    ]
    assert result["after"] == [
        ["me (you)", "online", '{"role":"a"}', "active"],
        ["eve", "offline", "", "2 h ago"],
    ]
    assert result["title"] == "#alerts · 2 clients"
    assert result["userTitle"] == "usr_1"


def test_an_unknown_kind_says_so_and_a_store_is_made_even_without_initialize(page: Any) -> None:
    result = scenario(page, "unknownKindAndNoInitialize")
    assert result == {"unknown": "praison_push: unknown widget kind nope", "state": "✓ completed"}


def test_the_text_follows_its_tail_until_the_reader_scrolls_up(page: Any) -> None:
    result = scenario(page, "followsTheTail")
    following = result["following"]
    assert following["overflows"] and following["atEnd"] and following["endInSight"]
    assert following["latest"] is False
    scrolled = result["scrolledUp"]
    assert scrolled["top"] == 0 and not scrolled["atEnd"] and scrolled["latest"] is True
    assert result["back"]["atEnd"] and result["back"]["latest"] is False
    assert result["again"]["atEnd"] and result["again"]["endInSight"]  # follows again
    # A redrawn view of the same run keeps the reader where they were.
    assert result["redrawn"]["top"] == 0 and result["redrawn"]["latest"] is True


def test_a_widget_whose_client_is_gone_says_so(page: Any) -> None:
    result = scenario(page, "connectionBanner")
    assert result["live"] == {"hidden": True, "seen": "active", "stale": False}
    gone = result["gone"]
    assert gone["hidden"] is False and gone["stale"] is True
    assert gone["text"] == "⚠ disconnected, reconnecting (the gateway went away)"
    assert gone["seen"] == "5 min ago"  # no longer claimed active
    assert float(gone["opacity"]) < 1
    assert result["back"] == {"hidden": True, "stale": False}


@pytest.mark.parametrize("width", [1400, 500, 300])
def test_layout_keeps_words_whole_and_nothing_clipped(page: Any, width: int) -> None:
    result = scenario(page, "layoutAt", width)
    assert result["breakAll"] == 0
    assert result["broken"] == [], result
    assert result["clipped"] == [], result
    assert result["stateLines"] == [1, 1, 1]  # "✓ completed" on one line
    assert result["stacked"] is (width <= 520)
    assert result["spinner"] == {"text": "", "animation": "pp-spin"}  # CSS, not an emoji
    assert result["status"] == "demo-weather · running · 1,497 tokens · 1,498 tok/s"
    assert all(w <= width for w in result["widths"])


def test_views_of_a_model_that_is_gone_say_they_are_not_live(page: Any) -> None:
    result = scenario(page, "modelGone")
    assert result["before"] is True
    assert result["banner"] == "⚠ not live (its kernel stopped, or the widget was closed)"
    assert result["stale"] is True and result["seen"] != "active"


def test_views_say_not_live_when_the_kernel_restarts(page: Any) -> None:
    result = scenario(page, "kernelRestarted")
    gone = result["gone"]
    assert gone["banner"] == "⚠ not live (its kernel stopped, or the widget was closed)"
    assert gone["seen"] != "active" and gone["cursor"] is True
    assert "not live (its kernel stopped)" in gone["status"]
    assert result["back"] is True


def test_arguments_stream_reasoning_folds_and_approve_answers_once(page: Any) -> None:
    result = scenario(page, "approvals")
    assert result["streaming"] == ["get_weather", '{"city": "Pa', "✎ streaming", "", ""]
    assert result["waiting"] == ["delete_file", '{"path":"/x"}', "⏸ waiting"]
    assert result["buttons"] == ["Approve", "Deny"]  # in the Result cell, empty until it runs
    assert result["note"] == "answer within 30 s"
    assert result["sent"] == [{"kind": "approve", "tool_call_id": "c2", "approved": True}]
    assert result["disabledAfterClick"] == [True, True]  # one answer per click, no double send
    assert result["answered"] == "approved"
    assert result["reasoning"] == {
        "open": False,  # folded until the reader opens it
        "summary": "Reasoning (12 characters)",
        "text": "Let me see.<",
    }
    assert result["reasoningHiddenWhenEmpty"] is True
