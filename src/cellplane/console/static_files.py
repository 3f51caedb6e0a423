"""The console's assets, shipped in the package and served by the platform itself (no CDN, works offline).

Files are read once, at start; each URL carries a digest of its file so a browser may cache it for a year, and
a new release is fetched at once. Only files of the package's static folder are served, by exact name.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".txt": "text/plain"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    digest: str


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    assets = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        body = path.read_bytes()
        media = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        assets[path.name] = Asset(body, gzip.compress(body, 9, mtime=0), media, hashlib.sha256(body).hexdigest()[:12])
    return assets


ASSETS = load_assets()


def asset_url(name: str) -> str:
    """The URL of a shipped file, versioned by its content."""
    return f"/console/static/{name}?v={ASSETS[name].digest}"


router = APIRouter()


@router.get("/static/{name}")
async def static(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{asset.digest}"'}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
