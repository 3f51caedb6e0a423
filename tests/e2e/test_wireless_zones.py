"""Per-zone data limits of Wireless rate plans and a real throttle, end to end: rate plans and SIMs through the twilio
SDK's client.wireless, devices through `/cellplane/v1/Emulator`, the gateway's view of each session (usage it counted,
throttle rate, what its policer dropped) on the device's `session.network`.

RatePlan: DataLimit is the home network's monthly limit, NationalRoamingDataLimit other US networks', and
InternationalRoamingDataLimit abroad's; each zone counts its own usage. At a limit `block` disconnects and refuses,
`throttle` keeps the session on at CELLPLANE_THROTTLE_RATE (64 kbit/s) policed by the gateway: what is above the rate
is dropped, and only what passed is usage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Account
from tests.e2e.test_wireless_enforcement import NATIONAL, events_of, wireless_sim
from tests.support.network import USA, Devices, eventually, network_server, subscriber
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

NATIONAL_LIMIT_TEXT = "The Rate Plan's national roaming data limit for this billing period is reached"


def data_usage(account: Account, sim_sid: str) -> dict[str, Any]:
    """The SIM's Wireless usage record over the last month (Granularity all): its `data` breakdown."""
    [record] = account.client().wireless.v1.sims(sim_sid).usage_records.list()
    data: dict[str, Any] = record.data
    return data


def network_view(devices: Devices, iccid: str) -> dict[str, Any] | None:
    """The gateway's view of the device's session (None without one)."""
    session = devices.get(iccid)["session"]
    return session["network"] if session else None


def test_a_national_roaming_limit_cuts_data_there_while_the_home_network_works(subscriber: Account) -> None:
    sim = wireless_sim(
        subscriber, "national-1mb", data_limit=10, national_roaming_data_limit=1, data_limit_strategy="block"
    )
    devices = Devices(subscriber)
    devices.attach(sim["iccid"], NATIONAL)

    devices.traffic(sim["iccid"], up=600_000, down=400_000)  # 1 MB on AT&T: the national roaming limit

    gone = eventually(lambda: devices.get(sim["iccid"]), lambda d: d["state"] == "detached")
    assert gone["session"] is None and gone["reason"] == "disconnected by the network"
    refused = devices.update(sim["iccid"], State="attached", Network=NATIONAL).json()
    assert (refused["state"], refused["error_code"], refused["reason"]) == ("rejected", 83707, NATIONAL_LIMIT_TEXT)
    # The home network has its own limit (10 MB) and usage (none yet): data goes on there.
    home = devices.attach(sim["iccid"], USA)
    assert home["state"] == "attached" and home["error_code"] is None
    assert devices.traffic(sim["iccid"], up=2000, down=3000)["upload_bytes"] == 2000
    data = data_usage(subscriber, sim["sid"])
    assert (data["national_roaming"]["upload"], data["national_roaming"]["download"]) == (600_000, 400_000)
    assert (data["home"]["upload"], data["home"]["download"]) == (2000, 3000)
    assert devices.get(sim["iccid"])["state"] == "attached"
    rejected = eventually(
        lambda: events_of(subscriber, sim["sid"], "attach_rejected"), lambda found: bool(found), timeout=5
    )
    assert rejected[0]["error_code"] == 83707 and rejected[0]["mnc"] == "410"
    devices.reset()


def test_at_the_limit_block_ends_the_session_and_throttle_slows_it(subscriber: Account) -> None:
    block = wireless_sim(subscriber, "zone-block", data_limit=1, data_limit_strategy="block")
    throttle = wireless_sim(subscriber, "zone-throttle", data_limit=1, data_limit_strategy="throttle")
    devices = Devices(subscriber)
    for sim in (block, throttle):
        devices.attach(sim["iccid"])
        assert network_view(devices, sim["iccid"])["throttled"] is False  # type: ignore[index]
        devices.traffic(sim["iccid"], up=600_000, down=400_000)  # exactly 1 MB: the limit is reached

    # block: Disconnect-Request, the session is over.
    gone = eventually(lambda: devices.get(block["iccid"]), lambda d: d["state"] == "detached")
    assert gone["session"] is None
    assert eventually(lambda: events_of(subscriber, block["sid"], "disconnect_acked"), bool, timeout=5)

    # throttle: CoA-Request with WISPr-Bandwidth-Max-Up/-Down; the session goes on, policed at 64 kbit/s each way.
    view = eventually(lambda: network_view(devices, throttle["iccid"]), lambda n: bool(n and n["throttled"]))
    assert view is not None and (view["rate_up"], view["rate_down"]) == (64_000, 64_000)
    assert devices.get(throttle["iccid"])["state"] == "attached"
    before = view["up_octets"]

    made = devices.traffic(throttle["iccid"], up=200_000, down=100_000)  # 25 times what a second at the rate carries

    after = eventually(
        lambda: network_view(devices, throttle["iccid"]),
        lambda n: bool(n and n["up_octets"] - before + n["dropped_up_bytes"] == 200_000),
    )
    assert after is not None
    passed_up, passed_down = after["up_octets"] - before, made["download_bytes"]
    assert 0 < passed_up < 30_000 and after["dropped_up_bytes"] == 200_000 - passed_up
    assert 0 < passed_down < 30_000 and after["dropped_down_bytes"] == 100_000 - passed_down
    assert after["dropped_up_packets"] > 0 and after["dropped_down_packets"] > 0
    # Usage counts only what passed the policer.
    data = eventually(
        lambda: data_usage(subscriber, throttle["sid"]), lambda d: d["upload"] == 600_000 + passed_up, timeout=5
    )
    assert (data["upload"], data["download"]) == (600_000 + passed_up, 400_000 + passed_down)
    assert events_of(subscriber, throttle["sid"], "session_throttled")
    assert events_of(subscriber, throttle["sid"], "disconnect_acked") == []

    # Attaching again past the limit: the Access-Accept itself carries the rate, throttled from the first packet.
    assert devices.update(throttle["iccid"], State="detached").json()["state"] == "detached"
    again = devices.attach(throttle["iccid"])
    assert again["session"]["network"]["throttled"] and again["session"]["network"]["rate_down"] == 64_000
    devices.reset()


@pytest.fixture(params=["sqlite", "postgres"])
def own_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A platform of the test's own, to restart."""
    database_url = None
    if request.param == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        database_url = create_postgres_database()
    data_dir = tmp_path_factory.mktemp(f"zones-{request.param}")
    env = server_env(data_dir, database_url, CELLPLANE_EMULATOR_ENABLED="true")
    server = Server(backend=request.param, data_dir=data_dir, port=free_port(), env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if database_url:
            drop_postgres_database(database_url)


def test_zone_usage_survives_a_restart(own_server: Server) -> None:
    """The AAA rebuilds each Wireless SIM's usage per zone from the recorded usage when it loads: 600 KB on a national
    roaming network before a restart and 400 KB after reach the 1 MB national roaming limit together."""
    created = own_server.admin("create-account", "--friendly-name", "zones")
    account = Account(created["account_sid"], created["auth_token"], own_server)
    sim = wireless_sim(account, "national-restart", national_roaming_data_limit=1, data_limit_strategy="block")
    devices = Devices(account)
    devices.attach(sim["iccid"], NATIONAL)
    devices.traffic(sim["iccid"], up=300_000, down=300_000)

    own_server.stop()
    own_server.start()

    devices = Devices(account)
    attached = devices.attach(sim["iccid"], NATIONAL)  # 600 KB of 1 MB used: still allowed
    assert attached["state"] == "attached"
    devices.traffic(sim["iccid"], up=200_000, down=200_000)
    gone = eventually(lambda: devices.get(sim["iccid"]), lambda d: d["state"] == "detached")
    assert gone["reason"] == "disconnected by the network"
    refused = devices.update(sim["iccid"], State="attached", Network=NATIONAL).json()
    assert (refused["error_code"], refused["reason"]) == (83707, NATIONAL_LIMIT_TEXT)
    assert devices.attach(sim["iccid"], USA)["state"] == "attached"
