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


async def test_hot_routes_answer_errors_and_pass_everything_else_on() -> None:
    """Ahead of FastAPI: a platform error is the platform's error body, an unexpected one a logged 500 (never a
    dropped connection), other requests reach the app, and endpoints see the app as `request.app`."""
    import httpx
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    from cellplane.api.wire.hot import HotRoutes
    from cellplane.domain.errors import NotFound

    app = FastAPI()
    app.state.name = "inner"

    @app.get("/other")
    async def other() -> dict[str, str]:
        return {"from": "fastapi"}

    async def hot(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "missing":
            raise NotFound("Thing", "TH1")
        if kind == "broken":
            raise RuntimeError("boom")
        return JSONResponse({"app": request.app.state.name})

    served = HotRoutes(app, [("GET", "/hot/{kind}", hot)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://t") as client:
        assert (await client.get("/hot/fine")).json() == {"app": "inner"}
        missing = await client.get("/hot/missing")
        assert (missing.status_code, missing.json()["code"]) == (404, 20404)
        broken = await client.get("/hot/broken")
        assert (broken.status_code, broken.text) == (500, "Internal Server Error")
        assert (await client.get("/other")).json() == {"from": "fastapi"}
        assert (await client.post("/hot/fine")).status_code == 404  # another method goes on to FastAPI (no route)
