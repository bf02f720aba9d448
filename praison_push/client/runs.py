"""The client's run registry: one handle per watched run, fed from the receive loop.

``execute`` and ``attach`` register a run here by its channel; every message
of that channel then goes to the run's :class:`~.recorder.RunRecorder` before
the client's own de-duplication (the recorder de-duplicates by itself, see
there), so the handle sees each event once and in the gateway's order — also
across a reconnect, since the run channel is resubscribed with ``since`` like
any other. The subscription is held for the run in the session (unless the
user subscribed the channel too); when the terminal event arrives the registry
lets go of the run (its data stays in the handle) and reports the channel, so
the client drops that subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from praison_push.protocol import ErrorCode, FrameError
from praison_push.protocol.runs import run_channel

from .execution import Execution, RunControls
from .recorder import RunRecorder
from .requests import ReplyHook
from .session import ClientSession
from .values import ChannelMessage

__all__ = ["Request", "RunRegistry"]


class Request(Protocol):
    """Sends a request frame and returns its reply (``Requester.request``)."""

    def __call__(
        self, frame: dict[str, Any], *, on_reply: ReplyHook | None = ..., resend: bool = ...
    ) -> Awaitable[dict[str, Any]]: ...


class RunRegistry:
    """Watched runs by channel, and the requests that start, attach and replay them.

    Args:
        session: Holds the subscriptions made for runs.
        request: Sends a request and returns its reply.
        controls: What each handle may ask of the client.
        ended: Called with a run's channel once its terminal event arrived.
    """

    def __init__(
        self,
        session: ClientSession,
        request: Request,
        controls: RunControls | None = None,
        ended: Callable[[str], None] | None = None,
    ) -> None:
        self._session = session
        self._request = request
        self._controls = controls
        self._ended = ended
        self._runs: dict[str, tuple[RunRecorder, Execution]] = {}

    def __repr__(self) -> str:
        return f"<RunRegistry {len(self._runs)} runs>"

    def get(self, channel: str) -> Execution | None:
        """The handle of the run watched on ``channel``."""
        entry = self._runs.get(channel)
        return None if entry is None else entry[1]

    # --- starting and attaching ---------------------------------------------------------

    async def start(self, frame: dict[str, Any]) -> Execution:
        """Send an ``execute`` frame; the accepted run's handle, watched before any event.

        The reply hook runs in the receive loop, so the run's events — which
        may be the very next frames — reach the handle. Never sent twice.
        """
        accepted: list[Execution] = []

        def on_accepted(reply: dict[str, Any]) -> None:
            execution_id, channel = reply.get("execution_id"), reply.get("channel")
            if not isinstance(execution_id, str) or not execution_id:
                raise FrameError(
                    ErrorCode.BAD_FRAME,
                    "execute.accepted names no execution_id",
                    field="execution_id",
                )
            channel = channel if isinstance(channel, str) and channel else None
            accepted.append(self.watch(execution_id, str(frame["agent_id"]), channel))

        await self._request(frame, on_reply=on_accepted, resend=False)
        return accepted[0]

    async def attach(self, execution_id: str, channel: str) -> Execution:
        """Watch the run on ``channel``, replayed from its first event (see ``attach``)."""
        existing = self.get(channel)
        if existing is not None:
            return existing
        epoch, agent_id = await self.epoch(channel)
        existing = self.get(channel)  # attached meanwhile by another call
        if existing is not None:
            return existing
        execution = self.watch(execution_id, agent_id, channel)
        try:
            await self._request(self._session.replay_from(channel, epoch))
        except BaseException:
            self.forget(execution)
            raise
        return execution

    def watch(self, execution_id: str, agent_id: str = "", channel: str | None = None) -> Execution:
        """The handle of a run, registered (and its channel held) unless watched already."""
        channel = channel or run_channel(execution_id)
        existing = self._runs.get(channel)
        if existing is not None:
            return existing[1]
        recorder = RunRecorder(execution_id, agent_id, channel=channel, on_end=self._on_end)
        execution = Execution(recorder, self._controls)
        self._runs[channel] = (recorder, execution)
        self._session.hold_for_run(channel)
        return execution

    def forget(self, execution: Execution) -> None:
        """Stop routing to ``execution`` and drop what was held for it (attaching failed)."""
        entry = self._runs.get(execution.channel)
        if entry is not None and entry[1] is execution:
            del self._runs[execution.channel]
        self._session.release_run(execution.channel)

    async def epoch(self, channel: str) -> tuple[str, str]:
        """A run channel's history epoch, and its agent if an event names it.

        Replaying a run from its first event takes ``since {offset: 0, epoch}``,
        and only the gateway knows the epoch: the last history entry comes
        with it (and cheaply so, ``limit: 1``).
        """
        frame = {"type": "channel.history", "channel": channel, "limit": 1}
        reply = await self._request(frame)
        epoch = reply.get("epoch")
        if not isinstance(epoch, str):
            raise FrameError(ErrorCode.BAD_FRAME, "channel.history names no epoch", field="epoch")
        messages = reply.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            data = messages[-1].get("data")
            if isinstance(data, dict) and isinstance(data.get("agent_id"), str):
                return epoch, data["agent_id"]
        return epoch, ""

    async def resubscribe_frame(self, channel: str) -> dict[str, Any]:
        """The frame renewing ``channel`` after a reconnect (see ``ClientSession``).

        A run accepted but not heard from yet is replayed from its first event.
        """
        if channel in self._runs and self._session.position(channel) is None:
            epoch, _ = await self.epoch(channel)
            return self._session.replay_from(channel, epoch)
        return self._session.resubscribe_frame(channel)

    # --- fed from the receive loop --------------------------------------------------------

    def route(self, message: ChannelMessage) -> None:
        """Record ``message`` in the run watched on its channel, if any."""
        entry = self._runs.get(message.channel)
        if entry is not None:
            entry[0].record(message)

    def history_lost(self, channel: str, *, emptied: bool) -> None:
        """Events of the run on ``channel`` are gone from the gateway's history.

        The record is flagged incomplete; when the gateway started a new, empty
        epoch, it no longer knows the run at all, and the run ends here as
        ``EXECUTION_LOST``.
        """
        entry = self._runs.get(channel)
        if entry is None:
            return
        recorder = entry[0]
        recorder.gap = True
        if emptied:
            recorder.lose("the gateway no longer has this run (did it restart?)")

    def close(self, error: BaseException) -> None:
        """The client closed for good: release whoever waits on a run, forget every run."""
        for recorder, _ in self._runs.values():
            recorder.fail(error)
        self._runs.clear()

    def _on_end(self, recorder: RunRecorder) -> None:
        entry = self._runs.get(recorder.channel)
        if entry is not None and entry[0] is recorder:
            del self._runs[recorder.channel]
        if self._ended is not None:
            self._ended(recorder.channel)
