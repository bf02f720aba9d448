"""A TCP proxy in front of a gateway that can cut every connection through it, at once.

A cut aborts both sides (no close frame, no FIN handshake: data in flight is
lost), as a network failure does; the client reconnects through the proxy,
which dials the gateway again. While the gateway is down, connections are
accepted and closed at once, as a refused connection would be.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["CuttingProxy"]

_CHUNK = 65_536


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to ``127.0.0.1:upstream_port``; :meth:`cut` drops everything.

    Use ``async with CuttingProxy(port) as proxy`` (or :meth:`start` / :meth:`close`).

    Attributes:
        cuts: How many times :meth:`cut` aborted at least one live connection.
        accepted: Connections accepted so far.
        refuse_upgrades: Answer ``403`` to a request asking for ``Upgrade: websocket``
            (as a proxy that blocks WebSocket does); plain HTTP still goes through.
        refused: Upgrades refused so far.
        stall_upgrades: Hold a request asking for ``Upgrade: websocket`` without ever
            answering (a proxy that swallows it); plain HTTP still goes through.
        cut_upgrades: Let the upgrade through, then cut the connection as soon as the
            gateway's ``101`` has passed (a proxy that kills WebSocket traffic).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.cuts = 0
        self.accepted = 0
        self.refuse_upgrades = False
        self.stall_upgrades = False
        self.cut_upgrades = False
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def live(self) -> int:
        """Connections forwarded right now."""
        return len(self._pairs)

    async def start(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> CuttingProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def cut(self) -> int:
        """Abort every live connection (both sides); return how many."""
        pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            client.transport.abort()
            upstream.transport.abort()
        if pairs:
            self.cuts += 1
        return len(pairs)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        head = b""
        upgrade = False
        if self.refuse_upgrades or self.stall_upgrades or self.cut_upgrades:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                writer.transport.abort()
                return
            upgrade = b"upgrade: websocket" in head.lower()
            if upgrade and self.stall_upgrades:
                self.refused += 1
                with contextlib.suppress(OSError):
                    await reader.read()  # until the client gives up
                writer.transport.abort()
                return
            if upgrade and self.refuse_upgrades:
                self.refused += 1
                writer.write(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                with contextlib.suppress(OSError):
                    await writer.drain()
                writer.close()
                return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()  # the gateway is down: refuse
            return
        if head:
            up_writer.write(head)
        if upgrade and self.cut_upgrades:
            self.refused += 1
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                writer.write(await up_reader.readuntil(b"\r\n\r\n"))  # the 101 alone
                await writer.drain()
            writer.transport.abort()
            up_writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        ]
        for task in pumps:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._pairs.discard(pair)
            for task in pumps:
                task.cancel()
            writer.transport.abort()
            up_writer.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(_CHUNK):
                if writer.transport.is_closing():
                    return  # cut: what was in flight is lost
                writer.write(data)
                await writer.drain()
