"""A loopback TCP proxy for fault tests: in front of a real PostgreSQL or a
real HTTP service, it forwards bytes, or stalls, slows, resets or cuts them,
switchable while connections are open.

It runs its own event loop in a thread, so a test (or the hub under a
TestClient, in another thread) talks to it as to any server::

    with FaultProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://root@127.0.0.1:{proxy.port}/db"
        proxy.set("stall")       # accepted, read, never forwarded
        proxy.set("pass")        # the stalled connections are reset, new ones pass
        proxy.stats()            # connections accepted, bytes each way

Modes:

- ``pass``: every byte forwarded as it comes.
- ``stall``: new connections are accepted and nothing is forwarded on any
  connection (a black hole: a hung server or a dropped network). Leaving
  the mode resets the connections it held, as a real network that dropped
  them would: the client learns on its next use.
- ``slow``: each chunk waits ``delay`` seconds before it is forwarded.
- ``reset``: open connections are reset (TCP RST) at once, new ones as soon
  as they are accepted.
- ``cut``: the next chunk from the server is forwarded in part (its first
  half) and then both sides are reset: an answer cut mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

MODES = ("pass", "stall", "slow", "reset", "cut")


@dataclass
class Stats:
    #: Connections accepted from clients.
    connections: int = 0
    #: Bytes from clients forwarded to the server, and from the server back.
    up: int = 0
    down: int = 0
    #: Bytes clients sent that were held (stall) and never forwarded.
    held: int = 0
    #: Connections reset or cut by the proxy.
    resets: int = 0


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a graceful FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and, unless stalled from the start, its server connection."""

    def __init__(self, proxy: FaultProxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.server_writer: asyncio.StreamWriter | None = None
        self.closed = False

    def reset(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.stats.resets += 1
        _rst(self.client_writer)
        if self.server_writer is not None:
            _rst(self.server_writer)

    async def run(self) -> None:
        proxy = self.proxy
        try:
            while proxy.mode == "stall":
                await self._hold(None)
            if proxy.mode == "reset" or self.closed:
                self.reset()
                return
            try:
                server_reader, self.server_writer = await asyncio.open_connection(
                    proxy.target_host, proxy.target_port)
            except OSError:
                self.reset()
                return
            await asyncio.gather(self._pump(self.client_reader, self.server_writer, up=True),
                                 self._pump(server_reader, self.client_writer, up=False))
        except _Dropped:
            self.reset()
        finally:
            proxy.links.discard(self)
            if not self.closed:
                self.closed = True
                for w in (self.client_writer, self.server_writer):
                    if w is not None:
                        w.close()

    async def _hold(self, chunk: bytes | None) -> None:
        """While the proxy stalls: hold ``chunk`` unforwarded; when the stall ends, drop the link."""
        if chunk:
            self.proxy.stats.held += len(chunk)
        await self.proxy.changed_from("stall")
        raise _Dropped

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool) -> None:
        proxy = self.proxy
        while not self.closed:
            try:
                chunk = await reader.read(65536)
            except (ConnectionError, OSError):
                chunk = b""
            if not chunk:
                if not self.closed:
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
                return
            mode = proxy.mode
            if mode == "stall":
                await self._hold(chunk)
            if mode == "reset":
                raise _Dropped
            if mode == "slow":
                await asyncio.sleep(proxy.delay)
            if mode == "cut" and not up:
                part = chunk[: max(1, len(chunk) // 2)]
                writer.write(part)
                proxy.stats.down += len(part)
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.drain()
                raise _Dropped
            writer.write(chunk)
            if up:
                proxy.stats.up += len(chunk)
            else:
                proxy.stats.down += len(chunk)
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                return


class _Dropped(Exception):
    """The proxy drops this link (reset, cut, or a stall that ended)."""


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.mode = "pass"
        self.delay = 0.0
        self.stats = Stats()
        self.links: set[_Link] = set()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._changed: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    # -- from the test's thread -------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set(self, mode: str, *, delay: float = 0.0) -> None:
        """Switch mode; connections open now are affected at once."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: one of {MODES}")
        self._call(self._set(mode, delay))

    def snapshot(self) -> Stats:
        """The counters as they are now (a copy)."""
        async def copy() -> Stats:
            return Stats(**vars(self.stats))
        return self._call(copy())  # type: ignore[no-any-return]

    def open_links(self) -> int:
        async def count() -> int:
            return len(self.links)
        return self._call(count())  # type: ignore[no-any-return]

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # -- on the proxy's loop -------------------------------------------------
    async def _start(self) -> None:
        self._changed = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        for link in list(self.links):
            link.reset()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _set(self, mode: str, delay: float) -> None:
        self.mode, self.delay = mode, delay
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()
        if mode == "reset":
            for link in list(self.links):
                link.reset()

    async def changed_from(self, mode: str) -> None:
        """Return once the proxy is in a mode other than ``mode``."""
        while self.mode == mode:
            assert self._changed is not None
            await self._changed.wait()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        link = _Link(self, (reader, writer))
        self.links.add(link)
        await link.run()
