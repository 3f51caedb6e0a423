"""The OpenAPI document: every served route, each described by the surface that owns it.

FastAPI lists the routes (path templates, methods, operation ids) but knows nothing of endpoints that read the
raw request, which is what every cellplane surface does for speed and for the platform's form conventions. So
each surface plugs in a `SurfaceDocs`: for the routes under its prefix it returns the operation a client needs
(parameters, request body, responses with schemas, status codes, security), and the components it refers to.
Super SIM and Wireless take theirs from the official specs (official.py); cellplane's own surfaces declare
theirs next to their routers (`docs.py` in each); a surface with pydantic models (a JSON surface) may simply
return FastAPI's own operation. A route no surface describes still appears, marked undocumented.

The document is OpenAPI 3.0.3, the version of the official specs it merges (their `nullable` has no meaning
in 3.1); what cellplane adds to an official operation is marked `x-cellplane`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from cellplane.api.openapi.common import ERROR_RESPONSE_NAME, error_responses
from cellplane.api.openapi.common import components as common_components

Operation = dict[str, Any]
# (method upper case, FastAPI path template) -> (documented path template, operation), or None to fall back.
Describe = Callable[[str, str], tuple[str, Operation] | None]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass
class SurfaceDocs:
    """What a surface contributes: which paths are its own, how to describe one of its operations, its title (a
    group of tags in ReDoc), its tags, its components (schemas and security schemes, merged into the document's)."""

    prefix: str
    describe: Describe
    title: str
    tags: list[dict[str, str]] = field(default_factory=list)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)


def anonymous(path: str) -> str:
    """A path template with its placeholders unnamed: /v1/Sims/{Sid} ~ /v1/Sims/{sid}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def build_document(
    routes: Iterable[BaseRoute], surfaces: Iterable[SurfaceDocs], *, title: str, version: str, description: str
) -> dict[str, Any]:
    surfaces = sorted(surfaces, key=lambda part: len(part.prefix), reverse=True)  # the most specific prefix first
    listed = get_openapi(title=title, version=version, routes=list(routes))
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/", "description": "this cellplane"}],
        "tags": [],
        "paths": {},
        "components": copy.deepcopy(common_components()),
    }
    groups: list[dict[str, Any]] = []
    for surface in surfaces:
        document["tags"].extend(surface.tags)
        groups.append({"name": surface.title, "tags": [tag["name"] for tag in surface.tags]})
        for section, entries in surface.components.items():
            document["components"].setdefault(section, {}).update(entries)
    for path, item in listed.get("paths", {}).items():
        for method, generated in item.items():
            if method not in METHODS:
                continue
            owner = next((part for part in surfaces if path.startswith(part.prefix)), None)
            described = owner.describe(method.upper(), path) if owner is not None else None
            if described is None:
                documented_path, operation = path, _undocumented(generated)
            else:
                documented_path, operation = described
            document["paths"].setdefault(documented_path, {})[method] = operation
    for name, schema in listed.get("components", {}).get("schemas", {}).items():  # pydantic models of JSON surfaces
        document["components"]["schemas"].setdefault(name, to_openapi_30(schema))
    _unique_operation_ids(document)
    _group_tags(document, groups)
    return document


def _group_tags(document: dict[str, Any], groups: list[dict[str, Any]]) -> None:
    """`x-tagGroups` (ReDoc's menu, by surface); tags only an undocumented router declared go in a last group, as
    ReDoc hides a tag that no group names."""
    grouped = {name for group in groups for name in group["tags"]}
    used = sorted(
        {tag for item in document["paths"].values() for op in item.values() for tag in op.get("tags", [])} - grouped
    )
    if used:
        groups.append({"name": "other", "tags": used})
        document["tags"].extend({"name": name} for name in used)
    order = ("Super SIM v1", "Wireless v1", "cellplane v1", "admin v1", "operations")
    groups.sort(key=lambda group: order.index(group["name"]) if group["name"] in order else len(order))
    document["x-tagGroups"] = [group for group in groups if group["tags"]]


def _undocumented(generated: Operation) -> Operation:
    """A route its surface does not describe: FastAPI's own operation, marked. Where FastAPI knows the models
    (a JSON surface's pydantic request and response models) that is a real description and is kept; otherwise
    the route is marked undocumented, with the platform's errors."""
    if _has_models(generated):
        described = to_openapi_30(generated)
        described["x-cellplane"] = True
        return described
    operation = {key: value for key, value in generated.items() if key != "responses"}
    operation["x-cellplane"] = True
    operation["x-cellplane-undocumented"] = True  # its tags stay those its router declared
    operation["responses"] = {
        "default": {"description": "Not described yet", "content": {"application/json": {"schema": {}}}},
        **error_responses(("400", "401", "404")),
    }
    return operation


def _has_models(generated: Operation) -> bool:
    for response in generated.get("responses", {}).values():
        for media in response.get("content", {}).values():
            if media.get("schema"):
                return True
    return "requestBody" in generated


def to_openapi_30(node: Any) -> Any:
    """FastAPI writes JSON Schema as OpenAPI 3.1 has it; the document is 3.0 (the official specs' version): a
    nullable type (`anyOf: [X, {type: null}]`) becomes X with `nullable`, `const` an enum of one, `examples` is
    dropped (3.0 has `example`)."""
    if isinstance(node, list):
        return [to_openapi_30(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    nullable = False
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del node[key]
            nullable = True
            if len(rest) == 1 and "$ref" not in rest[0]:
                node = {**rest[0], **node}
            elif rest:
                node[key] = rest
    converted = {key: to_openapi_30(value) for key, value in node.items() if key != "examples"}
    if "const" in converted:
        converted["enum"] = [converted.pop("const")]
    if converted.get("type") == "null":
        converted.pop("type")
        nullable = True
    if nullable:
        converted["nullable"] = True
    return converted


def _unique_operation_ids(document: dict[str, Any]) -> None:
    """OpenAPI requires unique operationIds; two surfaces may both have `FetchSim`: later ones get a suffix."""
    seen: set[str] = set()
    for item in document["paths"].values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            operation_id = operation.get("operationId")
            if not operation_id:
                continue
            candidate, number = operation_id, 2
            while candidate in seen:
                candidate, number = f"{operation_id}_{number}", number + 1
            operation["operationId"] = candidate
            seen.add(candidate)


__all__ = ["ERROR_RESPONSE_NAME", "Describe", "Operation", "SurfaceDocs", "anonymous", "build_document"]
