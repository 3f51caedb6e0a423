"""Authenticate before validating (issue 22, finding 11), on every endpoint: the route table the app publishes
(`/openapi.json`, with the emulator's control API mounted) is walked, and each operation asked without credentials
and with a body and query that are wrong in every way; the answer is 401, never 400, 404 or 422 (which would tell
an anonymous client what exists and what it would accept)."""

from __future__ import annotations

import re

import httpx

from tests.support.network import network_server
from tests.support.server import Server

__all__ = ["network_server"]  # fixture, imported for pytest

# Paths anyone may call: health, metrics, the API's own docs.
PUBLIC = {"/healthz", "/metrics", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}
# OAuth2 token endpoints take client credentials in the body or Basic; without any they answer 401 too (RFC 6749
# §5.2 invalid_client), so they are walked like the rest.
INVALID_FORM = {
    "PageSize": "-1",
    "Status": "no-such-status",
    "Hlcom": "maybe",
    "Body": "",
    "Payload": "",
    "Iccid": "x",
    "CallbackUrl": "http://127.0.0.1/",
    "DevicePort": "70000",
    "State": "sideways",
    "Network": "\x01",
    "grant_type": "nonsense",
}
INVALID_QUERY = {"PageSize": "-5", "PageToken": "garbage", "Direction": "sideways", "State": "x"}


def concrete(path: str) -> str:
    """Path parameters filled with values that name nothing (a sid-shaped one, an ICCID, a port)."""
    return re.sub(r"\{[^}]+\}", "HS00000000000000000000000000000000", path)


def test_every_route_answers_401_before_looking_at_the_request(network_server: Server) -> None:
    schema = httpx.get(f"{network_server.base_url}/openapi.json").json()
    operations = [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete") and path not in PUBLIC
    ]
    assert len(operations) > 70  # the whole table: Super SIM, Wireless, extensions, admin, emulator
    assert any("/Emulator/Devices/{" in path and path.endswith("/Sms") for _, path in operations)
    wrong: list[str] = []
    with httpx.Client(base_url=network_server.base_url, timeout=10) as client:
        for method, path in operations:
            url = concrete(path)
            if method in ("POST", "PUT", "PATCH"):
                response = client.request(method, url, data=INVALID_FORM, params=INVALID_QUERY)
            else:
                response = client.request(method, url, params=INVALID_QUERY)
            if response.status_code != 401:
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
            # And with a body of the wrong type altogether.
            if method == "POST":
                response = client.post(url, content=b"\xff{not json", headers={"Content-Type": "application/json"})
                if response.status_code != 401:
                    wrong.append(f"{method} {path} (json): {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
