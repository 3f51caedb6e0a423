"""/docs and /redoc work offline (issue 14, finding 4): their HTML names only this server's own assets, and
each asset is served; the pages point at /openapi.json."""

from __future__ import annotations

import re

import httpx

from cellplane.api.openapi import ASSETS, UI_FILES
from tests.support.server import Server


def references(html: str) -> list[str]:
    """Every src= and href= of the page (scripts, styles, icons)."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def test_docs_pages_load_only_local_assets(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        for page in ("/docs", "/redoc"):
            answer = http.get(page)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
            html = answer.text
            assert "/openapi.json" in html
            assert not re.search(r"https?://", html), f"{page} names another host"
            assert not re.search(r"""["']//""", html), f"{page} has a protocol-relative URL"
            used = references(html)
            assert used and all(ref.startswith(ASSETS + "/") for ref in used), used
        for name in UI_FILES:
            asset = http.get(f"{ASSETS}/{name}")
            assert asset.status_code == 200 and len(asset.content) > 1000, name
        assert "SwaggerUIBundle" in http.get(f"{ASSETS}/swagger-ui-bundle.js").text
        assert "Redoc" in http.get(f"{ASSETS}/redoc.standalone.js").text
