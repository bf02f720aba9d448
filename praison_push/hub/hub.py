"""The hub: sessions, channels, presence and publications, with no web framework.

Transports (WebSocket and SSE today) are thin adapters around it: they
authenticate with :meth:`Hub.authenticate`, open a :class:`Session` with
:meth:`Hub.connect`, feed each received text frame to :meth:`Hub.receive`,
drain the session's outbox into their socket, and call :meth:`Hub.disconnect`
when the connection ends. Backends (history, broker) are injected, so the same
hub runs in a notebook on memory backends or scaled out over Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..agents import AgentRegistry, register_demo_agents
from ..backends.base import BackendUnavailableError, Broker, HistoryRead, HistoryStore
from ..config import GatewayConfig
from ..protocol import PROTOCOL_VERSION, CloseCode, ErrorCode, FrameError, encode_json
from ..protocol import frames as f
from ..protocol.codec import decode_object, validate_client_frame
from ..protocol.dialects import (
    Dialect,
    detect_dialect,
    envelope_auth_error,
    envelope_auth_success,
    from_agent_chat,
    from_envelope,
)
from .auth import Authenticator
from .channels import Channel, ChannelRegistry, matches_filters
from .dedup import DedupWindow
from .encoding import SSE_EXECUTION
from .executions import EXECUTIONS_FEED, Execution, ExecutionManager, execution_channel
from .ids import IdFactory
from .limits import ConnectionLimiter
from .presence import Presence
from .scopes import display_name, resolve_channel, scoped_name, visible_names
from .session import Principal, Session

__all__ = ["Hub"]

logger = logging.getLogger("praison_push.hub")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_Handler = Callable[[Session, Any], Awaitable[None]]


_RUN_ENDS = frozenset({"execution_complete", "execution_error"})


def _run_channel(feed_name: str, frame: dict[str, Any]) -> str:
    """The internal run channel of a run event published on feed ``feed_name``."""
    org = feed_name.partition("#")[2] or None
    data = frame.get("data")
    execution_id = data.get("execution_id") if isinstance(data, dict) else None
    return scoped_name(execution_channel(str(execution_id)), org)


def _ends_run(frame: dict[str, Any]) -> bool:
    """Whether ``frame`` is a run's last event."""
    data = frame.get("data")
    return isinstance(data, dict) and data.get("event") in _RUN_ENDS


class Hub:
    """One gateway node's state and behaviour.

    Args:
        config: The gateway configuration.
        history: Per-channel history store.
        broker: Carries publications to every node (this one included).
        clock: Wall-clock time source, injectable for tests.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        history: HistoryStore,
        broker: Broker,
        agents: AgentRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.history = history
        self.broker = broker
        self.clock = clock
        self.auth = Authenticator(config.auth)
        self.channels = ChannelRegistry()
        self.sessions: dict[str, Session] = {}
        self._ids = IdFactory()
        self.server_id = self._ids.prefix
        self._presence = Presence(config.push.presence, self.channels, self._ids, clock)
        self._limiter = ConnectionLimiter(config.limits)
        self._dedup = DedupWindow(config.history.dedup_window)
        self._maintenance: asyncio.Task[None] | None = None
        # Channel → buffers of sessions whose subscribe is reading history (_read_joining).
        self._joining: dict[str, list[list[dict[str, Any]]]] = {}
        if agents is None:
            agents = AgentRegistry()
            if config.demo_agents:
                register_demo_agents(agents)
        self.agents = agents
        self.executions = ExecutionManager(self.agents, self._publish_event)
        broker.set_handler(self._deliver_local)
        self._handlers: dict[str, _Handler] = {
            "channel.create": self._on_create,
            "channel.subscribe": self._on_subscribe,
            "channel.unsubscribe": self._on_unsubscribe,
            "channel.publish": self._on_publish,
            "channel.list": self._on_list,
            "channel.history": self._on_history,
            "presence.heartbeat": self._on_heartbeat,
            "presence.query": self._on_presence_query,
            "message_ack": self._on_ack,
            "message_nack": self._on_nack,
            "execute": self._on_execute,
            "execution.cancel": self._on_cancel,
            "ping": self._on_ping,
            "pong": self._on_pong,
            "auth": self._on_auth,
        }

    def __repr__(self) -> str:
        return f"<Hub {self.server_id} sessions={len(self.sessions)} channels={len(self.channels)}>"

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start background upkeep (idempotent; called on first connection)."""
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.get_running_loop().create_task(
                self._maintain(), name="praison-push-hub-maintenance"
            )

    async def close(self) -> None:
        """Close every session (1001, clients reconnect elsewhere), stop runs and upkeep.

        Then release the backends (the broker's listener, the Redis pool), so
        a gateway that stops leaves no task or connection behind.
        """
        await self.executions.close()
        for session in list(self.sessions.values()):
            session.close(CloseCode.GOING_AWAY, "gateway shutting down")
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        await self.broker.close()
        await self.history.close()

    # --- connection lifecycle, used by transport adapters -------------------

    @property
    def auth_required(self) -> bool:
        return self.auth.required

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal for ``token``, or ``None`` when refused (constant time)."""
        return self.auth.check(token)

    def connect(
        self,
        *,
        client_id: str | None,
        principal: Principal,
        peer: str,
        dialect: str | None = None,
        chat_session: str | None = None,
        greet: bool = True,
    ) -> Session:
        """Open a session and queue its greeting.

        Args:
            client_id: The identity the client asked to keep (invalid ones are replaced).
            principal: Who authenticated.
            peer: Remote address, for per-IP limits.
            dialect: The wire dialect when already known (``?protocol=``, SSE);
                ``None`` lets the first frame decide (PROTOCOL.md §1).
            chat_session: The agent-chat session of ``/ws/{session_id}``.
            greet: Queue the greeting (``connected``, or ``auth_success`` for envelope).

        Raises:
            LimitExceeded: a connection limit is reached (close with 4008).
        """
        self._limiter.acquire(peer, principal)
        self.start()
        if client_id is None or not _CLIENT_ID.match(client_id):
            client_id = self._ids.next()
        limits = self.config.limits
        session = Session(
            self._ids.next(),
            client_id,
            principal=principal,
            peer=peer,
            now=self.clock(),
            max_frames=limits.send_queue_max_frames,
            max_bytes=limits.send_queue_max_bytes,
            dialect=dialect or Dialect.PRAISON.value,
            dialect_fixed=dialect is not None,
            chat_session=chat_session,
        )
        self.sessions[session.session_id] = session
        if greet:
            self._greet(session)
        logger.debug("session %s opened for client %s", session.session_id, client_id)
        return session

    def _greet(self, session: Session, ref: Any = None) -> None:
        if session.dialect == Dialect.ENVELOPE.value:
            principal = session.principal
            success = envelope_auth_success(principal.user_id, principal.org_id, session.session_id)
            session.send_text(encode_json(success))
        else:
            session.send(self.greeting(session, ref))

    def refuse(self, session_dialect: str | None, message: str) -> tuple[str, int]:
        """The refusal frame (text) and close code for a failed authentication."""
        if session_dialect == Dialect.ENVELOPE.value:
            return encode_json(envelope_auth_error(message)), CloseCode.AUTH_FAILED
        refusal = {"type": "hello_error", "code": "auth_required", "message": message}
        return encode_json(refusal), CloseCode.AUTH_REQUIRED

    def greeting(self, session: Session, ref: Any = None) -> dict[str, Any]:
        """The ``connected`` frame (PROTOCOL.md §1)."""
        frame: dict[str, Any] = {
            "type": "connected",
            "client_id": session.client_id,
            "server_id": self.server_id,
            "protocol": PROTOCOL_VERSION,
            "heartbeat_interval": self.config.push.presence.heartbeat_interval,
            "resumed": False,
        }
        if ref is not None:
            frame["ref"] = ref
        return frame

    def disconnect(self, session: Session) -> None:
        """Forget a closed session: leave its channels, announce, release limits."""
        if self.sessions.pop(session.session_id, None) is None:
            return
        for name in list(session.subscriptions):
            channel = self.channels.get(name)
            if channel is None:
                continue
            if self.channels.unsubscribe(channel, session):
                self._presence.announce(channel, "presence_leave", session)
            self.channels.discard_if_unused(channel)
        self._limiter.release(session.peer, session.principal)
        if session.close_code is None:
            session.close(CloseCode.NORMAL)
        logger.debug("session %s closed", session.session_id)

    def detect(self, text: str) -> str:
        """The dialect a connection's first frame implies (PROTOCOL.md §1)."""
        try:
            obj = decode_object(text, max_size=self.config.limits.max_message_size)
        except FrameError:
            return Dialect.PRAISON.value
        return (detect_dialect(None, obj) or Dialect.PRAISON).value

    def token_from_auth_frame(self, text: str) -> str | None:
        """The token of a first-frame ``auth`` (native ``token`` or envelope ``payload.token``)."""
        try:
            obj = decode_object(text, max_size=self.config.limits.max_message_size)
        except FrameError:
            return None
        if obj.get("type") != "auth":
            return None
        token = obj.get("token")
        payload = obj.get("payload")
        if token is None and isinstance(payload, dict):
            token = payload.get("token")
        return token if isinstance(token, str) else None

    # --- frames ------------------------------------------------------------

    async def receive(self, session: Session, text: str | bytes) -> None:
        """Handle one frame from ``session``; problems become ``error`` frames.

        Never raises for anything the client sent: the connection and the
        gateway survive bad input (PROTOCOL.md §6).
        """
        session.last_seen = self.clock()
        if session.stale:
            session.stale = False
            self._presence.announce_everywhere(session, "presence_update")
        ref: Any = None
        try:
            obj = decode_object(text, max_size=self.config.limits.max_message_size)
            obj = self._to_native(session, obj)
            ref = obj.get("ref")
            if not isinstance(ref, (str, int)) or isinstance(ref, bool):
                ref = None
            frame = validate_client_frame(obj)
            await self._handlers[frame.type](session, frame)
        except FrameError as exc:
            self._error(session, exc, ref)
        except BackendUnavailableError as exc:
            # Redis is away: the client may retry; the broker logs and reconnects.
            logger.warning("backend unavailable for a frame from %s: %s", session.session_id, exc)
            unavailable = FrameError(ErrorCode.INTERNAL, f"backend unavailable, retry later: {exc}")
            self._error(session, unavailable, ref)
        except Exception:
            logger.exception("internal error handling a frame from %s", session.session_id)
            self._error(session, FrameError(ErrorCode.INTERNAL, "internal error"), ref)

    def _to_native(self, session: Session, obj: dict[str, Any]) -> dict[str, Any]:
        """Fix the dialect on the first frame, then translate foreign frames."""
        if not session.dialect_fixed:
            detected = detect_dialect(None, obj)
            session.set_dialect((detected or Dialect.PRAISON).value)
        if session.dialect == Dialect.ENVELOPE.value:
            return from_envelope(obj)
        if session.dialect == Dialect.AGENT_CHAT.value:
            return from_agent_chat(obj, session.chat_session)
        return obj

    def _error(self, session: Session, exc: FrameError, ref: Any) -> None:
        frame: dict[str, Any] = {"type": "error", **exc.to_error_fields()}
        if ref is not None:
            frame["ref"] = ref
        session.send(frame)

    @staticmethod
    def _reply(session: Session, request: Any, frame: dict[str, Any]) -> None:
        if request.ref is not None:
            frame["ref"] = request.ref
        session.send(frame)

    def _require_push(self) -> None:
        if not self.config.push.enabled:
            raise FrameError(ErrorCode.FORBIDDEN, "push is disabled (PushConfig.enabled=False)")

    def _channel_for(self, name: str, *, create: bool) -> Channel:
        channel = self.channels.get(name)
        if channel is not None:
            return channel
        if not create:
            raise FrameError(
                ErrorCode.UNKNOWN_CHANNEL,
                f"channel {name!r} does not exist (auto_create_channels is off)",
                field="channel",
            )
        limit = self.config.limits.max_channels
        if len(self.channels) >= limit:
            raise FrameError(
                ErrorCode.LIMIT_EXCEEDED,
                f"max_channels={limit} reached",
                limit="max_channels",
                details={"max": limit},
            )
        return self.channels.create(name, self.clock())

    async def _on_auth(self, session: Session, frame: f.AuthFrame) -> None:
        """An ``auth`` frame on an open connection: re-check the token, then greet.

        The token may already have come with the upgrade (or not be needed); a
        token that is given must still be valid.
        """
        if self.auth.required and self.authenticate(frame.token) is None:
            text, code = self.refuse(session.dialect, "invalid token")
            session.send_text(text)
            session.close(code, "invalid token")
            return
        self._greet(session, frame.ref)

    async def _on_create(self, session: Session, frame: f.ChannelCreateFrame) -> None:
        self._require_push()
        self._forbid_reserved(frame.channel)
        channel = self._channel_for(self._resolve(frame.channel, session), create=True)
        channel.explicit = True
        if frame.metadata:
            channel.metadata.update(frame.metadata)
        self._reply(
            session, frame, {"type": "channel.created", "channel": frame.channel, "ok": True}
        )

    def _resolve(self, name: str, session: Session) -> str:
        """The internal channel ``session`` means by ``name``, or ``forbidden``."""
        return resolve_channel(name, session.principal)

    async def _on_subscribe(self, session: Session, frame: f.ChannelSubscribeFrame) -> None:
        self._require_push()
        name = self._resolve(frame.channel, session)
        limit = self.config.limits.max_subscriptions_per_connection
        if name not in session.subscriptions and len(session.subscriptions) >= limit:
            raise FrameError(
                ErrorCode.LIMIT_EXCEEDED,
                f"max_subscriptions_per_connection={limit} reached",
                limit="max_subscriptions_per_connection",
                details={"max": limit},
            )
        self._check_agent_filter(name, frame.filters)
        filters = self._merged_filters(session, name, frame.filters)
        channel = self._channel_for(name, create=self.config.auto_create_channels)
        since = None if frame.since is None else (frame.since.offset, frame.since.epoch)
        # A run is a bounded stream whose history exists to be replayed (PROTOCOL.md
        # §4): a watcher naming no position gets the run from its start, not a tail
        # without its execution_start. Other channels start live.
        whole_run = since is None and name.startswith("executions:")
        read_limit = None if since or whole_run else 0
        read, held = await self._read_joining(name, session, since, read_limit)
        if self.sessions.get(session.session_id) is not session:
            self.channels.discard_if_unused(channel)
            return  # the connection closed while history was read
        # The channel may have been dropped while the history was read (its last
        # subscriber left): take the registry's current one.
        channel = self.channels.create(name, self.clock())
        # No await from here on: the replay, the held and the live stream join.
        joined = self.channels.subscribe(channel, session, filters)
        reply: dict[str, Any] = {
            "type": "channel.subscribed",
            "channel": frame.channel,
            "ok": True,
            "offset": read.offset,
            "epoch": read.epoch,
            "recovered": read.recovered,
        }
        if frame.filters is not None:
            reply["filters"] = frame.filters
        self._reply(session, frame, reply)
        for message in read.messages:
            # The replay honours the subscription's filters, as live delivery does.
            if filters is None or matches_filters(filters, message.get("data")):
                session.send(message)
        if held:
            self._flush_held(channel, session, read, held)
        if read.messages and _ends_run(read.messages[-1]):
            self._release_run(channel)  # a finished run: nothing more will come
        elif joined:
            self._presence.announce(channel, "presence_join", session)

    async def _read_joining(
        self, name: str, session: Session, since: tuple[int, str] | None, limit: int | None
    ) -> tuple[HistoryRead, list[dict[str, Any]]]:
        """Read history for a subscribe, holding the publications that arrive meanwhile.

        With memory backends the read never yields, so nothing is held. With
        Redis it does: a publication delivered during the read has not reached
        the not-yet-subscribed session, and may or may not be in the read. It is
        held here (until the broker's :meth:`~Broker.sync` proves that nothing
        the read holds is still on its way), and :meth:`_flush_held` sends the
        ones the read did not cover — no gap, no duplicate. A session already
        subscribed receives them live, so nothing is held for it.
        """
        await self.broker.ready()  # publications from now on reach _deliver_local
        if name in session.subscriptions:
            return await self.history.read(name, since=since, limit=limit), []
        held: list[dict[str, Any]] = []
        buffers = self._joining.setdefault(name, [])
        buffers.append(held)
        try:
            read = await self.history.read(name, since=since, limit=limit)
            await self.broker.sync()  # what the read holds has reached _deliver_local
        finally:
            buffers.remove(held)
            if not buffers:
                del self._joining[name]
        return read, held

    def _flush_held(
        self, channel: Channel, session: Session, read: HistoryRead, held: list[dict[str, Any]]
    ) -> None:
        """Send ``session`` the held publications after ``read.offset``, as live ones are."""
        solo = Channel(channel.name, channel.created_at)
        solo.subscribers[session] = channel.subscribers[session]
        for frame in held:
            offset = frame.get("offset")
            covered = isinstance(offset, int) and offset <= read.offset
            if covered and frame.get("epoch") == read.epoch:
                continue  # in the read (replayed, or before a live start)
            solo.fan_out(frame, frame.get("source"), self._skip_for(channel.name, frame))

    def _check_agent_filter(self, name: str, filters: f.Filters | None) -> None:
        """Refuse watching the runs of an agent that does not exist (agent-chat ``subscribe``)."""
        if filters is None or "agent_id" not in filters:
            return
        if display_name(name) != EXECUTIONS_FEED:
            return
        wanted = filters["agent_id"]
        for agent_id in [wanted] if isinstance(wanted, str) else wanted:
            if not agent_id:
                raise FrameError(
                    ErrorCode.INVALID_FIELD,
                    "No agent_id provided for subscription",
                    field="agent_id",
                )
            if agent_id not in self.agents:
                raise FrameError(
                    ErrorCode.UNKNOWN_AGENT,
                    f"No agent with ID '{agent_id}' exists",
                    field="agent_id",
                )

    @staticmethod
    def _merged_filters(session: Session, name: str, filters: f.Filters | None) -> f.Filters | None:
        """The filters a subscribe leaves in force.

        A native re-subscribe replaces its filters. An agent-chat client's
        ``subscribe {agent_id}`` adds an agent to those it watches, as the agent
        framework guide's server keeps a set of agents per client.
        """
        current = session.subscriptions.get(name)
        if (
            session.dialect != Dialect.AGENT_CHAT.value
            or filters is None
            or current is None
            or set(filters) != {"agent_id"}
            or set(current) != {"agent_id"}
        ):
            return filters
        agents: list[str] = []
        for value in (current["agent_id"], filters["agent_id"]):
            for agent_id in [value] if isinstance(value, str) else value:
                if agent_id not in agents:
                    agents.append(agent_id)
        return {"agent_id": agents}

    async def _on_unsubscribe(self, session: Session, frame: f.ChannelUnsubscribeFrame) -> None:
        self._require_push()
        channel = self.channels.get(self._resolve(frame.channel, session))
        if channel is not None:
            if self.channels.unsubscribe(channel, session):
                self._presence.announce(channel, "presence_leave", session)
            self.channels.discard_if_unused(channel)
        reply = {"type": "channel.unsubscribed", "channel": frame.channel, "ok": True}
        self._reply(session, frame, reply)

    @staticmethod
    def _forbid_reserved(name: str) -> None:
        """Channels only the gateway writes: ``$…``, run channels and the run feeds.

        A client publishing on ``executions`` could forge run events that
        agent-chat and envelope clients would show as an agent's answer.
        """
        base = name.partition("#")[0]
        if name.startswith("$") or base == EXECUTIONS_FEED or name.startswith("executions:"):
            raise FrameError(
                ErrorCode.FORBIDDEN,
                f"channel {name!r} is reserved for the gateway",
                field="channel",
            )

    async def _on_publish(self, session: Session, frame: f.ChannelPublishFrame) -> None:
        self._require_push()
        self._forbid_reserved(frame.channel)
        name = self._resolve(frame.channel, session)
        now = self.clock()
        # De-duplication is per publishing client: another client reusing an id
        # must not be able to suppress this one's publication.
        dedup_key = None if frame.id is None else f"{session.client_id}\x00{frame.id}"
        if dedup_key is not None:
            earlier = self._dedup.get(name, dedup_key, now)
            if earlier is not None:
                self._reply(session, frame, {**earlier, "delivered": 0, "duplicate": True})
                return
        if name not in self.channels and not self.config.auto_create_channels:
            self._channel_for(name, create=False)  # raises unknown_channel
        # Nobody may listen here (a channel is kept only while it has subscribers
        # or was created explicitly); the publication still goes to history.
        echo_to = session if frame.echo else None
        receipt = await self.publish(
            name, frame.data, source=session.client_id, now=now, echo_to=echo_to
        )
        if dedup_key is not None:
            self._dedup.remember(name, dedup_key, receipt, now)
        self._reply(session, frame, dict(receipt))

    async def publish(
        self,
        channel: str,
        data: Any,
        *,
        source: str | None = None,
        now: float | None = None,
        echo_to: Session | None = None,
    ) -> dict[str, Any]:
        """Publish ``data`` on the internal ``channel`` (also used by the gateway itself).

        Frames name the channel as clients know it (an org scope suffix is
        dropped). The publisher's own connections are left out of the fan-out;
        ``echo_to`` gets a copy anyway when it is subscribed to ``channel``.
        Returns the ``channel.published`` receipt (without ``ref``).
        """
        shown = display_name(channel)
        message: dict[str, Any] = {
            "type": "channel_message",
            "channel": shown,
            "data": data,
            "event_id": self._ids.next(),
            "timestamp": self.clock() if now is None else now,
            "source": source,
        }
        delivered = await self.broker.append_and_publish(self.history, channel, message)
        if echo_to is not None and channel in echo_to.subscriptions and echo_to.send(message):
            delivered += 1
        offset = message["offset"]
        return {
            "type": "channel.published",
            "channel": shown,
            "delivered": delivered,
            "event_id": message["event_id"],
            "offset": offset,
        }

    async def _publish_event(self, channel: str, data: dict[str, Any]) -> Any:
        """Publish one run event (the execution manager's publish)."""
        return await self.publish(channel, data)

    def _deliver_local(self, channel_name: str, frame: dict[str, Any]) -> int:
        if self._joining:
            for held in self._joining.get(channel_name, ()):
                held.append(frame)
        channel = self.channels.get(channel_name)
        if channel is None:
            return 0
        skip = self._skip_for(channel_name, frame)
        delivered = channel.fan_out(frame, frame.get("source"), skip)
        if skip is not None and _ends_run(frame):
            # The feed's copy of a run's last event comes after the run channel's
            # own (one broker, publish order): now the run's watchers have it.
            run = self.channels.get(_run_channel(channel_name, frame))
            if run is not None:
                self._release_run(run)
        return delivered

    def _release_run(self, channel: Channel) -> None:
        """A run ended: its watchers got the last event, so let go of them and the channel.

        Otherwise every run would stay a subscription of its requester (counted
        by ``max_subscriptions_per_connection``) and a channel (``max_channels``)
        forever. The run stays replayable from history.
        """
        for session in list(channel.subscribers):
            self.channels.unsubscribe(channel, session)
        self.channels.discard_if_unused(channel)

    @staticmethod
    def _skip_for(channel_name: str, frame: dict[str, Any]) -> Callable[[Session], bool] | None:
        """Who must not get ``frame`` although subscribed (``None``: nobody)."""
        data = frame.get("data")
        if frame.get("channel") != EXECUTIONS_FEED or not isinstance(data, dict):
            return None
        # A requester already watches its run's own channel: no second copy.
        run_channel = _run_channel(channel_name, frame)

        def skip(session: Session) -> bool:
            return run_channel in session.subscriptions

        return skip

    # --- agent runs ------------------------------------------------------------

    async def _on_execute(self, session: Session, frame: f.ExecuteFrame) -> None:
        limit = self.config.limits.max_runs_per_connection
        if self.executions.running_for(session.client_id) >= limit:
            raise FrameError(
                ErrorCode.LIMIT_EXCEEDED,
                f"max_runs_per_connection={limit} runs are already running",
                limit="max_runs_per_connection",
                details={"max": limit},
            )
        run = self.executions.prepare(
            frame.agent_id,
            frame.input,
            principal=session.principal,
            client_id=session.client_id,
            session_id=frame.session_id or session.chat_session,
        )
        self.watch(session, run)
        reply = {
            "type": "execute.accepted",
            "execution_id": run.execution_id,
            "channel": display_name(run.channel),
        }
        self._reply(session, frame, reply)
        self.executions.start(run)

    def watch(self, session: Session, run: Execution) -> None:
        """Subscribe ``session`` to a run it just started (nothing to replay yet)."""
        channel = self.channels.create(run.channel, self.clock())
        self.channels.subscribe(channel, session, None)

    async def _on_cancel(self, session: Session, frame: f.ExecutionCancelFrame) -> None:
        ok = self.executions.cancel(frame.execution_id, session.principal, session.client_id)
        reply = {"type": "execution.cancelled", "execution_id": frame.execution_id, "ok": ok}
        self._reply(session, frame, reply)

    async def _on_list(self, session: Session, frame: f.ChannelListFrame) -> None:
        self._require_push()
        visible = visible_names(self.channels.names(), session.principal)
        self._reply(session, frame, {"type": "channel.list", "channels": visible})

    async def _on_history(self, session: Session, frame: f.ChannelHistoryFrame) -> None:
        self._require_push()
        since = None if frame.since is None else (frame.since.offset, frame.since.epoch)
        name = self._resolve(frame.channel, session)
        read = await self.history.read(name, since=since, limit=frame.limit)
        reply = {
            "type": "channel.history",
            "channel": frame.channel,
            "messages": read.messages,
            "offset": read.offset,
            "epoch": read.epoch,
            "recovered": read.recovered,
        }
        self._reply(session, frame, reply)

    # --- presence -----------------------------------------------------------

    async def _on_heartbeat(self, session: Session, frame: f.PresenceHeartbeatFrame) -> None:
        self._require_push()
        changed = frame.status != session.status or (
            frame.metadata is not None and frame.metadata != session.metadata
        )
        session.status = frame.status
        if frame.metadata is not None:
            session.metadata = dict(frame.metadata)
        if changed:
            self._presence.announce_everywhere(session, "presence_update")
        self._reply(session, frame, {"type": "presence.heartbeat_ack", "ok": True})

    def presence(
        self, channel: str | None = None, viewer: Session | None = None
    ) -> list[dict[str, Any]]:
        """Presence entries, one per client, of a channel or of the whole node.

        With a ``viewer``, ``channel`` is resolved as that connection means it
        (org scopes), and refused if it may not see it.
        """
        if channel is None:
            # The whole node, as far as the viewer's organisation goes.
            org = None if viewer is None else viewer.principal.org_id
            sessions: list[Session] = [
                s for s in self.sessions.values() if viewer is None or s.principal.org_id == org
            ]
        else:
            found = self.channels.get(channel if viewer is None else self._resolve(channel, viewer))
            sessions = [] if found is None else list(found.subscribers)
        return self._presence.entries(sessions)

    async def _on_presence_query(self, session: Session, frame: f.PresenceQueryFrame) -> None:
        self._require_push()
        if not self.config.push.presence.enabled:
            raise FrameError(ErrorCode.FORBIDDEN, "presence is disabled (PresenceConfig.enabled)")
        reply = {
            "type": "presence.list",
            "channel": frame.channel,
            "presence": self.presence(frame.channel, session),
        }
        self._reply(session, frame, reply)

    # --- acks and keepalive -------------------------------------------------

    async def _on_ack(self, session: Session, frame: f.MessageAckFrame) -> None:
        if frame.event_id is None and not frame.event_ids:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "field 'event_id' or 'event_ids' is required",
                field="event_id",
            )
        reply: dict[str, Any] = {"type": "ack_received", "event_id": frame.event_id, "ok": True}
        if frame.event_ids:
            reply["event_ids"] = frame.event_ids
        self._reply(session, frame, reply)

    async def _on_nack(self, session: Session, frame: f.MessageNackFrame) -> None:
        self._reply(
            session, frame, {"type": "nack_received", "event_id": frame.event_id, "ok": True}
        )

    async def _on_ping(self, session: Session, frame: f.PingFrame) -> None:
        reply: dict[str, Any] = {"type": "pong"}
        if frame.id is not None:
            reply["id"] = frame.id
        self._reply(session, frame, reply)

    async def _on_pong(self, session: Session, frame: f.PongFrame) -> None:
        return None

    # --- upkeep ---------------------------------------------------------------

    def _tick_interval(self) -> float:
        limits, presence = self.config.limits, self.config.push.presence
        return max(0.05, min(1.0, limits.idle_timeout / 4, presence.heartbeat_interval / 4))

    async def _maintain(self) -> None:
        interval = self._tick_interval()
        while True:
            await asyncio.sleep(interval)
            try:
                self.sweep(self.clock())
            except Exception:
                logger.exception("hub upkeep failed")

    def sweep(self, now: float) -> None:
        """Close idle sessions, ping quiet ones, mark silent clients offline, and
        abort connections whose close has not completed (``Session.ABORT_GRACE``)."""
        idle_timeout = self.config.limits.idle_timeout
        presence = self.config.push.presence
        heartbeat = presence.heartbeat_interval
        ping = {"type": "ping"}
        grace = max(2 * self._tick_interval(), min(Session.ABORT_GRACE, idle_timeout))
        for session in list(self.sessions.values()):
            if session.closing:
                # Still here after a close request: usually a peer that stopped reading,
                # whose transport cannot even write the close frame.
                if session.closing_since is None:
                    session.closing_since = now
                elif now - session.closing_since >= grace and session.on_abort is not None:
                    logger.info(
                        "aborting %s: close %s not completed after %.1fs",
                        session.session_id,
                        session.close_code,
                        now - session.closing_since,
                    )
                    session.abort()
                continue
            silent = now - session.last_seen
            if session.dialect == SSE_EXECUTION:
                # An SSE stream never speaks; its end is the HTTP disconnect or the run's end.
                if silent >= heartbeat and now - session.last_ping >= heartbeat:
                    session.last_ping = now
                    session.send(ping)  # an SSE comment keeps proxies from timing out
                continue
            if silent >= idle_timeout:
                session.close(CloseCode.IDLE_TIMEOUT, "idle timeout")
                session.closing_since = now
                continue
            if silent >= heartbeat and now - session.last_ping >= heartbeat:
                # Keepalive for quiet clients, so dead peers are noticed (PROTOCOL.md §2).
                session.last_ping = now
                session.send(ping)
            if presence.enabled and silent >= presence.offline_timeout and not session.stale:
                session.stale = True
                self._presence.announce_everywhere(session, "presence_update")
