"""The transport contract: how the client moves frames, whatever carries them.

:class:`PushTransportProtocol` is the seed's ``PushTransportProtocol``
(``is_connected``, ``connect``, ``disconnect``, ``send``, ``receive``), so a
transport written for PraisonAI push plugs in unchanged. The client never
touches sockets itself; it drives one of these, which is what lets users plug
in their own (SSE, gRPC, an in-memory pair in tests — see
:mod:`praison_push.testing`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["PushTransportProtocol", "TransportFactory"]


@runtime_checkable
class PushTransportProtocol(Protocol):
    """One connection to a gateway, carrying JSON-object frames.

    A transport object may be connected once; the client asks its
    :class:`TransportFactory` for a fresh one for every (re)connection.

    Error contract (what the client relies on):

    * ``connect()`` raises :class:`~praison_push.protocol.TransportError` when
      the gateway cannot be reached.
    * ``receive()`` raises :class:`~praison_push.protocol.ConnectionClosedError`
      (with the close code, or ``None`` when no close frame arrived) once the
      connection is gone, and :class:`~praison_push.protocol.FrameError` for a
      frame that is not a JSON object — the client logs and skips that frame.
    * ``send()`` raises :class:`~praison_push.protocol.ConnectionClosedError`
      (or another ``TransportError``) when the frame cannot be sent, and
      ``TypeError``/``ValueError`` when ``data`` is not JSON-serialisable.
    """

    @property
    def is_connected(self) -> bool:
        """Whether frames can currently be sent and received."""
        ...

    async def connect(self) -> None:
        """Open the connection."""
        ...

    async def disconnect(self) -> None:
        """Close the connection; safe to call twice or before ``connect``."""
        ...

    async def send(self, data: dict[str, Any]) -> None:
        """Send one frame."""
        ...

    async def receive(self) -> dict[str, Any]:
        """Wait for and return the next frame from the gateway."""
        ...


class TransportFactory(Protocol):
    """Builds a transport for one connection attempt.

    :class:`~praison_push.client.WebSocketTransport` itself is one, so the
    default is simply the class; a custom factory receives the same arguments.
    """

    def __call__(
        self, url: str, auth_token: str | None, *, client_id: str
    ) -> PushTransportProtocol: ...
