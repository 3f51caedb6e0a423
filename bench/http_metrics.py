"""Micro-benchmark (issue 14): what the outer ASGI layer's request metrics and `.json` check cost a hot request.

The same hot endpoint (a prebuilt 200 response, so the endpoint costs next to nothing) is served through
api/wire/hot.py as it is now and as it was before the metrics (`git show <ref>:src/cellplane/api/wire/hot.py`,
loaded as a module of its own), each called directly as an ASGI app, interleaved, best of `--repeats`.
The difference per request is the metrics' cost; bench/RESULTS.md puts it beside GET one SIM's ~100-120 us.

    .venv/bin/python bench/http_metrics.py --before 09de9f1
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cellplane.api.wire import hot as current

REPO = Path(__file__).resolve().parents[1]


def load_before(ref: str) -> Any:
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:src/cellplane/api/wire/hot.py"], capture_output=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "hot_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("hot_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RESPONSE = Response(b'{"sid": "HS"}', media_type="application/json")


async def endpoint(request: Request) -> Response:
    return RESPONSE


async def fallback(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the hot route should have answered")


async def run(app: Any, count: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    started = time.process_time()  # CPU time: the machine may be shared, wall time would count others' work
    for _ in range(count):
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/supersim/v1/Sims/HS0123456789abcdef0123456789abcdef",
            "raw_path": b"/supersim/v1/Sims/HS0123456789abcdef0123456789abcdef",
            "query_string": b"",
            "headers": [],
        }
        await app(scope, receive, send)
    return (time.process_time() - started) / count * 1e6


async def main(args: argparse.Namespace) -> None:
    before = load_before(args.before)
    routes = [("GET", "/supersim/v1/Sims/{sid}", endpoint)]
    apps = {"before": before.HotRoutes(fallback, routes), "now": current.HotRoutes(fallback, routes)}
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, app in apps.items():
            best[name] = min(best.get(name, float("inf")), await run(app, args.requests))
    for name, micros in best.items():
        print(f"{name:7s} {micros:6.2f} us/request")
    print(f"metrics and .json check: {best['now'] - best['before']:+.2f} us/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--before", default="main", help="git ref of hot.py before the metrics")
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=7)
    asyncio.run(main(parser.parse_args(sys.argv[1:])))
