"""pyroute2, set up once for a process that runs an event loop and signal handlers.

pyroute2 forks a child to open a netlink socket in a namespace, and stops it with SIGTERM. Without
`disable_mp_signal`, the child keeps the parent's Python signal handlers, and the event loop's wakeup descriptor it
shares with the parent turns that SIGTERM into one the parent's loop acts on: uvicorn shuts down, a device shell
stops its program. With it, the child takes SIGTERM with the default action. pyroute2's synchronous API runs an
event loop of its own: call it from a worker thread, never from a coroutine.
"""

from __future__ import annotations

import pyroute2.config  # type: ignore[import-untyped]
from pyroute2 import IPRoute, NetNS, netns  # type: ignore[import-untyped]

pyroute2.config.disable_mp_signal = True

__all__ = ["IPRoute", "NetNS", "netns"]
