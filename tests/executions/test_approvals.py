"""Human approval end to end: a real gateway, real clients of each face and dialect.

A run pauses at a tool its agent must have approved; approving from another
client of the requester resumes it, denying makes the agent see the denial, a
timeout denies, and anyone else's answer is ``forbidden``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import WAIT, dial, wait_until

from praison_push.agents import AgentContext, AgentEvent, ToolCall, ToolResult
from praison_push.client import AsyncPushClient, Execution, RequestRefused
from praison_push.config import AuthConfig, GatewayConfig, RunsConfig, TokenGrant
from praison_push.server import GatewayThread
from praison_push.sync import PushClient

from .helpers import (
    ORG_A,
    TOKEN_A,
    TOKEN_A2,
    USER_A,
    Factory,
    envelope,
    of_type,
    recv,
    register,
    send,
    until,
)

TOKEN_BOSS = "token-org-a-boss"


async def guarded(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
    """Asks before it deletes; says what happened."""
    call = ToolCall("delete_file", {"path": text}, id="call_del")
    decision = await ctx.request_approval(call)
    if not decision.approved:
        yield f"I did not delete {text}: {decision.reason or 'denied'}."
        return
    yield call
    yield ToolResult(call, {"deleted": text})
    yield f"Deleted {text}."


@pytest.fixture
def approvals_gateway(gateway_factory: Factory) -> GatewayThread:
    grants = [
        TokenGrant(token=TOKEN_A, user_id=USER_A, org_id=ORG_A),
        TokenGrant(token=TOKEN_A2, user_id="usr_second", org_id=ORG_A),
        TokenGrant(token=TOKEN_BOSS, user_id="usr_boss", org_id=ORG_A),
    ]
    config = GatewayConfig(
        auth=AuthConfig(tokens=grants),  # type: ignore[arg-type]
        runs=RunsConfig(approval_timeout=WAIT, approvers=["usr_boss"]),
    )
    gateway = gateway_factory(config)
    register(gateway, "guarded", guarded)
    return gateway


@pytest.fixture
async def clients(approvals_gateway: GatewayThread) -> AsyncIterator[Any]:
    made: list[AsyncPushClient] = []

    async def make(token: str) -> AsyncPushClient:
        client = AsyncPushClient(approvals_gateway.url, token, request_timeout=WAIT)
        made.append(client)
        await client.connect()
        return client

    yield make
    await asyncio.gather(*(client.disconnect() for client in made))


async def paused(run: Execution) -> dict[str, Any]:
    await wait_until(lambda: run.pending_approvals, what="the approval request")
    (request,) = run.pending_approvals
    return request


async def test_approving_from_another_client_resumes_the_run(clients: Any) -> None:
    asker, other_tab = await clients(TOKEN_A), await clients(TOKEN_A)
    run = await asker.execute("guarded", "/tmp/report.txt")
    request = await paused(run)
    assert {key: request[key] for key in ("tool_call_id", "name", "arguments", "status")} == {
        "tool_call_id": "call_del",
        "name": "delete_file",
        "arguments": {"path": "/tmp/report.txt"},
        "status": "pending",
    }
    assert run.tool_calls[0]["approval"] == "pending"
    assert run.status == "running"
    assert await other_tab.approve(run.execution_id, "call_del", True) is True
    assert await run.result(WAIT) == "Deleted /tmp/report.txt."
    assert run.approvals["call_del"]["status"] == "approved"
    (call,) = run.tool_calls
    assert (call["status"], call["result"], call["approval"]) == (
        "completed",
        {"deleted": "/tmp/report.txt"},
        "approved",
    )
    assert await other_tab.approve(run.execution_id, "call_del", True) is False  # over


async def test_a_denial_reaches_the_model_with_its_reason(clients: Any) -> None:
    asker = await clients(TOKEN_A)
    run = await asker.execute("guarded", "/etc/passwd")
    await paused(run)
    assert await run.approve("call_del", False, "never that file") is True
    assert await run.result(WAIT) == "I did not delete /etc/passwd: never that file."
    assert run.approvals["call_del"]["status"] == "denied"
    assert run.tool_calls[0]["approval_reason"] == "never that file"


async def test_only_the_requester_or_a_configured_approver_may_answer(clients: Any) -> None:
    asker, colleague, boss = (
        await clients(TOKEN_A),
        await clients(TOKEN_A2),
        await clients(TOKEN_BOSS),
    )
    run = await asker.execute("guarded", "/tmp/a")
    await paused(run)
    with pytest.raises(RequestRefused) as caught:
        await colleague.approve(run.execution_id, "call_del", True)
    assert caught.value.code == "forbidden"
    assert run.pending_approvals  # still waiting
    assert await boss.approve(run.execution_id, "call_del", True, "I allow it") is True
    assert await run.result(WAIT) == "Deleted /tmp/a."


async def test_an_unanswered_request_times_out_as_a_denial(gateway_factory: Factory) -> None:
    gateway = gateway_factory(GatewayConfig(runs=RunsConfig(approval_timeout=0.1)))
    register(gateway, "guarded", guarded)
    async with AsyncPushClient(gateway.url, request_timeout=WAIT) as client:
        run = await client.execute("guarded", "/tmp/b")
        assert await run.result(WAIT) == "I did not delete /tmp/b: no answer within 0.1s."
    assert run.approvals["call_del"]["timed_out"] is True


def test_the_blocking_face_approves(approvals_gateway: GatewayThread) -> None:
    with PushClient(approvals_gateway.url, TOKEN_A, request_timeout=WAIT) as client:
        run = client.execute("guarded", "/tmp/c")
        for event in run:
            if event.kind == "execution_approval_request":
                assert run.pending_approvals[0]["name"] == "delete_file"
                assert client.approve(run.execution_id, "call_del", True) is True
        assert run.result(WAIT) == "Deleted /tmp/c."
        again = client.execute("guarded", "/tmp/d")
        for event in again:
            if event.kind == "execution_approval_request":
                assert again.approve("call_del", False, "no") is True
        assert again.result(WAIT) == "I did not delete /tmp/d: no."


async def test_envelope_and_agent_chat_clients_answer_too(
    approvals_gateway: GatewayThread,
) -> None:
    async with envelope(approvals_gateway.url, TOKEN_A) as ws:
        payload = {"agent_id": "guarded", "input": "/tmp/e"}
        await send(ws, {"type": "execute", "id": "x", "payload": payload})
        asked = (await until(ws, of_type("execution_approval_request")))[-1]["payload"]
        assert (asked["tool_call_id"], asked["arguments"]) == ("call_del", {"path": "/tmp/e"})
        answer = {"execution_id": asked["execution_id"], "tool_call_id": "call_del"}
        await send(ws, {"type": "approve", "id": "a1", "payload": {**answer, "approved": True}})
        frames = await until(ws, of_type("execution_complete"))
    approved = [frame for frame in frames if frame["type"] == "approved"]
    assert approved[0]["id"] == "a1" and approved[0]["payload"]["ok"] is True
    assert frames[-1]["payload"]["output"] == "Deleted /tmp/e."

    url = approvals_gateway.url + f"?protocol=agent-chat&token={TOKEN_A}"
    async with dial(url) as chat:
        await recv(chat)
        await send(chat, {"type": "chat", "agent_id": "guarded", "message": "/tmp/f"})
        update = (await until(chat, lambda frame: frame.get("status") == "awaiting_approval"))[-1]
        assert (update["type"], update["tool_name"]) == ("tool_update", "delete_file")
        await send(
            chat,
            {
                "type": "approve",
                "execution_id": update["execution_id"],
                "tool_call_id": update["tool_call_id"],
                "approved": False,
                "reason": "keep it",
            },
        )
        frames = await until(chat, of_type("agent_done"))
    assert {"status": "denied", "reason": "keep it"}.items() <= next(
        frame for frame in frames if frame.get("status") == "denied"
    ).items()
    assert frames[-2]["message"] == "I did not delete /tmp/f: keep it."
