"""/openapi.json, /docs (Swagger UI) and /redoc, all served by the platform itself, offline.

The document is generated once per app from its routes and the surfaces' own descriptions (document.py). The
pages' scripts and styles come from the `fastapi-offline` package, which ships Swagger UI's and ReDoc's
distribution files: no page loads anything from another host, so the docs work with no network.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from cellplane.api.openapi.document import SurfaceDocs, build_document

ASSETS = "/docs/assets"
UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_directory() -> str:
    return str(resources.files("fastapi_offline").joinpath("static"))


def install(app: FastAPI, surfaces: Iterable[SurfaceDocs]) -> None:
    """Serve the generated document at /openapi.json and the two pages (the app is made with docs_url=None,
    redoc_url=None: FastAPI's own pages load from a CDN)."""
    parts = list(surfaces)
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "document" not in cached:
            cached["document"] = build_document(
                app.routes, parts, title=app.title, version=app.version, description=app.description
            )
        return cached["document"]

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(directory=assets_directory()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: API reference",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )


__all__ = ["ASSETS", "UI_FILES", "SurfaceDocs", "install"]
