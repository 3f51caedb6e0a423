"""The bare reference for bench/api.py: one FastAPI route reading one SIM row, nothing else.

No auth, no ORM, no service layer, no URL building: the floor that FastAPI + SQLAlchemy async + the
same database driver can reach on this machine. It uses cellplane's own `make_engine` (same pool,
pragmas and driver) and the same uvicorn options as `cellplane up` (uvloop, httptools, no access log),
so the gap between this and cellplane's GET /Sims/{Sid} is what cellplane's own layers cost.

    python bench/bare_app.py --port 8100 --database-url sqlite+aiosqlite:////path/cellplane.db
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import orjson
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from starlette.responses import Response

from cellplane.store.db import make_engine

# The columns the Sim resource shows; one indexed primary-key lookup.
ONE_SIM = text(
    "SELECT sid, unique_name, account_sid, iccid, status, fleet_sid, date_created, date_updated "
    "FROM sims WHERE sid = :sid"
)


def create_app(database_url: str) -> FastAPI:
    engine = make_engine(database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/Sims/{sid}")
    async def one_sim(sid: str) -> Response:
        async with engine.connect() as connection:
            row = (await connection.execute(ONE_SIM, {"sid": sid})).first()
        if row is None:
            return Response(b'{"status":404}', status_code=404, media_type="application/json")
        body = dict(row._mapping)
        body["date_created"] = str(body["date_created"])
        body["date_updated"] = str(body["date_updated"])
        return Response(orjson.dumps(body), media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.database_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
