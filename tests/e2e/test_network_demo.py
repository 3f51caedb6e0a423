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
    server = Server("sqlite", data_dir, free_port(), server_env(data_dir, None), extra_args=["--demo"])
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
