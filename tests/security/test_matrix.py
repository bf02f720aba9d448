"""Issue 13, acceptance: every identity × every action, as SECURITY.md documents it.

The expected outcomes are read from the matrix in SECURITY.md, so the table a
person reads is the table that is checked: a cell that changes in one place
and not the other fails here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import closed_with, dial, http_client, timeout
from websockets.asyncio.client import ClientConnection

from praison_push.server import GatewayThread

from .conftest import hs256_config
from .jwt_support import hs256

SECURITY_MD = Path(__file__).resolve().parents[2] / "SECURITY.md"
OPERATOR_TOKEN = "operator-token"

#: The matrix's rows: the token each identity presents (``None``: none).
IDENTITIES: dict[str, Callable[[], str | None]] = {
    "no token": lambda: None,
    "bad token": lambda: "not-a-valid-token",
    "expired JWT": lambda: hs256("alice", "acme", ttl=-60),
    "JWT user A": lambda: hs256("alice", "acme"),
    "JWT user B": lambda: hs256("bob", "acme"),
    "JWT org acme": lambda: hs256(None, "acme"),
    "JWT other org": lambda: hs256("mallory", "globex"),
    "JWT dead_letter permission": lambda: hs256("dora", "initech", permissions=["dead_letter"]),
    "operator token": lambda: OPERATOR_TOKEN,
}


def documented_matrix(name: str = "matrix") -> tuple[list[str], dict[str, dict[str, str]]]:
    """The columns and the rows of one of SECURITY.md's matrices."""
    text = SECURITY_MD.read_text(encoding="utf-8")
    table = text.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]
    lines = [line.strip() for line in table.strip().splitlines()]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, rows = cells[0], cells[2:]
    return header[1:], {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows}


def request_for(column: str, ref: int) -> dict[str, Any]:
    """The native frame of a ``<action> <channel>`` column (or ``execute``)."""
    if column == "execute":
        return {"type": "execute", "agent_id": "echo", "input": "hi", "ref": ref}
    action, channel = column.split(" ", 1)
    kinds = {
        "subscribe": {"type": "channel.subscribe"},
        "publish": {"type": "channel.publish", "data": {"n": ref}},
        "presence": {"type": "presence.query"},
        "history": {"type": "channel.history"},
    }
    return {**kinds[action], "channel": channel, "ref": ref}


async def answer(ws: ClientConnection, ref: int) -> str:
    """``ok`` or the error code of the reply carrying ``ref`` (other frames skipped)."""

    async def read() -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame.get("ref") == ref:
                return frame

    reply = await asyncio.wait_for(read(), timeout(5))
    return str(reply["code"]) if reply["type"] == "error" else "ok"


async def ws_row(gateway: GatewayThread, token: str | None, columns: list[str]) -> list[str]:
    url = gateway.url if token is None else f"{gateway.url}?token={token}"
    async with dial(url) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout(5)))
        if first["type"] != "connected":
            return [str(await closed_with(ws))] * len(columns)
        outcomes = []
        for ref, column in enumerate(columns):
            await ws.send(json.dumps(request_for(column, ref)))
            outcomes.append(await answer(ws, ref))
        return outcomes


async def http_cell(gateway: GatewayThread, token: str | None) -> str:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with http_client(base_url=gateway.http_url, timeout=timeout(10)) as http:
        response = await http.post(
            "/v1/agents/echo/execute/stream", json={"input": "hi"}, headers=headers
        )
    return str(response.status_code)


@pytest.fixture
def matrix_gateway(gateway_factory: Callable[..., GatewayThread]) -> GatewayThread:
    return gateway_factory(hs256_config(tokens=[OPERATOR_TOKEN]))


async def test_every_cell_is_its_documented_outcome(matrix_gateway: GatewayThread) -> None:
    columns, rows = documented_matrix()
    assert set(rows) == set(IDENTITIES), "SECURITY.md's rows and the test's identities differ"
    ws_columns = [column for column in columns if column != "POST execute/stream"]
    observed: dict[str, dict[str, str]] = {}
    for identity, token_of in IDENTITIES.items():
        token = token_of()
        outcomes = await ws_row(matrix_gateway, token, ws_columns)
        observed[identity] = dict(zip(ws_columns, outcomes, strict=True))
        observed[identity]["POST execute/stream"] = await http_cell(matrix_gateway, token)
    wrong = [
        f"{identity} × {column}: documented {rows[identity][column]}, got {outcome}"
        for identity, row in observed.items()
        for column, outcome in row.items()
        if rows[identity][column] != outcome
    ]
    assert not wrong, "\n".join(wrong)


def envelope_request(column: str, ref: int) -> dict[str, Any]:
    """The envelope frame for a column (history has no envelope type: the native frame
    passes through the envelope translation unchanged)."""
    native = request_for(column, ref)
    kind = native.pop("type")
    del native["ref"]
    types = {
        "channel.subscribe": "subscribe",
        "channel.publish": "publish",
        "presence.query": "presence",
        "execute": "execute",
    }
    if kind not in types:
        return {"type": kind, **native, "ref": ref}
    return {"type": types[kind], "id": ref, "payload": native}


async def envelope_row(gateway: GatewayThread, token: str | None, columns: list[str]) -> list[str]:
    async with dial(gateway.url + "?protocol=envelope") as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": token or ""}}))
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout(5)))
        if first["type"] != "auth_success":
            return [str(await closed_with(ws))] * len(columns)
        outcomes = []
        for ref, column in enumerate(columns):
            await ws.send(json.dumps(envelope_request(column, ref)))

            async def read(ref: int = ref) -> dict[str, Any]:
                while True:
                    frame: dict[str, Any] = json.loads(await ws.recv())
                    # An accepted execute has no reply of its own: its run starts.
                    if frame.get("id") == ref or frame["type"] == "execution_start":
                        return frame

            reply = await asyncio.wait_for(read(), timeout(5))
            outcomes.append(reply["payload"]["code"] if reply["type"] == "error" else "ok")
        return outcomes


async def test_the_envelope_dialect_gives_the_same_answers(matrix_gateway: GatewayThread) -> None:
    """Every cell again in the envelope dialect, where every refusal closes with 4001."""
    columns, rows = documented_matrix()
    ws_columns = [column for column in columns if column != "POST execute/stream"]
    wrong = []
    for identity, token_of in IDENTITIES.items():
        outcomes = await envelope_row(matrix_gateway, token_of(), ws_columns)
        for column, outcome in zip(ws_columns, outcomes, strict=True):
            documented = rows[identity][column]
            expected = "4001" if documented in ("4001", "4003") else documented
            if outcome != expected:
                wrong.append(f"{identity} × {column}: expected {expected}, got {outcome}")
    assert not wrong, "\n".join(wrong)


async def http_row(gateway: GatewayThread, token: str | None) -> dict[str, str]:
    """The status of each HTTP column for one identity."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    out: dict[str, str] = {}
    async with http_client(base_url=gateway.http_url, headers=headers, timeout=timeout(10)) as http:
        registered = await http.post("/api/push/poll/register", json={})
        if registered.status_code != 200:
            poll = {"poll_token": ""}
            status = str(registered.status_code)
            out["poll subscribe user:alice:inbox"] = out["poll publish org:acme:news"] = status
        else:
            poll = {"poll_token": registered.json()["poll_token"]}
            subscribed = await http.post(
                "/api/push/poll/subscribe", json={**poll, "channel": "user:alice:inbox"}
            )
            out["poll subscribe user:alice:inbox"] = str(subscribed.status_code)
            published = await http.post(
                "/api/push/poll/publish", json={**poll, "channel": "org:acme:news", "data": 1}
            )
            out["poll publish org:acme:news"] = str(published.status_code)
        presence = await http.get("/api/push/poll/presence", params={"channel": "org:acme:news"})
        out["poll presence org:acme:news"] = str(presence.status_code)
        for channel in ("user:alice:inbox", "$dead-letter"):
            async with http.stream("GET", "/api/push/sse", params={"channels": channel}) as sse:
                out[f"SSE {channel}"] = str(sse.status_code)
        out["GET /metrics"] = str((await http.get("/metrics")).status_code)
    return out


async def test_the_http_routes_give_the_same_answers(matrix_gateway: GatewayThread) -> None:
    columns, rows = documented_matrix("http-matrix")
    assert set(rows) == set(IDENTITIES)
    wrong = []
    for identity, token_of in IDENTITIES.items():
        observed = await http_row(matrix_gateway, token_of())
        assert set(observed) == set(columns)
        wrong += [
            f"{identity} × {column}: documented {rows[identity][column]}, got {outcome}"
            for column, outcome in observed.items()
            if rows[identity][column] != outcome
        ]
    assert not wrong, "\n".join(wrong)


async def test_runs_are_isolated_between_organisations(matrix_gateway: GatewayThread) -> None:
    """B (same organisation) sees A's run on the feed; the other organisation does not."""
    alice, bob, mallory = hs256("alice", "acme"), hs256("bob", "acme"), hs256("mallory", "globex")
    async with (
        dial(f"{matrix_gateway.url}?token={alice}") as a,
        dial(f"{matrix_gateway.url}?token={bob}") as b,
        dial(f"{matrix_gateway.url}?token={mallory}") as m,
    ):
        for ref, ws in enumerate((a, b, m)):
            await ws.recv()  # connected
            await ws.send(
                json.dumps({"type": "channel.subscribe", "channel": "executions", "ref": ref})
            )
            assert await answer(ws, ref) == "ok"
        await a.send(
            json.dumps({"type": "execute", "agent_id": "echo", "input": "acme only", "ref": 9})
        )
        assert await answer(a, 9) == "ok"

        async def completes(ws: ClientConnection) -> dict[str, Any]:
            while True:
                frame: dict[str, Any] = json.loads(await ws.recv())
                data = frame.get("data")
                if isinstance(data, dict) and data.get("event") == "execution_complete":
                    return data

        seen = await asyncio.wait_for(completes(b), timeout(5))
        assert seen["output"] == "acme only"
        # Mallory then runs her own: the first completion she sees is hers.
        await m.send(
            json.dumps({"type": "execute", "agent_id": "echo", "input": "globex", "ref": 8})
        )
        assert await answer(m, 8) == "ok"
        hers = await asyncio.wait_for(completes(m), timeout(5))
        assert hers["output"] == "globex"
