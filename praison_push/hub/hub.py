"""The hub: the face transports and the server see, over the node's parts.

Transports (WebSocket and SSE today) are thin adapters around it: they
authenticate with :meth:`Hub.authenticate`, open a :class:`Connection` with
:meth:`Hub.connect`, feed each received text frame to :meth:`Hub.receive`,
drain the connection's outbox into their socket, and call :meth:`Hub.disconnect`
when the connection ends. Backends (history, broker) and the agents are
injected, so the same hub runs in a notebook on memory backends or scaled out
over Redis.

Inside, the work is cut along centrifuge's seams: :class:`~.node.Node`
(publications, fan-out, history joins, presence), :class:`~.commands.Commands`
(one connection's frames), :mod:`.handshake` (greeting and refusal),
:func:`~.runs.start_run` and :class:`~.upkeep.Upkeep` (timers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..agents import AgentRegistry
from ..backends.base import Broker, DedupStore, DeliveryStore, HistoryStore, PresenceStore
from ..config import GatewayConfig
from ..protocol.codec import encodable
from ..protocol.dialects import Dialect
from .auth import AuthenticateHook, AuthError, AuthRequest
from .commands import Commands
from .connection import Connection
from .handshake import valid_client_id
from .node import Node
from .permissions import AuthorizeHook
from .presence_queries import presence_of
from .principal import Principal
from .run_manager import RunRecord
from .runs import start_run, watch_run
from .upkeep import Upkeep

__all__ = ["Hub"]

logger = logging.getLogger("praison_push.hub")


class Hub:
    """One gateway node, as its transports and its server see it.

    Args:
        config: The gateway configuration.
        history: Per-channel history store.
        broker: Carries publications to every node (this one included).
        agents: The agents runs may use (an empty registry by default; the
            server's :class:`~praison_push.server.Gateway` adds the demo agents).
        clock: Wall-clock time source, injectable for tests.
        delivery: The store of acknowledged delivery (PROTOCOL.md §3); ``None``
            turns tracking off. The server's :class:`~praison_push.server.Gateway`
            gives one whenever ``DeliveryConfig.enabled``.
        authenticate: Your own token check (:data:`~.auth.AuthenticateHook`),
            which then decides alone who connects.
        authorize: Your own channel rule (:data:`~.permissions.AuthorizeHook`),
            asked before the configured ones.
        presence_store: Presence shared with the other gateways (Redis); ``None``:
            this gateway's presence is its own.
        dedup: The publish de-duplication window; ``None``: this gateway's own,
            in memory.

    Attributes:
        node: The node's state and publication path.
        upkeep: The node's timers.
        connections: Every open connection, by ``connection_id``.
        channels: The node's channels.
        runs: The agent runs started here.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        history: HistoryStore,
        broker: Broker,
        agents: AgentRegistry | None = None,
        clock: Callable[[], float] = time.time,
        delivery: DeliveryStore | None = None,
        authenticate: AuthenticateHook | None = None,
        authorize: AuthorizeHook | None = None,
        presence_store: PresenceStore | None = None,
        dedup: DedupStore | None = None,
    ) -> None:
        agents = AgentRegistry() if agents is None else agents
        self.node = node = Node(
            config,
            history=history,
            broker=broker,
            agents=agents,
            clock=clock,
            delivery=delivery,
            authenticate=authenticate,
            authorize=authorize,
            presence_store=presence_store,
            dedup=dedup,
        )
        self.commands = Commands(node)
        self.upkeep = Upkeep(node)
        self.config = config
        self.history = history
        self.broker = broker
        self.agents = agents
        self.clock = clock
        self.server_id = node.server_id
        self.connections = node.connections
        self.channels = node.channels
        self.runs = node.runs
        self.tracker = node.tracker
        self.metrics = node.metrics

    def __repr__(self) -> str:
        return (
            f"<Hub {self.server_id} connections={len(self.connections)} "
            f"channels={len(self.channels)}>"
        )

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start background upkeep and delivery tracking (idempotent; called on first
        connection)."""
        self.upkeep.start()
        if self.tracker is not None:
            self.tracker.start()

    async def close(self) -> None:
        """Close every connection (1001, clients reconnect elsewhere), stop runs and upkeep.

        Then release the backends (the broker's listener, the Redis pool), so
        a gateway that stops leaves no task or connection behind. Pending
        deliveries are written to their store first.
        """
        if self.tracker is not None:
            await self.tracker.close()
        await self.node.close()
        await self.upkeep.stop()

    # --- the transport contract -----------------------------------------------

    @property
    def auth_required(self) -> bool:
        return self.node.auth.required

    def authenticate(
        self, token: str | None, request: AuthRequest | None = None
    ) -> Principal | None:
        """The principal for ``token``, or ``None`` when refused (constant time)."""
        principal = self.node.auth.check(token, request)
        if principal is None:
            self.node.metrics.auth_failures += 1
        return principal

    def authorize(self, principal: Principal, action: str, channel: str) -> None:
        """Raise ``forbidden`` unless ``principal`` may ``action`` on ``channel`` (the name
        clients use): for HTTP routes that act on channels outside the commands."""
        self.node.permissions.check(principal, action, channel)

    def login(self, token: str | None, request: AuthRequest | None = None) -> Principal:
        """The principal for ``token``.

        Raises:
            AuthError: Refused; its ``code`` says why (``token_expired``…) and its
                message is safe to send to the client.
        """
        try:
            return self.node.auth.login(token, request)
        except AuthError:
            self.node.metrics.auth_failures += 1
            raise

    def connect(
        self,
        *,
        client_id: str | None,
        principal: Principal,
        peer: str,
        dialect: str | None = None,
        conversation_id: str | None = None,
        greet: bool = True,
        transport: str = "websocket",
    ) -> Connection:
        """Open a connection and queue its greeting.

        Args:
            client_id: The identity the client asked to keep (invalid ones, and ones
                bound to another principal, are replaced by a fresh id).
            principal: Who authenticated.
            peer: Remote address, for per-IP limits.
            dialect: The wire dialect when already known (``?protocol=``, SSE);
                ``None`` lets the first frame decide (PROTOCOL.md §1).
            conversation_id: The conversation of agent-chat's ``/ws/{session_id}``.
            greet: Queue the greeting (``connected``, or ``auth_success`` for envelope).
            transport: How the client is carried (``websocket``, ``poll``, ``sse``,
                ``sse-run``, ``agent-ui``), for metrics.

        Raises:
            LimitExceeded: a connection limit is reached (close with 4008).
        """
        node = self.node
        now = node.clock()
        stable = client_id is not None and valid_client_id(client_id)
        if stable and not node.client_ids.claim(str(client_id), principal, now):
            # Bound to another principal (issue 13, finding 3): a fresh id, as for
            # an invalid one; the greeting says which id the client got.
            logger.info("client_id %r belongs to another principal: a fresh id is given", client_id)
            stable = False
        if client_id is None or not stable:
            client_id = node.ids.next()
            node.client_ids.claim(client_id, principal, now, sticky=False)
        try:
            connection = node.open(
                client_id=client_id,
                principal=principal,
                peer=peer,
                dialect=dialect or Dialect.PRAISON.value,
                dialect_fixed=dialect is not None,
                conversation_id=conversation_id,
                stable=stable,
                transport=transport,
            )
        except Exception:
            node.client_ids.release(client_id, now)
            raise
        self.start()
        if greet:
            node.greet(connection)
        logger.debug("connection %s opened for client %s", connection.connection_id, client_id)
        return connection

    def receive(self, connection: Connection, text: str | bytes) -> Awaitable[None]:
        """Handle one frame from ``connection`` (await it); problems become ``error`` frames.

        The commands' coroutine is returned as is: no extra coroutine frame per
        received frame on the hot path.
        """
        return self.commands.receive(connection, text)

    def disconnect(self, connection: Connection) -> None:
        """Forget a closed connection: leave its channels, announce, release limits."""
        self.node.forget(connection)
        logger.debug("connection %s closed", connection.connection_id)

    # --- what the gateway itself does -------------------------------------------

    async def publish(self, channel: str, data: Any, **options: Any) -> dict[str, Any]:
        """Publish on the internal ``channel`` as the gateway (see :meth:`Node.publish`);
        text UTF-8 cannot carry (lone surrogates) is replaced by U+FFFD."""
        return await self.node.publish(channel, encodable(data), **options)

    def start_run(
        self,
        connection: Connection,
        agent_id: str,
        text: str,
        *,
        conversation_id: str | None = None,
    ) -> RunRecord:
        """Start a run watched by ``connection`` (the SSE endpoint's way in; see
        :func:`~.runs.start_run`)."""
        return start_run(self.node, connection, agent_id, text, conversation_id=conversation_id)

    async def watch_run(self, connection: Connection, run: RunRecord) -> None:
        """Let ``connection`` watch ``run`` from its start (see :func:`~.runs.watch_run`)."""
        await watch_run(self.node, connection, run)

    def presence(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Presence entries, one per client, of an internal channel or of the whole node."""
        return presence_of(self.node, channel)

    def stats(self) -> dict[str, Any]:
        """Connections, channels, running runs and the backend's name (``/health``)."""
        return self.node.stats()

    def resync(self) -> int:
        """Close subscribed connections (1001) so their clients recover from history
        (the broker reconnected and may have missed publications); how many."""
        return self.node.resync()

    def sweep(self, now: float) -> None:
        """One upkeep pass at time ``now`` (the background task calls it every tick)."""
        self.upkeep.sweep(now)
