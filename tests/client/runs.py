"""A scripted gateway that also runs agents: ``execute``, ``execution.cancel``, run history."""

from __future__ import annotations

from typing import Any

from praison_push.testing import MemoryTransport, ScriptedGateway, channel_message

#: The events of a small demo-weather-like run, fed right after ``execute.accepted``.
WEATHER_RUN: list[dict[str, Any]] = [
    {"event": "execution_start", "status": "running"},
    {"event": "execution_tool", "tool_call": {"id": "t1", "name": "get_weather",
                                              "status": "calling", "arguments": {"city": "Paris"}}},
    {"event": "execution_tool", "tool_call": {"id": "t1", "name": "get_weather",
                                              "status": "completed", "result": {"temp": 18}}},
    {"event": "execution_token", "token": "Sunny ", "index": 0},
    {"event": "execution_token", "token": "in Paris.", "index": 1},
    {"event": "execution_complete", "status": "completed", "output": "Sunny in Paris.",
     "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "latency_ms": 12},
]  # fmt: skip


class RunGateway(ScriptedGateway):
    """:class:`ScriptedGateway` plus agent runs whose events the test scripts.

    ``execute`` is accepted as ``exec_<n>`` and :attr:`script` is published at
    once, in the same batch as the reply (the race ``execute()`` must survive).
    Every run event is kept, so ``channel.history`` and a ``channel.subscribe``
    with ``since`` replay it like the real gateway does.

    Attributes:
        script: Event data published right after each ``execute.accepted``.
        cancel_ok: The ``ok`` of ``execution.cancelled``; when true, a
            ``cancelled`` error event follows.
        published: Channel → the ``channel_message`` frames published on it.
        executes: Every ``execute`` frame received.
    """

    def __init__(self, *, epoch: str = "memory-1") -> None:
        super().__init__(epoch=epoch)
        self.script: list[dict[str, Any]] = []
        self.cancel_ok = True
        self.published: dict[str, list[dict[str, Any]]] = {}
        self.executes: list[dict[str, Any]] = []
        self.transport: MemoryTransport | None = None

    def emit(self, execution_id: str, data: dict[str, Any], *, agent_id: str = "agent") -> None:
        """Publish one run event (and deliver it to the last connection)."""
        channel = f"executions:{execution_id}"
        offset = self.offsets[channel] = self.offsets.get(channel, 0) + 1
        payload = {"execution_id": execution_id, "agent_id": agent_id, **data}
        frame = channel_message(
            channel, payload, event_id=f"{execution_id}-{offset}", offset=offset, epoch=self.epoch
        )
        self.published.setdefault(channel, []).append(frame)
        if self.transport is not None and self.transport.is_connected:
            self.transport.feed(frame)

    def __call__(self, transport: MemoryTransport, frame: dict[str, Any]) -> None:
        self.transport = transport
        kind = frame.get("type")
        if kind in self.hold or kind in self.refuse or "ref" not in frame:
            super().__call__(transport, frame)
            return
        ref = frame["ref"]
        if kind == "execute":
            self.executes.append(frame)
            execution_id = f"exec_{len(self.executes)}"
            transport.feed(
                {
                    "type": "execute.accepted",
                    "execution_id": execution_id,
                    "channel": f"executions:{execution_id}",
                    "ref": ref,
                }
            )
            for data in self.script:
                self.emit(execution_id, data, agent_id=str(frame.get("agent_id")))
        elif kind == "execution.cancel":
            execution_id = str(frame.get("execution_id"))
            reply = {"type": "execution.cancelled", "execution_id": execution_id}
            transport.feed({**reply, "ok": self.cancel_ok, "ref": ref})
            if self.cancel_ok:
                error = {"code": "CANCELLED", "message": "cancelled"}
                self.emit(execution_id, {"event": "execution_error", "status": "cancelled",
                                         "error": error})  # fmt: skip
        elif kind == "channel.history":
            messages = self.published.get(str(frame.get("channel")), [])
            limit = frame.get("limit")
            transport.feed(
                {
                    "type": "channel.history",
                    "channel": frame.get("channel"),
                    "messages": messages[-limit:] if isinstance(limit, int) else messages,
                    "offset": self.offsets.get(str(frame.get("channel")), 0),
                    "epoch": self.epoch,
                    "ref": ref,
                }
            )
        elif kind == "channel.subscribe" and "since" in frame:
            super().__call__(transport, frame)
            since = frame["since"]
            if since.get("epoch") == self.epoch:
                for message in self.published.get(str(frame.get("channel")), []):
                    if message["offset"] > since["offset"]:
                        transport.feed(message)
        else:
            super().__call__(transport, frame)
