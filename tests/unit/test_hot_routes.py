"""Every endpoint a Super SIM module declares hot is served by api/wire/hot.py (a declared but unregistered
HOT_ROUTES once left POST /IpCommands on FastAPI's slower routing without any test noticing)."""

from __future__ import annotations

import importlib
import pkgutil

from cellplane.api import supersim_v1


def test_every_declared_hot_route_is_served_ahead_of_fastapi() -> None:
    declared = set()
    for info in pkgutil.iter_modules(supersim_v1.__path__):
        module = importlib.import_module(f"{supersim_v1.__name__}.{info.name}")
        for method, path, endpoint in getattr(module, "HOT_ROUTES", []):
            declared.add((method, f"/supersim/v1{path}", endpoint))
    assert ("POST", "/supersim/v1/IpCommands") in {(method, path) for method, path, _ in declared}
    assert declared == set(supersim_v1.hot_routes())
