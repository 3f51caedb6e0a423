"""The OpenAPI document's construction (issue 14, finding 4): the shipped specs are the official ones, every
served route is described by its surface (none falls back undocumented), what cellplane adds is marked, and the
operation ids are unique. The live checks (schemathesis, /docs offline) are in tests/compat and tests/e2e."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker

from cellplane.api.app import create_app
from cellplane.api.openapi.document import build_document
from cellplane.api.openapi.official import official_spec
from cellplane.services.context import PlatformContext


class Thing(BaseModel):
    """A model such as a JSON surface declares (module level: annotations are resolved by name)."""

    id: str
    name: str | None = None


SHARED = Path(__file__).resolve().parents[3] / "shared" / "specs"
SPECS = ("twilio_supersim_v1.json", "twilio_wireless_v1.json")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(PlatformContext(sessions=async_sessionmaker())).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


@pytest.mark.parametrize("name", SPECS)
def test_the_shipped_specs_are_the_official_ones(name: str) -> None:
    shipped = official_spec(name)
    assert shipped["info"]["license"]["name"] == "Apache 2.0"
    for shared in (SHARED, Path("/work/shared/specs")):
        if (shared / name).exists():
            assert json.loads((shared / name).read_text()) == shipped
            return
    pytest.skip(f"no shared/specs/{name} beside this checkout to compare with")


def test_every_route_is_described_with_parameters_bodies_and_responses(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert len(ops) >= 58
    assert not [(m, p) for m, p, op in ops if op.get("x-cellplane-undocumented")]
    for method, path, op in ops:
        assert op.get("operationId"), (method, path)
        statuses = set(op["responses"])
        assert statuses - {"default"} and all(status.isdigit() for status in statuses), (method, path, statuses)
        if "{" in path:
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{([^}]+)\}", path)), (method, path)
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids))


def test_official_operations_keep_the_spec_and_mark_additions(document: dict[str, Any]) -> None:
    create = document["paths"]["/supersim/v1/IpCommands"]["post"]
    official = official_spec("twilio_supersim_v1.json")["paths"]["/v1/IpCommands"]["post"]
    form = create["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["properties"]) == set(
        official["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    )
    assert form["required"] == ["Sim", "Payload", "DevicePort"]
    assert form["properties"]["CallbackMethod"]["enum"] == ["HEAD", "GET", "POST", "PATCH", "PUT", "DELETE"]
    assert form["properties"]["CallbackMethod"]["x-cellplane"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/supersim.v1.ip_command"
    }
    assert create["responses"]["404"]["x-cellplane"] is True
    assert create["security"] == [{"accountSid_authToken": []}]
    assert "200" not in create["responses"]  # 201 is the only success, as the spec says
    update = document["paths"]["/supersim/v1/Sims/{Sid}"]["post"]
    assert {"200", "202"} <= set(update["responses"])
    listing = document["paths"]["/wireless/v1/Sims"]["get"]
    assert {"Status", "Iccid", "PageSize"} <= {p["name"] for p in listing["parameters"]}
    schemas = document["components"]["schemas"]
    assert schemas["supersim.v1.ip_command"]["properties"]["error_code"]["x-cellplane"] is True
    # Both specs have a sim_enum_status: each keeps its own under its surface's name.
    assert "supersim.v1.sim_enum_status" in schemas and "wireless.v1.sim_enum_status" in schemas
    schemes = document["components"]["securitySchemes"]
    assert (schemes["accountSid_authToken"]["type"], schemes["accountSid_authToken"]["scheme"]) == ("http", "basic")
    refs = {value for value in _walk(document) if isinstance(value, str) and value.startswith("#/components/")}
    for ref in refs:  # every reference resolves
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_own_surfaces_document_their_models(document: dict[str, Any]) -> None:
    events = document["paths"]["/cellplane/v1/ConnectionEvents"]["get"]
    assert events["x-cellplane"] is True
    assert {"Sim", "EventType", "PageToken"} <= {p["name"] for p in events["parameters"]}
    provision = document["paths"]["/admin/v1/Sims"]["post"]
    assert provision["security"] == [{"operator_token": []}]
    assert provision["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["required"] == ["Count"]
    health = document["paths"]["/healthz"]["get"]
    assert set(health["responses"]) == {"200", "503"} and health["security"] == []


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
        yield from node.values()
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_a_json_surface_with_pydantic_models_is_described_without_writing_docs() -> None:
    """A later surface (/things/v1 takes JSON) plugs in through FastAPI's own models: its operations are kept,
    converted to the document's OpenAPI 3.0; a raw-request route with no description is marked undocumented."""
    app = FastAPI()

    @app.post("/things/v1/things", response_model=Thing, status_code=201)
    async def create(thing: Thing) -> Thing:
        return thing

    @app.get("/things/v1/raw")
    async def raw() -> None:
        return None

    document = build_document(app.routes, [], title="t", version="1", description="d")
    created = document["paths"]["/things/v1/things"]["post"]
    assert created["x-cellplane"] is True and "x-cellplane-undocumented" not in created
    assert created["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"
    }
    assert document["components"]["schemas"]["Thing"]["properties"]["name"] == {
        "type": "string",
        "title": "Name",
        "nullable": True,
    }
    assert document["paths"]["/things/v1/raw"]["get"]["x-cellplane-undocumented"] is True


def test_every_tag_is_declared_and_grouped_by_surface(document: dict[str, Any]) -> None:
    used = {tag for _, _, op in operations(document) for tag in op.get("tags", [])}
    declared = {tag["name"] for tag in document["tags"]}
    grouped = {name for group in document["x-tagGroups"] for name in group["tags"]}
    assert used <= declared and used <= grouped
    assert [group["name"] for group in document["x-tagGroups"]][:2] == ["Super SIM v1", "Wireless v1"]
