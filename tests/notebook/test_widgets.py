"""Widgets, kernel side: what they send, how often, and what it rebuilds.

Widgets are driven by fake runs and clients (exact control over timing and
order) and by a real gateway with both client faces. What a widget sends is
captured at ``widget.send`` and at its ``snapshot`` trait, and replayed into
:class:`~.helpers.FrontEnd`, which applies it as ``widgets.js`` does.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest

from praison_push.client import AsyncPushClient, ChannelMessage, PresenceInfo
from praison_push.notebook.widgets import (
    ChannelLog,
    ExecutionView,
    Flusher,
    PresenceList,
    StreamWidget,
    TokenStream,
    ToolCalls,
)
from praison_push.notebook.widgets._parts import MetaPart, RowsPart, TextPart
from praison_push.notebook.widgets._sources import compact, read_event, watch_execution
from praison_push.sync import PushClient

from .helpers import (
    WAIT,
    AsyncFakeClient,
    FakeClient,
    FakeExecution,
    FrontEnd,
    Recorder,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("deterministic_widgets")


# --- construction without a kernel -------------------------------------------------------


def test_every_widget_is_built_and_read_without_a_kernel(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    run.start()
    run.tokens(["Hello", " world"])
    client = FakeClient()
    made = [
        TokenStream(run),
        ToolCalls(run),
        ExecutionView(run),
        PresenceList(client, "alerts"),
        ChannelLog(client, "alerts"),
    ]
    widgets.extend(made)
    for widget in made:
        # No kernel: anywidget opened a no-op comm, and sending is harmless.
        assert type(widget.comm).__name__ == "DummyComm"
        widget.flush()
        widget.checkpoint()
        assert widget.snapshot["seq"] == widget.seq
        assert widget._esm.endswith("export default { initialize, render };\n")
        mimebundle = widget._repr_mimebundle_()
        assert mimebundle is not None
        assert mimebundle[0]["text/plain"] == repr(widget)
    assert repr(made[0]) == "[demo-test · running · 2 tokens]\nHello world"
    assert {w._kind for w in made} == {
        "token_stream",
        "tool_calls",
        "execution_view",
        "presence_list",
        "channel_log",
    }


def test_each_widget_has_its_own_store_key(widgets: list[StreamWidget]) -> None:
    first, second = TokenStream(), TokenStream()
    widgets += [first, second]
    assert first._uid and second._uid and first._uid != second._uid


# --- the delta protocol ------------------------------------------------------------------


def feed_at_rate(run: FakeExecution, count: int, rate: float) -> float:
    """Emit ``count`` tokens at ``rate`` per second (on this thread); the time it took."""
    started = time.monotonic()
    for index in range(count):
        run.emit("execution_token", token=f"t{index} ", index=index)
        if index % 10 == 9:
            pause = started + (index + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    return time.monotonic() - started


def test_2000_tokens_per_second_make_at_most_20_messages_per_second(
    flusher: Flusher, widgets: list[StreamWidget]
) -> None:
    run = FakeExecution()
    stream = TokenStream(run, flusher=flusher)
    widgets.append(stream)
    recorder = Recorder(stream)
    feeder = threading.Thread(target=feed_at_rate, args=(run, 2000, 2000.0))
    began = time.monotonic()
    feeder.start()
    feeder.join(WAIT)
    elapsed = time.monotonic() - began
    wait_until(lambda: stream._dirty is False and not stream._parts["text"]._pending)
    sent = recorder.sent
    # One second of stream: ~20 deltas (one per 50 ms), never one per token.
    assert len(sent) <= 20 * elapsed + 2, (len(sent), elapsed)
    assert len(sent) >= 10
    gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= flusher.interval * 0.8
    front = FrontEnd(stream.snapshot)
    for message in recorder.deltas:
        front.apply(message)
    assert front.text() == stream.text == "".join(f"t{i} " for i in range(2000))


def test_seq_rises_by_one_per_delta_and_the_deltas_rebuild_the_state(
    widgets: list[StreamWidget],
) -> None:
    run = FakeExecution()
    view = ExecutionView(run)
    widgets.append(view)
    recorder = Recorder(view)
    front = FrontEnd(view.snapshot)
    run.start()
    view.flush()
    for step in range(30):
        run.tokens([f"w{step} "], first_index=step)
        if step == 10:
            run.emit(
                "execution_tool", tool_call={"id": "c1", "name": "lookup", "status": "calling"}
            )
        view.flush()
    seqs = [message["seq"] for message in recorder.deltas]
    assert seqs == list(range(1, len(seqs) + 1))
    for message in recorder.deltas:
        front.apply(message)
    assert front.text() == view.text
    assert front.meta()["tokens"] == 30
    assert front.meta()["status"] == "running"
    assert [row["name"] for row in front.rows("calls")] == ["lookup"]
    assert not view.flush()  # nothing pending: nothing sent


def test_bytes_per_delta_stay_constant_as_the_text_grows(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    stream = TokenStream(run)
    widgets.append(stream)
    recorder = Recorder(stream)
    t0 = 1_700_000_000.0
    run.emit("execution_start", timestamp=t0, status="running")
    for index in range(40_000):  # 2,000 tokens/s for 20 s: 400 deltas, 240 kB of text
        run.emit("execution_token", timestamp=t0 + index / 2000, token="token ", index=index)
        if index % 100 == 99:
            stream.flush()
    sizes = [sent.size for sent in recorder.sent]
    early, late = sizes[5:15], sizes[-10:]
    assert len(stream.text) == 240_000
    # The text appended per delta is the same size at the start and after
    # 240 kB; only the digits of seq and of the token count grow.
    assert max(late) <= max(early) + 6, (early, late)
    assert min(late) >= min(early) - 30, (early, late)  # a rate left out when unchanged
    # And the snapshot (the full state) was not sent along the way.
    assert recorder.snapshots == []


def test_the_end_of_a_run_publishes_the_snapshot(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    stream = TokenStream(run)
    widgets.append(stream)
    recorder = Recorder(stream)
    run.start()
    run.tokens(["The ", "answer"])
    stream.flush()
    run.tokens([" is 42."], first_index=2)
    run.complete("The answer is 42.", latency_ms=500)
    assert len(recorder.snapshots) == 1
    snapshot = recorder.snapshots[0]
    # The last tokens went out with the snapshot, under a seq of their own.
    assert snapshot["seq"] == recorder.deltas[-1]["seq"] + 1
    late = FrontEnd(snapshot)
    assert late.text() == "The answer is 42."
    assert late.meta()["status"] == "completed"
    assert late.meta()["latency_ms"] == 500
    assert late.meta()["tokens_per_s"] == 6.0  # 3 tokens over 0.5 s
    # A page that followed the deltas ignores the snapshot's (older) parts and
    # gets the same state either way.
    follower = FrontEnd({"seq": 0, "parts": {}})
    for message in recorder.deltas:
        follower.apply(message)
    follower.apply_snapshot(snapshot)
    assert follower.text() == late.text()
    # Repeated terminal events or checkpoints send nothing more.
    run.emit("execution_error", status="failed", error={"code": "X", "message": "late"})
    stream.checkpoint()
    assert len(recorder.snapshots) == 1
    assert not stream.flush()


def test_missed_tokens_are_replaced_by_the_final_output(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    stream = TokenStream(run)
    widgets.append(stream)
    run.start()
    run.tokens(["Hel"])
    run.tokens(["world"], first_index=2)  # index 1 never arrived
    run.tokens(["Hel"])  # a replay of index 0: dropped
    assert stream.text == "Helworld"
    run.complete("Hello world")
    assert stream.text == "Hello world"
    assert stream.snapshot["parts"]["text"] == {"text": "Hello world"}


def test_a_gap_asks_for_a_resync_and_the_kernel_answers_with_the_snapshot(
    widgets: list[StreamWidget],
) -> None:
    run = FakeExecution()
    stream = TokenStream(run, markdown=True)
    widgets.append(stream)
    recorder = Recorder(stream)
    page = FrontEnd(stream.snapshot)
    run.start()
    for step in range(5):
        run.tokens([f"{step} "], first_index=step)
        stream.flush()
    lost = recorder.deltas[1:3]  # the page never got deltas 2 and 3
    for message in recorder.deltas:
        if message not in lost:
            page.apply(message)
    assert page.resync_requests == 1
    assert page.text() == "0 "  # frozen at the gap until the snapshot comes
    # The page's request, as the comm delivers it to the widget:
    stream._handle_msg(
        {
            "content": {"data": {"method": "custom", "content": {"kind": "resync", "seq": 1}}},
            "buffers": [],
        }
    )
    assert len(recorder.snapshots) == 1
    page.apply_snapshot(recorder.snapshots[0])
    assert page.text() == stream.text == "0 1 2 3 4 "
    # Deltas the snapshot covers are ignored; the next one follows on.
    page.apply(recorder.deltas[-1])
    run.tokens(["5 "], first_index=5)
    stream.flush()
    page.apply(recorder.deltas[-1])
    assert page.text() == stream.text
    assert page.resync_requests == 1
    # A second request with nothing new re-sends nothing (the page has it all).
    stream._handle_custom_msg({"kind": "resync", "seq": page.seq}, [])
    stream._handle_custom_msg("not a dict", [])
    assert len(recorder.snapshots) == 2  # the one folding in delta 7 … and no more


class SlowFirstFlush:
    """A widget whose first flush is held up before it sends (a busy machine, a
    contended lock), and which changes again as soon as it has sent."""

    def __init__(self, flusher: Flusher, hold: float, deltas: int) -> None:
        self.ready_at = 0.0
        self.sent_at: list[float] = []
        self._flusher, self._hold, self._deltas = flusher, hold, deltas

    def _flush_pending(self) -> bool:
        if not self.sent_at:
            time.sleep(self._hold)  # the hold-up itself, not a wait for anything
        self.sent_at.append(time.monotonic())
        if len(self.sent_at) < self._deltas:
            self._flusher.mark(self)
        return True

    def _checkpoint(self) -> None:
        pass


def test_a_held_up_flush_does_not_bring_the_next_delta_closer() -> None:
    """CI found two deltas of one widget 6 ms apart: rounds were paced from their
    start, so a send held up 44 ms left the next only 6 ms behind it."""
    quick = Flusher(interval=0.05, idle_after=60.0)
    try:
        widget = SlowFirstFlush(quick, hold=0.04, deltas=3)
        quick.mark(widget)
        wait_until(lambda: len(widget.sent_at) == 3, what="three deltas")
        gaps = [b - a for a, b in itertools.pairwise(widget.sent_at)]
        assert min(gaps) >= quick.interval, gaps
    finally:
        quick.close()


def test_a_quiet_widget_brings_its_snapshot_up_to_date(widgets: list[StreamWidget]) -> None:
    quick = Flusher(interval=0.01, idle_after=0.05)
    try:
        run = FakeExecution()
        stream = TokenStream(run, flusher=quick)
        widgets.append(stream)
        recorder = Recorder(stream)
        run.start()
        run.tokens(["a", "b", "c"])
        wait_until(lambda: len(recorder.snapshots) == 1, what="an idle snapshot")
        assert FrontEnd(recorder.snapshots[0]).text() == "abc"
        assert recorder.snapshots[0]["seq"] == stream.seq
    finally:
        quick.close()


def test_one_flusher_serves_many_widgets_at_20_messages_per_second_each(
    flusher: Flusher, widgets: list[StreamWidget]
) -> None:
    runs = [FakeExecution(execution_id=f"exec_{n}") for n in range(5)]
    streams = [TokenStream(run, flusher=flusher) for run in runs]
    widgets.extend(streams)
    recorders = [Recorder(stream) for stream in streams]
    threads_before = threading.active_count()
    began = time.monotonic()
    feeders = [threading.Thread(target=feed_at_rate, args=(run, 500, 1000.0)) for run in runs]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join(WAIT)
    elapsed = time.monotonic() - began
    for stream, recorder in zip(streams, recorders, strict=True):
        wait_until(lambda s=stream: not s._parts["text"]._pending)
        assert len(recorder.sent) <= 20 * elapsed + 2
        assert stream.text.count(" ") == 500
    # No timer thread per flush or per widget: the one flusher thread did it all.
    assert threading.active_count() <= threads_before


def test_every_widget_shares_one_flusher_by_default() -> None:
    from praison_push.notebook.widgets import get_flusher

    assert get_flusher() is get_flusher()
    assert get_flusher().interval == 0.05  # ≤ 20 front-end messages/s per widget


def test_closing_stops_sending_and_detaches(flusher: Flusher) -> None:
    run = FakeExecution()
    stream = TokenStream(run, flusher=flusher)
    recorder = Recorder(stream)
    stream.close()
    assert run.unsubscribed and not run.callbacks
    stream.handle({"event": "execution_token", "token": "late", "index": 0})
    assert not stream.flush()
    stream.checkpoint()
    assert recorder.sent == [] and recorder.snapshots == []
    stream._add_detacher(lambda: recorder.sent.append("ran"))  # type: ignore[arg-type]
    assert recorder.sent == ["ran"]  # a feed attached after close is stopped at once
    flusher.mark(stream)  # a closed flusher ignores marks
    flusher.close()
    flusher.mark(stream)


def test_a_failing_widget_does_not_stop_the_flusher(
    flusher: Flusher, widgets: list[StreamWidget], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(TokenStream):
        def _before_flush(self) -> None:
            raise RuntimeError("boom")

    broken, fine = Broken(flusher=flusher), TokenStream(flusher=flusher)
    widgets += [broken, fine]
    recorder = Recorder(fine)
    broken.handle({"event": "execution_token", "token": "x", "index": 0})
    fine.handle({"event": "execution_token", "token": "y", "index": 0})
    wait_until(lambda: len(recorder.sent) == 1)
    assert "flushing" in caplog.text
    assert "Flusher 50 ms running" in repr(flusher)


def test_a_failing_snapshot_does_not_stop_the_flusher(
    widgets: list[StreamWidget], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(TokenStream):
        def _checkpoint(self) -> None:
            raise RuntimeError("boom")

    quick = Flusher(interval=0.01, idle_after=0.01)
    try:
        broken, fine = Broken(flusher=quick), TokenStream(flusher=quick)
        widgets += [broken, fine]
        recorder = Recorder(fine)
        broken.handle({"event": "execution_token", "token": "z", "index": 0})
        wait_until(lambda: "publishing the snapshot" in caplog.text, what="a failed snapshot")
        fine.handle({"event": "execution_token", "token": "w", "index": 0})
        wait_until(lambda: len(recorder.snapshots) == 1, what="the next widget's snapshot")
    finally:
        quick.close()


# --- run widgets ------------------------------------------------------------------------


def test_token_stream_status_line_and_markdown_flag(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    stream = TokenStream(run, markdown=True)
    widgets.append(stream)
    assert stream.markdown is True
    assert stream.status == "running"  # known from the handle before any event
    assert repr(stream) == "[demo-test · running · 0 tokens]\n"
    t0 = 1_000_000.0
    run.emit("execution_start", timestamp=t0, status="running")
    for i in range(10):
        run.emit("execution_token", timestamp=t0 + 0.1 * (i + 1), token="x", index=i)
    assert repr(stream).startswith("[demo-test · running · 10 tokens · 10 tok/s]\nxxxxxxxxxx")
    run.emit(
        "execution_error",
        timestamp=t0 + 2,
        status="cancelled",
        error={"code": "CANCELLED", "message": "cancelled"},
    )
    assert stream.status == "cancelled"
    assert "CANCELLED: cancelled" in repr(stream)


def test_tool_calls_show_arguments_status_results_and_durations(
    widgets: list[StreamWidget],
) -> None:
    run = FakeExecution()
    tools = ToolCalls(run)
    widgets.append(tools)
    assert repr(tools) == "(no tool calls)"
    t0 = 1_700_000_000.0
    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}
    run.emit("execution_tool", timestamp=t0, tool_call={**call, "status": "calling"})
    (row,) = tools.calls
    assert row["status"] == "calling" and row["duration_ms"] is None
    assert row["arguments"] == '{"city": "Paris", "unit": "c"}'
    long_result = {"forecast": "sunny " * 2000}
    run.emit(
        "execution_tool",
        timestamp=t0 + 0.25,
        tool_call={"id": "c1", "name": "get_weather", "status": "completed", "result": long_result},
    )
    run.emit("execution_tool", timestamp=t0 + 0.3, tool_call={"id": "c2", "name": "bad"})
    run.emit(
        "execution_tool",
        timestamp=t0 + 0.4,
        tool_call={"id": "c2", "name": "bad", "status": "failed", "error": "no such city"},
    )
    run.emit("execution_tool", tool_call="not a call")  # ignored
    first, second = tools.calls
    assert first["status"] == "completed" and first["duration_ms"] == 250
    assert first["result"].endswith("…") and len(first["result"]) == 5_000
    assert second == {
        "id": "c2",
        "status": "failed",
        "name": "bad",
        "arguments": "",
        "result": "no such city",
        "duration_ms": 100,
        "approval": "",
        "approval_note": "",
    }
    assert "get_weather" in repr(tools) and "failed 100 ms → no such city" in repr(tools)


def test_tool_durations_are_measured_in_the_kernel_without_timestamps(
    widgets: list[StreamWidget],
) -> None:
    tools = ToolCalls()
    widgets.append(tools)
    calling = {"event": "execution_tool", "tool_call": {"name": "slow", "status": "calling"}}
    tools.handle(calling)
    began = time.monotonic()
    while time.monotonic() - began < 0.05:
        time.sleep(0.01)
    done = {"name": "slow", "status": "completed", "id": "#0", "result": 1}
    tools.handle({"kind": "execution_tool", "data": {"tool_call": done}})
    (row,) = tools.calls
    assert row["id"] == "#0" and row["result"] == "1"
    assert 40 <= row["duration_ms"] < 5_000


def test_execution_view_combines_text_tools_usage_and_latency(
    widgets: list[StreamWidget],
) -> None:
    run = FakeExecution()
    run.start()
    # Both published at one time (a call's duration is measured between the events'
    # publication times; events without one would be timed as the test runs: 0-2 ms).
    published = 1_700_000_000.0
    call = {"id": "c1", "name": "calc", "status": "calling"}
    run.emit("execution_tool", published, tool_call=call)
    run.emit("execution_tool", published, tool_call={**call, "status": "completed", "result": 4})
    run.tokens(["2+2=", "4"])
    run.complete("2+2=4", latency_ms=250)
    view = ExecutionView(run)  # made after the run ended: everything is replayed
    widgets.append(view)
    assert view.text == "2+2=4" and view.status == "completed"
    assert [call["name"] for call in view.calls] == ["calc"]
    page = FrontEnd(view.snapshot)
    assert page.meta()["usage"]["total_tokens"] == 8
    assert page.meta()["latency_ms"] == 250
    assert page.rows("calls")[0]["status"] == "completed"
    assert repr(view).splitlines() == [
        "[demo-test · completed · 2 tokens · 8.0 tok/s · 250 ms]",
        "⚙ calc() completed 0 ms → 4",
        "usage: 3 prompt + 5 completion = 8 tokens",
        "2+2=4",
    ]


def test_attach_later_and_feed_by_hand(widgets: list[StreamWidget]) -> None:
    stream = TokenStream()
    widgets.append(stream)
    assert stream.status == "" and repr(stream) == "[run · waiting · 0 tokens]\n"
    stream.handle({"execution_id": "e1", "event": "execution_token", "token": "a", "index": 0})
    assert stream.status == "running"
    run = FakeExecution(execution_id="e2")
    assert stream.attach(run) is stream
    run.tokens(["b"], first_index=1)
    assert stream.text == "ab"


def test_run_events_are_read_in_every_shape() -> None:
    kind, data, when = read_event({"event": "execution_token", "token": "a", "timestamp": 5})
    assert (kind, data["token"], when) == ("execution_token", "a", 5.0)
    kind, data, _ = read_event({"kind": "execution_start", "data": {"status": "running"}})
    assert (kind, data) == ("execution_start", {"status": "running"})
    kind, data, when = read_event(object())
    assert kind == "" and data == {} and when > 1e9
    assert compact({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert compact("x" * 10, limit=5) == "xxxx…"
    assert compact({1, 2}).startswith("[") or compact({1, 2}).startswith('"')
    assert compact(float("nan")) == "NaN"


def test_an_object_without_subscribe_is_refused() -> None:
    with pytest.raises(TypeError, match="Execution"):
        watch_execution(object(), lambda event: None)
    with pytest.raises(TypeError, match="client"):
        ChannelLog(object(), "alerts")


def test_handles_with_awaitable_subscribe_are_driven_on_the_running_loop() -> None:
    class AsyncishExecution:
        def __init__(self) -> None:
            self.callbacks: list[Any] = []
            self.removed = False

        async def subscribe(self, callback: Any) -> None:
            self.callbacks.append(callback)
            callback({"event": "execution_token", "token": "hi", "index": 0})

        async def unsubscribe(self, callback: Any) -> None:
            self.removed = True

    async def scenario() -> None:
        run = AsyncishExecution()
        stream = TokenStream(run)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert stream.text == "hi"
        stream.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert run.removed

    asyncio.run(scenario())


# --- channel log --------------------------------------------------------------------------


def message(channel: str, data: Any, n: int, source: str | None = "pub") -> ChannelMessage:
    return ChannelMessage(channel, data, f"evt{n}", 1_700_000_000.0 + n, source, n)


def test_channel_log_keeps_the_newest_limit_messages_newest_first(
    widgets: list[StreamWidget],
) -> None:
    client = FakeClient(history={"alerts": [message("alerts", {"n": n}, n) for n in range(3)]})
    log = ChannelLog(client, ["alerts", "news"], limit=5)
    widgets.append(log)
    recorder = Recorder(log)
    page = FrontEnd(log.snapshot)
    assert client.subscribed == ["alerts", "news"]
    assert [m["data"] for m in log.messages] == ['{"n": 2}', '{"n": 1}', '{"n": 0}']
    log.flush()
    for n in range(3, 12):
        client.fire("channel_message", message("alerts" if n % 2 else "news", f"m{n}", n))
    client.fire("channel_message", message("other", "not ours", 99))
    client.fire("channel_message", message("news", "dup", 11))  # same event id: dropped
    log.flush()
    assert [m["data"] for m in log.messages] == ["m11", "m10", "m9", "m8", "m7"]
    for sent in recorder.deltas:
        page.apply(sent)
    # The page keeps the same five; the rows trimmed between flushes were never sent.
    assert [row["data"] for row in page.rows("messages")][::-1] == [m["data"] for m in log.messages]
    upserted = [row["data"] for d in recorder.deltas for row in d["parts"]["messages"]["upsert"]]
    assert "m3" not in upserted and "m4" not in upserted
    assert log.limit == 5 and log.channels == ("alerts", "news")
    text = repr(log)
    assert text.startswith("ChannelLog alerts, news: 5 messages (newest first)")
    assert "news pub: m10" in text


def test_channel_log_clear_from_the_page_and_from_python(widgets: list[StreamWidget]) -> None:
    client = FakeClient()
    log = ChannelLog(client, "alerts", limit=10, history=False)
    widgets.append(log)
    recorder = Recorder(log)
    page = FrontEnd(log.snapshot)
    for n in range(1, 5):
        client.fire("channel_message", message("alerts", n, n))
    log.flush()
    page.apply(recorder.deltas[-1])
    # The page cleared what it showed (ids 1-4) while id 5 was on its way.
    client.fire("channel_message", message("alerts", 5, 5))
    log._handle_custom_msg({"kind": "clear", "through": 4}, [])
    assert [m["data"] for m in log.messages] == ["5"]
    log.flush()
    page.apply(recorder.deltas[-1])
    assert [row["data"] for row in page.rows("messages")] == ["5"]
    log._handle_custom_msg({"kind": "clear", "through": True}, [])  # not an id: clear all
    assert log.messages == []
    log.flush()
    page.apply(recorder.deltas[-1])
    assert page.rows("messages") == []
    client.fire("channel_message", message("alerts", 6, 6))
    log.clear()
    log._handle_custom_msg({"kind": "other"}, [])
    assert log.messages == [] and repr(log).startswith("ChannelLog alerts: 0 messages")


def test_channel_log_pause_is_shared_by_the_page_and_python(widgets: list[StreamWidget]) -> None:
    client = FakeClient()
    log = ChannelLog(client, "alerts", history=False)
    widgets.append(log)
    log.pause()
    assert log.paused and "[paused]" in repr(log)
    client.fire("channel_message", message("alerts", "kept", 1))
    assert len(log.messages) == 1  # still received while paused
    log.resume()
    assert not log.paused


def test_channel_log_holds_live_messages_until_the_backlog_is_in(
    widgets: list[StreamWidget],
) -> None:
    client = FakeClient(history={"alerts": [message("alerts", "old", 1)]})
    # A live message (and a duplicate of the backlog) arrive while history is fetched.
    client.before_answer = lambda: (
        client.fire("channel_message", message("alerts", "live", 2)),
        client.fire("channel_message", message("alerts", "old", 1)),
    )
    log = ChannelLog(client, "alerts")
    widgets.append(log)
    assert [m["data"] for m in log.messages] == ["live", "old"]


def test_channel_log_reports_a_refused_subscription() -> None:
    client = FakeClient(fail_subscribe=RuntimeError("forbidden"))
    with pytest.raises(RuntimeError, match="forbidden"):
        ChannelLog(client, "alerts")
    with pytest.raises(ValueError, match="channels"):
        ChannelLog(FakeClient(), [])
    with pytest.raises(ValueError, match="limit"):
        ChannelLog(FakeClient(), "alerts", limit=0)


def test_channel_log_without_history_on_the_gateway(widgets: list[StreamWidget]) -> None:
    from praison_push.client import RequestRefused

    class NoHistory(FakeClient):
        def history(self, channel: str, *, limit: int | None = None) -> list[Any]:
            raise RequestRefused("not_found", "no history")

    log = ChannelLog(NoHistory(), "alerts")
    widgets.append(log)
    assert log.messages == []


# --- presence -----------------------------------------------------------------------------


def frame(kind: str, client_id: str, status: str = "online", **extra: Any) -> dict[str, Any]:
    data = {"client_id": client_id, "status": status, "metadata": extra.pop("metadata", {})}
    return {"type": kind, "channel": "alerts", "data": data, "timestamp": 1_700_000_000.0, **extra}


def test_presence_list_starts_from_get_presence_and_follows_joins_and_leaves(
    widgets: list[StreamWidget],
) -> None:
    me = PresenceInfo("me", "online", time.time(), {"role": "analyst"}, ("alerts",), "usr_1")
    client = FakeClient(presence=[me])
    presence = PresenceList(client, "alerts")
    widgets.append(presence)
    recorder = Recorder(presence)
    page = FrontEnd(presence.snapshot)
    assert client.subscribed == ["alerts"]
    assert [c["client_id"] for c in presence.clients] == ["me"]
    assert presence.clients[0]["metadata"] == '{"role": "analyst"}'
    client.fire("presence_join", frame("presence_join", "bob", metadata={"x": 1}))
    client.fire("presence_update", frame("presence_update", "bob", "away"))
    client.fire("presence_join", {**frame("presence_join", "eve"), "channel": "other"})
    client.fire("presence_join", "not a frame")
    client.fire("presence_join", {"type": "presence_join", "channel": "alerts", "data": None})
    client.fire("presence_join", frame("presence_join", ""))
    assert [(c["client_id"], c["status"]) for c in presence.clients] == [
        ("me", "online"),
        ("bob", "away"),
    ]
    assert presence.clients[1]["metadata"] == ""  # the update carried none
    presence.flush()
    page.apply(recorder.deltas[-1])
    assert [row["client_id"] for row in page.rows("clients")] == ["me", "bob"]
    client.fire("presence_leave", frame("presence_leave", "bob", "offline"))
    presence.flush()
    page.apply(recorder.deltas[-1])
    assert [row["client_id"] for row in page.rows("clients")] == ["me"]
    assert page.meta()["self_id"] == "me" and presence.channel == "alerts"
    assert repr(presence).startswith("PresenceList #alerts: 1 client\n  me (you) online")


def test_presence_list_of_the_whole_gateway_applies_early_events_after_the_list(
    widgets: list[StreamWidget],
) -> None:
    client = FakeClient(presence=[PresenceInfo("a", last_seen=0.0)])
    client.before_answer = lambda: client.fire("presence_leave", frame("presence_leave", "a"))
    presence = PresenceList(client)
    widgets.append(presence)
    assert client.subscribed == [] and presence.clients == []
    assert repr(presence) == "PresenceList gateway: 0 clients"
    with pytest.raises(ValueError, match="channel"):
        PresenceList(client, "")


def test_presence_list_reports_a_failure() -> None:
    client = FakeClient(fail_subscribe=RuntimeError("forbidden"))
    with pytest.raises(RuntimeError, match="forbidden"):
        PresenceList(client, "alerts")


# --- async fakes: scheduled on the running loop -----------------------------------------------


async def test_async_clients_are_set_up_on_their_loop(widgets: list[StreamWidget]) -> None:
    client = AsyncFakeClient(
        presence=[PresenceInfo("me")], history={"alerts": [message("alerts", "old", 1)]}
    )
    log = ChannelLog(client, "alerts")
    presence = PresenceList(client, "alerts")
    widgets += [log, presence]
    assert log.messages == []  # scheduled: runs once this coroutine yields
    await asyncio.sleep(0.01)
    assert [m["data"] for m in log.messages] == ["old"]
    assert [c["client_id"] for c in presence.clients] == ["me"]


async def test_an_async_setup_failure_is_logged_and_shown(
    widgets: list[StreamWidget], caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncFakeClient(fail_subscribe=RuntimeError("forbidden"))
    log = ChannelLog(client, "alerts")
    presence = PresenceList(client, "alerts")
    widgets += [log, presence]
    await asyncio.sleep(0.01)
    assert "following channels failed" in caplog.text
    assert "forbidden" in str(log._meta["error"])
    assert "forbidden" in str(presence._meta["error"])


def test_an_unconnected_async_client_outside_a_loop_is_refused() -> None:
    client = AsyncPushClient("ws://127.0.0.1:9/ws")
    with pytest.raises(RuntimeError, match="connect it first"):
        ChannelLog(client, "alerts")


# --- parts -----------------------------------------------------------------------------


def test_parts_say_only_what_changed() -> None:
    text = TextPart("ab")
    assert len(text) == 2 and text.take() is None
    text.append("")
    text.append("c")
    text.replace("xyz")
    text.append("!")
    assert text.take() == {"text": "xyz!"} and text.take() is None
    meta = MetaPart(a=1)
    meta.update(a=1, b=2)
    assert meta.take() == {"values": {"b": 2}} and meta.take() is None
    assert meta.get("zz", 5) == 5 and meta.values == {"a": 1, "b": 2}
    rows = RowsPart(limit=2)
    rows.upsert({"id": 1, "v": "a"})
    rows.take()
    rows.remove([1, 42])
    rows.upsert({"id": 1, "v": "again"})  # removed and re-added: moves to the end
    rows.upsert({"id": 2, "v": "b"})
    rows.upsert({"id": 3, "v": "c"})  # trims id 1, which the page already had
    assert rows.take() == {"remove": [1], "upsert": [{"id": 2, "v": "b"}, {"id": 3, "v": "c"}]}
    assert rows.get(2) == {"id": 2, "v": "b"} and 1 not in rows
    rows.clear()
    assert rows.take() == {"clear": True}
    with pytest.raises(ValueError, match="limit"):
        RowsPart(limit=0)


# --- a real gateway, both client faces ---------------------------------------------------------


def test_sync_client_channel_log_and_presence_on_a_real_gateway(
    gateway: Any, widgets: list[StreamWidget]
) -> None:
    with (
        PushClient(gateway.url, client_id="watcher") as client,
        PushClient(gateway.url, client_id="publisher") as other,
    ):
        client.publish("alerts", {"level": "low"})  # before the log: from history
        log = ChannelLog(client, "alerts", limit=3)
        presence = PresenceList(client, "alerts")
        widgets += [log, presence]
        assert [c["client_id"] for c in presence.clients] == ["watcher"]
        other.subscribe("alerts")
        wait_until(
            lambda: {c["client_id"] for c in presence.clients} == {"watcher", "publisher"},
            what="the publisher's join",
        )
        for n in range(4):
            other.publish("alerts", {"n": n})
        wait_until(lambda: [m["data"] for m in log.messages][:1] == ['{"n": 3}'], what="messages")
        assert [m["data"] for m in log.messages] == ['{"n": 3}', '{"n": 2}', '{"n": 1}']
        assert log.messages[0]["source"] == "publisher"
        other.unsubscribe("alerts")
        wait_until(
            lambda: [c["client_id"] for c in presence.clients] == ["watcher"],
            what="the publisher's leave",
        )
        log.close()
        presence.close()
        other.publish("alerts", "after close")
        assert log.messages[0]["data"] == '{"n": 3}'


def test_sync_client_runs_stream_into_the_widgets_while_the_caller_blocks(
    gateway: Any, widgets: list[StreamWidget], flusher: Flusher
) -> None:
    with PushClient(gateway.url) as client:
        run = client.execute("demo-long", "400@2000")  # 400 tokens at 2,000/s
        stream = TokenStream(run, flusher=flusher)
        view = ExecutionView(run, flusher=flusher)
        widgets += [stream, view]
        recorder = Recorder(stream)
        run.wait(WAIT)  # the cell blocks here; the widgets fill from the callback thread
        wait_until(lambda: stream.status == view.status == "completed", what="the end")
        assert stream.text == view.text == run.output
        assert len(recorder.snapshots) == 1  # the end of the run
        page = FrontEnd({"seq": 0, "parts": {}})
        for message in recorder.deltas:
            page.apply(message)
        page.apply_snapshot(recorder.snapshots[0])
        assert page.text() == run.output
        stream.close()
        view.close()


def run_on_portal(client: PushClient, agent: str, text: str) -> Any:
    """Start a run with the async client under a blocking one (on the portal loop)."""
    from praison_push.sync.portal import get_portal

    return get_portal().call(client.async_client.execute(agent, text))


def test_a_real_run_streams_into_the_widgets_from_another_thread_loop(
    gateway: Any, widgets: list[StreamWidget], flusher: Flusher
) -> None:
    with PushClient(gateway.url) as client:
        run = run_on_portal(client, "demo-weather", "What is the weather in Paris?")
        view = ExecutionView(run, flusher=flusher)
        stream = TokenStream(run, flusher=flusher)
        widgets += [view, stream]
        wait_until(lambda: view.status == "completed" and stream.status == "completed")
        answer = "The weather in Paris is currently 18°C and partly cloudy."
        assert view.text == stream.text == answer
        (call,) = view.calls
        assert call["name"] == "get_weather" and call["status"] == "completed"
        assert call["duration_ms"] is not None
        page = FrontEnd(view.snapshot)
        assert page.text() == answer and page.meta()["usage"]["total_tokens"] > 0


async def test_async_client_in_this_loop_feeds_every_widget(
    gateway: Any, widgets: list[StreamWidget]
) -> None:
    async with AsyncPushClient(gateway.url, client_id="nb") as client:
        run = await client.execute("demo-weather", "Weather in Paris?")
        view = ExecutionView(run)
        log = ChannelLog(client, "alerts", history=False)
        presence = PresenceList(client, "alerts")
        widgets += [view, log, presence]
        await run.wait(WAIT)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if view.status == "completed" and "nb" in str(presence.clients):
                break
        assert view.status == "completed" and "Paris" in view.text
        async with AsyncPushClient(gateway.url, client_id="other") as other:
            await other.publish("alerts", "hello")  # a publisher never gets its own
        for _ in range(100):
            if log.messages:
                break
            await asyncio.sleep(0.01)
        assert [m["data"] for m in log.messages] == ["hello"]
        assert [c["client_id"] for c in presence.clients] == ["nb"]
        view.close()  # unsubscribes on the loop
        await asyncio.sleep(0.01)
        assert not run.on_event


def test_token_chunks_count_every_token_they_carry(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    run.start()
    run.emit("execution_token", token="t0 t1 t2 ", index=0, count=3)
    run.emit("execution_token", token="t3 ", index=1)
    run.emit("execution_token", token="t4 ", index=2, count="junk")
    stream = TokenStream(run)
    widgets.append(stream)
    assert stream.text == "t0 t1 t2 t3 t4 "
    assert "5 tokens" in repr(stream)
