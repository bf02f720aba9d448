"""The command line, against real gateways (in-process and as a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
from support import timeout

from praison_push.cli import main
from praison_push.config import AuthConfig, GatewayConfig
from praison_push.server import GatewayThread
from praison_push.sync import PushClient


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "praison_push", *args],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_publish_prints_the_receipt(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    with PushClient(gateway.url) as listener:
        stream = listener.messages("alerts", timeout=timeout(5))
        assert main(["publish", "alerts", '{"level": "high"}', "--url", gateway.url]) == 0
        message = next(iter(stream))
    assert message.data == {"level": "high"}
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["channel"] == "alerts" and receipt["delivered"] == 1 and receipt["event_id"]


def test_presence_lists_clients_as_json_lines(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    with PushClient(gateway.url, client_id="watcher") as watcher:
        watcher.set_status("busy", {"role": "ops"})
        assert main(["presence", "--url", gateway.url]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    watcher_entry = next(e for e in entries if e["client_id"] == "watcher")
    assert watcher_entry["status"] == "busy" and watcher_entry["metadata"] == {"role": "ops"}


def test_url_and_token_come_from_the_environment(
    gateway_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secured = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=["s3cret"])))
    monkeypatch.setenv("PRAISON_PUSH_URL", secured.url)
    monkeypatch.setenv("PRAISON_PUSH_TOKEN", "s3cret")
    assert main(["presence"]) == 0
    monkeypatch.setenv("PRAISON_PUSH_TOKEN", "wrong")
    assert main(["presence"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("praison-push: error: the gateway refused the token")
    assert len(err.splitlines()) == 1 and "wrong" not in err


def test_unreachable_gateway_is_one_line_and_exit_1() -> None:
    result = run_cli("publish", "alerts", "{}", "--url", "ws://127.0.0.1:9/ws")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("praison-push: error: cannot open ws://127.0.0.1:9/ws: ")
    assert "client_id" not in lines[0]


def test_bad_json_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "alerts", "{nope"]) == 2
    assert "DATA is not valid JSON" in capsys.readouterr().err


def test_subscribe_prints_messages_until_count(gateway: GatewayThread) -> None:
    joined = threading.Event()
    with PushClient(gateway.url, client_id="publisher") as publisher:

        @publisher.on("presence_join")
        def on_join(frame: dict[str, Any]) -> None:
            if frame["channel"] == "news":
                joined.set()

        publisher.subscribe("news")
        process = subprocess.Popen(
            [sys.executable, "-m", "praison_push", "subscribe", "news", "--count", "2",
             "--url", gateway.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert joined.wait(timeout(30)), "the CLI subscriber never joined"
            publisher.publish("news", {"n": 1})
            publisher.publish("news", {"n": 2})
            out, err = process.communicate(timeout=timeout(30))
        finally:
            process.kill()
    assert process.returncode == 0, err
    assert [json.loads(line)["data"] for line in out.splitlines()] == [{"n": 1}, {"n": 2}]


def test_subscribe_timeout_ends_quietly(gateway: GatewayThread) -> None:
    result = run_cli("subscribe", "quiet", "--timeout", "0.2", "--url", gateway.url)
    assert result.returncode == 0 and result.stdout == ""


def test_gateway_command_serves_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "praison_push", "gateway", "--port", "0", "--token", "t0k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("praison-push gateway listening on ws://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        with PushClient(url, auth_token="t0k") as client:
            assert client.publish("ping", {}).delivered == 0
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=timeout(20))
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "t0k" not in err


def test_gateway_refuses_to_serve_open_on_a_public_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13, build 1: no token on a non-loopback address needs --insecure."""
    from praison_push import cli
    from praison_push.cli import gateway as cli_gateway

    calls: list[Any] = []
    monkeypatch.setattr(
        "praison_push.server.run_gateway", lambda config, **options: calls.append(config)
    )
    monkeypatch.delenv(cli_gateway.TOKEN_ENV, raising=False)
    parse = cli.build_parser().parse_args
    assert cli_gateway.cmd_gateway(parse(["gateway", "--host", "0.0.0.0", "--port", "0"])) == 2
    assert not calls
    assert "--insecure" in capsys.readouterr().err
    args = parse(["gateway", "--host", "0.0.0.0", "--port", "0", "--insecure"])
    assert cli_gateway.cmd_gateway(args) == 0
    assert calls and calls[0].host == "0.0.0.0"
    assert "warning" in capsys.readouterr().err
    args = parse(["gateway", "--host", "0.0.0.0", "--port", "0", "--token", "t"])
    assert cli_gateway.cmd_gateway(args) == 0
    args = parse(["gateway", "--port", "0", "--allow-origin", "https://app.example"])
    assert cli_gateway.cmd_gateway(args) == 0
    assert "https://app.example" in calls[-1].auth.allowed_origins
    assert "http://localhost:*" in calls[-1].auth.allowed_origins  # added, not replaced
    args = parse(["gateway", "--port", "0", "--allow-host", "Push.Example.com"])
    assert cli_gateway.cmd_gateway(args) == 0
    assert calls[-1].auth.allowed_hosts == ["push.example.com"]
    with pytest.raises(cli_gateway.UsageProblem, match="allowed_origins entry must be"):
        cli_gateway.cmd_gateway(parse(["gateway", "--allow-origin", "app.example"]))
    assert cli_gateway.is_loopback("localhost") and cli_gateway.is_loopback("::1")
    assert not cli_gateway.is_loopback("example.org") and not cli_gateway.is_loopback("10.0.0.1")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], (True, "memory", None)),
        (["--store", "memory"], (True, "memory", None)),
        (["--store", "sqlite:/tmp/push.db"], (True, "sqlite", "/tmp/push.db")),
        (["--store", "redis", "--redis-url", "redis://127.0.0.1:1/0"], (True, "redis", None)),
        (["--no-delivery"], (False, "memory", None)),
    ],
)
def test_gateway_delivery_flags(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: tuple[Any, ...]
) -> None:
    from praison_push import cli

    calls: list[Any] = []
    monkeypatch.setattr(
        "praison_push.server.run_gateway", lambda config, **options: calls.append(config)
    )
    assert cli.main(["gateway", "--port", "0", *flags]) == 0
    delivery = calls[0].push.delivery
    assert (delivery.enabled, delivery.store_backend, delivery.store_path) == expected


@pytest.mark.parametrize("store", ["disk", "sqlite:", "sqlite"])
def test_gateway_refuses_an_unknown_store_in_one_line(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gateway", "--port", "0", "--store", store]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"praison-push: error: --store {store!r}: use memory, redis or sqlite:PATH"


@pytest.mark.parametrize(
    ("store", "says"),
    [
        ("sqlite:{tmp}/missing/push.db", "cannot open the delivery store"),
        ("redis", "--store redis needs --redis-url"),
    ],
)
def test_gateway_with_a_store_it_cannot_use_fails_in_one_line(
    tmp_path: Any, store: str, says: str
) -> None:
    result = run_cli("gateway", "--port", "0", "--store", store.format(tmp=tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("praison-push: error: ") and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "alice received on alerts" in out and "presence: bob is busy" in out


# --- execute -------------------------------------------------------------------------


WEATHER_ANSWER = "The weather in Paris is currently 18°C and partly cloudy."


def test_execute_streams_the_answer_and_shows_tool_calls(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["execute", "demo-weather", "Weather in Paris?", "--url", gateway.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == WEATHER_ANSWER + "\n"
    assert captured.err == (
        '⚙ get_weather {"city": "Paris", "unit": "celsius"} → '
        '{"temperature": 18, "condition": "partly cloudy"}\n'
    )


def test_execute_json_prints_every_event(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["execute", "echo", "hello json", "--json", "--url", gateway.url]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "execution_start"
    assert events[-1]["event"] == "execution_complete"
    assert events[-1]["output"] == "hello json"
    assert {event["execution_id"] for event in events} == {events[0]["execution_id"]}


def test_execute_reads_the_input_from_stdin(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin"))
    assert main(["execute", "echo", "-", "--url", gateway.url, "--session", "s1"]) == 0
    assert capsys.readouterr().out == "from stdin\n"


def test_execute_unknown_agent_is_one_line_and_exit_1(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["execute", "nobody", "hi", "--url", gateway.url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("praison-push: error: unknown_agent: ")


def test_execute_failed_run_is_one_line_and_exit_1(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gateway.gateway is not None

    async def broken(text: str) -> Any:
        yield "partial"
        raise RuntimeError("model\nunavailable")

    gateway.gateway.hub.agents.register("broken", broken)
    assert main(["execute", "broken", "hi", "--url", gateway.url]) == 1
    captured = capsys.readouterr()
    assert captured.out == "partial\n"  # the partial answer, its line ended
    (line,) = captured.err.splitlines()
    assert line.startswith("praison-push: error: run exec_")
    assert line.endswith(" failed: AGENT_FAILED: model unavailable")


def test_execute_ctrl_c_cancels_the_run_and_exits_130(gateway: GatewayThread) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "praison_push", "execute", "demo-long", "5000@100", "--json",
         "--url", gateway.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["event"] == "execution_start"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=timeout(30))
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    with PushClient(gateway.url) as client:
        run = client.attach(first["execution_id"])
        run.wait(timeout=timeout(10))
    assert run.status == "cancelled"


def test_run_printer_edge_cases() -> None:
    import io

    from praison_push import cli
    from praison_push.client import ExecutionEvent

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = io.StringIO(), Terminal()
    printer = cli._RunPrinter(out, err)

    def tool(**call: Any) -> ExecutionEvent:
        return ExecutionEvent("execution_tool", {"tool_call": call})

    printer.show(ExecutionEvent("execution_token", {"token": "Thinking "}))
    printer.show(ExecutionEvent("execution_token", {"token": ""}))
    printer.show(tool(id="a", name="search", status="calling", arguments={"q": "x" * 300}))
    printer.show(tool(id="b", name="fetch", status="calling"))  # ends the open line first
    printer.show(tool(id="b", name="fetch", status="failed", error="timeout"))
    printer.show(tool(id="c", name="late", status="completed", result="ok"))  # no calling seen
    printer.show(ExecutionEvent("execution_token", {"token": "done.\n"}))
    printer.finish()
    assert out.getvalue() == "Thinking done.\n"
    lines = err.getvalue().split("\n")
    assert lines[0] == ""  # a terminal: the tool line starts below the answer text
    assert lines[1].startswith('⚙ search {"q": "xxx') and lines[1].endswith("…")
    assert lines[2:] == ["⚙ fetch {} ✗ timeout", "⚙ late {} → ok", ""]

    silent = io.StringIO()
    answer_only = cli._RunPrinter(silent, io.StringIO())
    answer_only.show(ExecutionEvent("execution_complete", {"output": "all at once"}))
    answer_only.finish()
    assert silent.getvalue() == "all at once\n"
    with pytest.raises(TypeError, match="abstract"):
        cli._EventPrinter()  # type: ignore[abstract]


def test_run_printer_shows_reasoning_streamed_arguments_and_approvals() -> None:
    import io

    from praison_push import cli
    from praison_push.client import ExecutionEvent

    out, err = io.StringIO(), io.StringIO()
    printer = cli._RunPrinter(out, err)
    events = [
        ("execution_reasoning", {"delta": "The user "}),
        ("execution_reasoning", {"delta": "wants\nweather."}),
        ("execution_tool_call_delta", {"tool_call_id": "c1", "name": "get_weather",
                                       "delta": '{"ci'}),
        ("execution_tool_call_delta", {"tool_call_id": "c1", "name": "get_weather",
                                       "delta": 'ty": "Paris"}'}),
        ("execution_tool", {"tool_call": {"id": "c1", "name": "get_weather", "status": "calling",
                                          "arguments": {"city": "Paris"}}}),
        ("execution_tool", {"tool_call": {"id": "c1", "name": "get_weather",
                                          "status": "completed", "result": 18}}),
        ("execution_approval_request", {"execution_id": "exec_1", "tool_call_id": "c2",
                                        "name": "rm", "arguments": {"path": "/x"}, "timeout": 30}),
        ("execution_approval_result", {"tool_call_id": "c2", "name": "rm", "approved": False,
                                       "reason": "no"}),
        ("execution_token", {"token": "18°C."}),
    ]  # fmt: skip
    for kind, data in events:
        printer.show(ExecutionEvent(kind, data))
    printer.finish()
    assert out.getvalue() == "18°C.\n"
    assert err.getvalue().split("\n") == [
        "💭 The user wants weather.",
        '⚙ get_weather {"city": "Paris"} → 18',  # the streamed arguments, not printed twice
        '⏸ rm {"path": "/x"} waits for approval (30 s): praison-push approve exec_1 c2',
        "✗ rm denied: no",
        "",
    ]


def test_approve_answers_a_paused_run(
    gateway_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The requester (the same identity: its token) answers from the command line."""
    from praison_push.agents import AgentContext, ToolCall
    from praison_push.config import TokenGrant

    async def careful(text: str, ctx: AgentContext) -> Any:
        decision = await ctx.request_approval(ToolCall("rm", {"path": text}, id="c1"))
        yield f"{decision.approved}: {decision.reason}"

    grants = [TokenGrant(token="t-ops", user_id="ops")]
    gateway = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=grants)))  # type: ignore[arg-type]
    hub = gateway.gateway.hub
    gateway.call(lambda: hub.agents.register("careful", careful))
    with PushClient(gateway.url, "t-ops") as client:
        run = client.execute("careful", "/tmp/x")
        for event in run:
            if event.kind == "execution_approval_request":
                break
        argv = ["approve", run.execution_id, "c1", "--deny", "--reason", "not now"]
        argv += ["--url", gateway.url, "--token", "t-ops"]
        assert main(argv) == 0
        assert run.result(timeout(5)) == "False: not now"
        assert main(argv) == 1  # nothing waits any more
    out, err = capsys.readouterr()
    assert out == "denied\n"
    assert f"no approval request of {run.execution_id} waits for c1" in err
