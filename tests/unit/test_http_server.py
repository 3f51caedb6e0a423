"""api/http_server.py: uvicorn's protocol with one write per response, served for real on 127.0.0.1.

The server's writes are counted on the server side (the transport under the wrapper), and the client reads raw
bytes from a socket: a response's head and body leave together, a head whose body is late still leaves at once
(it must never wait on the application), and 100-continue, HEAD and connection close still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from cellplane.api import http_server
from cellplane.api.http_server import HttpProtocol

WRITES: list[bytes] = []


class _CountingProtocol(HttpProtocol):
    """Records every write that reaches the real transport (under the coalescing one)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        real_write = transport.write

        def write(data: bytes | bytearray | memoryview) -> None:
            WRITES.append(bytes(data))
            real_write(data)

        transport.write = write  # type: ignore[method-assign]
        super().connection_made(transport)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/late":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await asyncio.sleep(0.5)  # the body comes late: the head must not wait for it
        await send({"type": "http.response.body", "body": b"late"})
        return
    out = b"echo:" + body
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": out})


@pytest.fixture
async def server() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http=_CountingProtocol, lifespan="off", log_level="warning", access_log=False)
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve(sockets=[sock]))
    while not instance.started:
        await asyncio.sleep(0.01)
    WRITES.clear()
    yield port
    instance.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def _exchange(port: int, request: bytes, until: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = b""
    async with asyncio.timeout(timeout):
        while until not in data:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
    writer.close()
    return data


async def test_head_and_body_leave_in_one_write(server: int) -> None:
    request = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    data = await _exchange(server, request, b"echo:abc")
    assert data.startswith(b"HTTP/1.1 201 ")
    assert data.endswith(b"\r\n\r\necho:abc")
    assert len(WRITES) == 1
    assert WRITES[0] == data


async def test_keep_alive_requests_each_get_one_write(server: int) -> None:
    one = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n"
    data = await _exchange(server, one + b"1" + one + b"2" + one + b"3", b"echo:3")
    assert data.count(b"HTTP/1.1 201 ") == 3
    assert [w[-6:] for w in WRITES] == [b"echo:1", b"echo:2", b"echo:3"]


async def test_a_head_whose_body_is_late_is_not_held(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n")
    loop = asyncio.get_running_loop()
    started = loop.time()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    head_after = loop.time() - started
    body = await asyncio.wait_for(reader.readexactly(4), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert head_after < 0.4, f"the head waited {head_after:.3f} s for its body"
    assert body == b"late"
    assert len(WRITES) == 2


async def test_100_continue_is_sent_before_the_body(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hi")
    final = await asyncio.wait_for(reader.readuntil(b"echo:hi"), 5)
    writer.close()
    assert final.startswith(b"HTTP/1.1 201 ")


async def test_head_request_and_connection_close(server: int) -> None:
    data = await _exchange(server, b"HEAD /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 201 ")
    assert b"echo" not in data


def test_the_wrapper_hands_other_calls_to_the_transport() -> None:
    class Transport:
        def get_extra_info(self, name: str) -> str:
            return f"info:{name}"

    loop = asyncio.new_event_loop()
    try:
        wrapped = http_server._CoalescingTransport(Transport(), loop)  # type: ignore[arg-type]
        assert wrapped.get_extra_info("peername") == "info:peername"
    finally:
        loop.close()
