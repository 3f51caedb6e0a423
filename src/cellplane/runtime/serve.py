"""Run the platform's ASGI app under uvicorn, telling the platform when a stop is asked."""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn

from cellplane.runtime.platform import Platform


class _Server(uvicorn.Server):
    """uvicorn waits for open connections before it runs the app's shutdown: the platform hears of the stop at
    once, so the console's event streams (open as long as a page is) end instead of holding the server."""

    def __init__(self, config: uvicorn.Config, platform: Platform) -> None:
        super().__init__(config)
        self.platform = platform

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.platform.stopping()


def serve(platform: Platform, *, host: str, port: int, log_level: str, http: Any, backlog: int = 2048) -> None:
    config = uvicorn.Config(
        platform.asgi,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        http=http,  # httptools, one write per response, with its limits (api/http_server.py)
        backlog=backlog,
    )
    _Server(config, platform).run()
