"""A TCP proxy that fault tests put between the services and PostgreSQL or the broker.

Other engineers' tests share the PostgreSQL server on this machine, and the embedded
broker keeps everything in memory (a restart loses every topic), so neither may be
stopped to simulate an outage. The services talk to this proxy instead, and the test
takes the dependency away and gives it back:

- `cut()`: the dependency "goes down": the listening socket is closed (new connections
  are refused) and every open connection is reset, as when a server process dies;
- `resume()`: it "comes back" on the same address.

The proxy runs its own event loop in a thread, so it keeps forwarding whatever the test's
event loop is doing, and its methods can be called from sync and async code alike.

Optional hooks make the same proxy terminate TLS (`ssl_context`, Kafka's TLS) or run a
protocol prologue before splicing (`handshake`): PostgreSQL's SSLRequest negotiation and
Kafka SASL authentication (see `tests/faults/tls.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from services.common.embedded import free_port

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
#: handshake(client_reader, client_writer, open_upstream) -> upstream streams, or None to drop the client.
Handshake = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Callable[[], Awaitable[Streams]]],
                     Awaitable[Streams | None]]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a dead peer's kernel would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None, host: str = "127.0.0.1",
                 ssl_context: ssl.SSLContext | None = None, handshake: Handshake | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port or free_port()
        self.ssl_context = ssl_context
        self.handshake = handshake
        self.accepted = 0
        self.refused_while_down = 0
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy-{self.port}", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    # -- control, callable from any thread -----------------------------------------------------

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(15)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """The dependency goes away: refuse new connections and reset the open ones."""
        self._call(self._cut())

    def resume(self) -> None:
        """The dependency comes back on the same address."""
        self._call(self._listen())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside the proxy's loop ---------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True,
                                                      ssl=self.ssl_context)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._conns):
            _reset(writer)
        self._conns.clear()

    async def _open_upstream(self) -> Streams:
        return await asyncio.open_connection(*self.upstream)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted in the instant of a cut
            _reset(writer)
            return
        self.accepted += 1
        self._conns.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            if self.handshake is not None:
                streams = await self.handshake(reader, writer, self._open_upstream)
                if streams is None:
                    return
            else:
                streams = await self._open_upstream()
            upstream_reader, upstream_writer = streams
            self._conns.add(upstream_writer)
            await asyncio.gather(self._pump(reader, upstream_writer), self._pump(upstream_reader, writer))
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._conns.discard(w)
                    w.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()  # one side gone: the connection is gone
