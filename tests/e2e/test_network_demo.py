"""`cellplane up --demo` (what `make up` runs) shows a living network: the demo account's devices power on and attach
to 310-260 once the platform runs, and the banner says how to look at them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.network import EMULATOR, USA, eventually
from tests.support.server import Server, free_port, server_env


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("demo")
    env = server_env(data_dir, None)
    del env["CELLPLANE_WEBHOOK_ALLOW_PRIVATE"]  # what --demo itself turns on
    server = Server("sqlite", data_dir, free_port(), env, extra_args=["--demo"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_demo_devices_attach_once_the_platform_runs(demo: Server) -> None:
    account = json.loads((demo.data_dir / "demo.json").read_text())
    http = httpx.Client(base_url=demo.base_url, auth=(account["account_sid"], account["auth_token"]), timeout=10)

    def devices() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = http.get(f"{EMULATOR}/Devices").json()["devices"]
        return found

    attached = eventually(devices, lambda found: len(found) == 5 and all(d["state"] == "attached" for d in found))

    assert sorted(d["iccid"] for d in attached) == sorted(sim["iccid"] for sim in account["sims"])
    assert {d["network"] for d in attached} == {USA} and len({d["ip_address"] for d in attached}) == 5
    assert "5 emulated devices powering on, attaching to 310-260" in demo.log()
    assert f"{demo.base_url}{EMULATOR}/Devices" in demo.log()


def test_the_demo_takes_callbacks_to_this_machine_but_never_to_its_own_api(demo: Server) -> None:
    """A newcomer's receiver runs on the same laptop: `--demo` allows loopback targets, never the platform itself."""
    account = json.loads((demo.data_dir / "demo.json").read_text())
    http = httpx.Client(base_url=demo.base_url, auth=(account["account_sid"], account["auth_token"]), timeout=10)
    sim = account["sims"][0]["sid"]
    accepted = http.post(f"/supersim/v1/Sims/{sim}", data={"CallbackUrl": "http://127.0.0.1:9/status"})
    assert accepted.status_code in (200, 202), accepted.text
    refused = http.post(f"/supersim/v1/Sims/{sim}", data={"CallbackUrl": f"http://127.0.0.1:{demo.port}/admin/v1"})
    assert refused.status_code == 400 and "CallbackUrl" in refused.json()["message"]
