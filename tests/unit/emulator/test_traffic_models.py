"""Traffic models of `cellplane emulator run --traffic URL`: parsing (bad input names what is wrong) and real rounds
against servers on 127.0.0.1 (the namespace part needs root: tests/e2e/test_emulator_traffic.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import typer

from cellplane.cli.emulator import traffic_specs
from cellplane.emulator.traffic_models import TrafficModel, TrafficModelError, parse


def test_urls_become_models() -> None:
    assert parse("http://198.18.0.1:8000/bytes/10?x=1") == TrafficModel("http", "198.18.0.1", 8000, "/bytes/10?x=1")
    assert parse("mqtt://198.18.0.1:1883/fleet/t?size=300&count=5") == TrafficModel(
        "mqtt", "198.18.0.1", 1883, "/fleet/t", size=300, count=5
    )
    model = parse("udp://198.18.0.1:9000?size=64")
    assert (model.size, model.count, model.url) == (64, 1, "udp://198.18.0.1:9000?size=64&count=1")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://198.18.0.1:21/", "the scheme must be one of"),
        ("http://198.18.0.1/", "needs a host and a port"),
        ("udp://198.18.0.1:99999", "needs a host and a port"),
        ("udp://198.18.0.1:9000?size=0", "size must be a whole number from 1 to 65000"),
        ("udp://198.18.0.1:9000?count=many", "count must be a whole number"),
        ("mqtt://198.18.0.1:1883", "an MQTT model needs a topic"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, said: str) -> None:
    with pytest.raises(TrafficModelError, match=said):
        parse(url)


def test_traffic_options_by_kind() -> None:
    upload, models = traffic_specs(["4000:0", "http://198.18.0.1:80/", "meter=udp://198.18.0.1:9000"])
    assert upload == 4000
    assert [m.scheme for m in models[""]] == ["http"] and [m.scheme for m in models["meter"]] == ["udp"]
    for bad, said in (
        (["meter=4000:0"], "one UP:0 byte count applies to every device"),
        (["4000:0", "5000:0"], "one UP:0 byte count"),
        (["x=gopher://h:1/"], "the scheme must be one of"),
    ):
        with pytest.raises(typer.BadParameter, match=said) as raised:
            traffic_specs(bad)
        assert raised.value.param_hint == "--traffic"


class _Bytes(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        last = self.path.rsplit("/", 1)[1]
        if not last.isdigit():
            self.send_error(404)
            return
        size = int(last)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(bytes(size))

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bytes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_http_and_udp_rounds_move_real_bytes(http_port: int) -> None:
    assert parse(f"http://127.0.0.1:{http_port}/bytes/12345").run() == 12345
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as echo:
        echo.bind(("127.0.0.1", 0))

        def serve() -> None:
            for _ in range(3):
                data, peer = echo.recvfrom(65536)
                echo.sendto(data, peer)

        threading.Thread(target=serve, daemon=True).start()
        assert parse(f"udp://127.0.0.1:{echo.getsockname()[1]}?size=700&count=3").run() == 2 * 3 * 700
    with pytest.raises(OSError, match="HTTP 404"):
        parse(f"http://127.0.0.1:{http_port}/nothing/").run()
