"""What api/http_server.py's protocol costs the server per request: this tree's against another git ref's.

Each protocol serves a bare ASGI app (200 "ok") with uvicorn as `cellplane up` runs it (uvloop, httptools, no
access log), in a process of its own; one client sends pipelined keep-alive GETs (16 per write, so the client's own
cost stays out of the way) and the server process's CPU time (utime + stime from /proc) is divided by the number of
requests. Rounds alternate between the two, so that the machine's load falls on both alike.

    .venv/bin/python bench/http_protocol.py --against main --requests 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUEST = (
    b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\nAuthorization: Basic QUM6eA==\r\n\r\n"
)
PIPELINE = 16
SERVE = """
import importlib.util, sys, uvicorn
spec = importlib.util.spec_from_file_location("protocol_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module; spec.loader.exec_module(module)
protocol = module.HttpProtocol
if hasattr(protocol, "with_limits"):
    protocol = protocol.with_limits(module.HttpLimits())
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"2"), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False, loop="uvloop",
            http=protocol)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(protocol_file: Path, requests: int) -> float:
    """Server CPU microseconds per request."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(protocol_file), str(port)])
    try:
        deadline = time.monotonic() + 30
        while server.poll() is None:
            try:
                client = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the server of {protocol_file} exited")
        with client:
            for _ in range(200 // PIPELINE):  # warm up
                exchange(client)
            before = cpu_seconds(server.pid)
            for _ in range(requests // PIPELINE):
                exchange(client)
            return (cpu_seconds(server.pid) - before) / (requests // PIPELINE * PIPELINE) * 1e6
    finally:
        server.terminate()
        server.wait()


def exchange(client: socket.socket) -> None:
    client.sendall(REQUEST * PIPELINE)
    answered = 0
    while answered < PIPELINE:
        answered += client.recv(65536).count(b"HTTP/1.1 200")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="main", help="git ref whose api/http_server.py is the baseline")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        baseline = Path(work) / "baseline_http_server.py"
        baseline.write_bytes(
            subprocess.run(
                ["git", "-C", str(REPO), "show", f"{args.against}:src/cellplane/api/http_server.py"],
                check=True,
                capture_output=True,
            ).stdout
        )
        current = REPO / "src/cellplane/api/http_server.py"
        results: dict[str, list[float]] = {args.against: [], "this tree": []}
        for _ in range(args.rounds):
            results[args.against].append(measure(baseline, args.requests))
            results["this tree"].append(measure(current, args.requests))
    load = os.getloadavg()[0]
    print(f"server CPU per request, {args.requests} pipelined GETs x {args.rounds} rounds, load {load:.1f}:")
    for name, values in results.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:>10}: median {statistics.median(values):.1f} us  ({rounds})")


if __name__ == "__main__":
    main()
