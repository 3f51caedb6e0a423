"""What the data plane tests share: the system tools they need (installed when root, else a skip with the reason),
an HTTP server on the host end of a routing domain's uplink, and `cellplane device shell` as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.support.server import CLI, Server
from tests.support.system_packages import install as install_packages

TOOLS = {"nft": "nftables", "ip": "iproute2", "iperf3": "iperf3", "curl": "curl", "nsenter": "util-linux"}
CHUNK = bytes(range(256)) * 256  # 64 KiB


def data_plane_unavailable() -> str | None:
    """None when the data plane can run here (installing what is missing as root), else why not."""
    if os.geteuid() != 0:
        return "the data plane needs root (network namespaces, TUN, nftables)"
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        install_packages(*sorted(set(missing)))
    still = [tool for tool in TOOLS if shutil.which(tool) is None]
    if still:
        return f"cannot install {', '.join(still)} (apt-get install {' '.join(TOOLS[t] for t in still)})"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    return None


def data_plane_status(server: Server) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.base_url}/healthz", timeout=5).json()["data_plane"]
    return body


class _Handler(BaseHTTPRequestHandler):
    """GET /bytes/N: N octets. GET /paced/N/RATE: N octets at no more than RATE octets a second (paced here, by
    the sender: a client's own rate limit may catch up in bursts). GET /stream/S: octets for S seconds (or until the
    client goes)."""

    def do_GET(self) -> None:
        _, kind, value = self.path.split("/", 2)
        self.send_response(200)
        if kind == "paced":
            size, rate = (int(part) for part in value.split("/"))
            self.send_header("Content-Length", str(size))
            self.end_headers()
            piece = CHUNK[: max(rate // 100, 1)]  # a slice every 10 ms, never more to catch up after a stall
            try:
                while size > 0:
                    self.wfile.write(piece[:size])
                    size -= min(size, len(piece))
                    time.sleep(len(piece) / rate)
            except OSError:
                pass  # the client gave up (the network ended its session)
            return
        if kind == "bytes":
            size = int(value)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while size > 0:
                piece = CHUNK[: min(size, len(CHUNK))]
                self.wfile.write(piece)
                size -= len(piece)
            return
        self.end_headers()
        until = time.monotonic() + float(value)
        try:
            while time.monotonic() < until:
                self.wfile.write(CHUNK)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def http_server(address: str) -> Iterator[str]:
    """An HTTP server on `address` (the host end of an uplink); yields its base URL."""
    httpd = ThreadingHTTPServer((address, 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def shell_args(server: Server, iccid: str, *command: str, network: str | None = None) -> list[str]:
    chosen = ["--network", network] if network else []
    return [*CLI, "device", "shell", "--iccid", iccid, *chosen, "--platform", server.base_url, "--", *command]


def device_shell(
    server: Server, iccid: str, *command: str, timeout: float = 120, network: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`cellplane device shell --iccid ICCID -- COMMAND`, to its end."""
    return subprocess.run(
        shell_args(server, iccid, *command, network=network),
        env=server.env,
        cwd=server.data_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
