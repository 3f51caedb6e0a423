"""api/http_server.py's limits, served for real by uvicorn on 127.0.0.1 in this process (the end-to-end test,
tests/e2e/test_http_limits.py, runs them on `cellplane up` under a descriptor limit): heads past the cap get 431
however they arrive, a large body is not a large head, a keep-alive connection's pipelined requests are not
mistaken for one head, slow heads and stalled bodies are cut at their deadlines, and at the connection cap the
oldest connection that sent nothing makes room."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from cellplane.api.http_server import HttpLimits, HttpProtocol

LIMITS = HttpLimits(head_timeout=0.6, body_timeout=0.4, max_header_bytes=4096, max_connections=8)
DISCONNECTS: list[str] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            DISCONNECTS.append(scope["path"])
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    out = f"got {size}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    number = sock.getsockname()[1]
    protocol = HttpProtocol.with_limits(LIMITS)
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_level="warning", access_log=False)
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve(sockets=[sock]))
    while not instance.started:
        await asyncio.sleep(0.01)
    DISCONNECTS.clear()
    yield number
    instance.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


def _exchange(port: int, chunks: tuple[bytes, ...], pause: float) -> bytes:
    """Send the chunks (stopping once the server answers or closes), then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break
            time.sleep(pause)
            if select.select([sock], [], [], 0)[0]:
                break
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                data += chunk
        return data


async def send(port: int, *chunks: bytes, pause: float = 0.0) -> bytes:
    return await asyncio.to_thread(_exchange, port, chunks, pause)


def get(extra: bytes = b"") -> bytes:
    return b"GET /x HTTP/1.1\r\nHost: t\r\n" + extra + b"Connection: close\r\n\r\n"


async def test_a_head_past_the_cap_is_431_in_one_chunk_or_trickled(port: int) -> None:
    assert (await send(port, get(b"X-Big: " + b"a" * 5000 + b"\r\n"))).startswith(b"HTTP/1.1 431 ")
    trickled = [b"GET /x HTTP/1.1\r\nHost: t\r\nX-Big: "] + [b"a" * 1000] * 50
    assert (await send(port, *trickled, pause=0.01)).startswith(b"HTTP/1.1 431 ")
    many = b"".join(b"X-%d: %s\r\n" % (n, b"v" * 90) for n in range(60))  # many small headers add up too
    assert (await send(port, get(many))).startswith(b"HTTP/1.1 431 ")
    assert (await send(port, get(b"X-Fine: " + b"a" * 3000 + b"\r\n"))).startswith(b"HTTP/1.1 200 ")


async def test_a_large_body_or_pipelined_requests_are_not_a_large_head(port: int) -> None:
    body = b"b" * 100_000
    post = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert (await send(port, post + body + get())).count(b"HTTP/1.1 200 ") == 2
    keep = b"GET /x HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n"
    assert (await send(port, keep * 5 + get())).count(b"HTTP/1.1 200 ") == 6


async def test_a_slow_head_gets_408_at_its_deadline(port: int) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await send(port, b"GET /x HTTP/1.1\r\n", *[b"X"] * 30, pause=0.05)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert LIMITS.head_timeout <= loop.time() - started < LIMITS.head_timeout + 1.0
    started = loop.time()
    assert (await send(port)).startswith(b"HTTP/1.1 408 ")  # a connection that never says anything
    assert loop.time() - started < LIMITS.head_timeout + 1.0


async def test_a_stalled_body_is_cut_and_the_application_told(port: int) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await send(port, b"POST /stalled HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nsome")
    assert reply == b""
    assert LIMITS.body_timeout <= loop.time() - started < LIMITS.body_timeout + 1.0
    await asyncio.sleep(0.05)
    assert DISCONNECTS == ["/stalled"]


async def test_at_the_cap_the_oldest_silent_connection_makes_room(port: int) -> None:
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
    await asyncio.sleep(0.05)
    assert (await send(port, get())).startswith(b"HTTP/1.1 200 ")
    first_reader = silent[0][0]
    async with asyncio.timeout(0.5):
        assert await first_reader.read(100) == b""  # the oldest was closed, without an answer
    for _reader, writer in silent:
        writer.close()
