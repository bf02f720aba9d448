"""Serving a :class:`~.fake_model.FakeModel` over real HTTP on 127.0.0.1, on a thread.

Tests, notebooks and users point any OpenAI-compatible client at
:attr:`FakeModelServer.base_url` (``http://127.0.0.1:<port>/v1``): the real
``openai`` SDK, ``praisonaiagents`` and :class:`praison_push.agents.openai.ChatAgent`
all speak to it exactly as to a hosted model, offline and deterministically.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from .fake_model import FakeModel, ModelTurn

if TYPE_CHECKING:
    import uvicorn

__all__ = ["FakeModelServer"]


class FakeModelServer:
    """A :class:`FakeModel` served by uvicorn on its own thread (a context manager).

    Args:
        model: The app to serve (a fresh echoing :class:`FakeModel` by default).
        script: Turns for a fresh model (only without ``model``).
        port: ``0`` picks a free port.

    Example::

        with FakeModelServer(script=[ModelTurn.say("Hello!")]) as server:
            agent = ChatAgent("fake-model", base_url=server.base_url, api_key="unused")
    """

    def __init__(
        self,
        model: FakeModel | None = None,
        *,
        script: list[ModelTurn] | None = None,
        port: int = 0,
    ) -> None:
        self.model = model if model is not None else FakeModel(script or ())
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._bound = 0

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<FakeModelServer {self.base_url if self._bound else '-'} {state}>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if not self._bound:
            raise RuntimeError("the fake model server is not started")
        return self._bound

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 10.0) -> FakeModelServer:
        """Start serving; returns once the socket listens."""
        import uvicorn

        from praison_push.server.runner import bind_socket

        if self.running:
            return self
        sock = bind_socket("127.0.0.1", self._port)
        self._bound = sock.getsockname()[1]
        config = uvicorn.Config(self.model, log_level="warning", access_log=False, lifespan="off")
        server = self._server = uvicorn.Server(config)
        started = threading.Event()

        def serve() -> None:
            async def main() -> None:
                serving = asyncio.ensure_future(server.serve(sockets=[sock]))
                while not server.started and not serving.done():
                    await asyncio.sleep(0.005)
                started.set()
                await serving

            try:
                asyncio.run(main())
            finally:
                started.set()
                sock.close()

        self._thread = threading.Thread(target=serve, name="praison-push-fake-model", daemon=True)
        self._thread.start()
        if not started.wait(timeout) or not server.started:
            self.stop()
            raise RuntimeError("the fake model server did not start")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (open streams are cut)."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
