"""The AAA enforces Programmable Wireless rate plans, end to end: rate plans and SIMs set up with the twilio SDK's
client.wireless, devices attached through `/cellplane/v1/Emulator`, and every decision visible on the device and in
ConnectionEvents. Roaming flags decide the visited networks; at the DataLimit `block` disconnects and refuses,
`throttle` keeps the session on.
"""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Account
from tests.e2e.test_wireless_sims import wait_for_status
from tests.support.network import USA, Devices, eventually, network_server, subscriber

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

UK = "234-15"  # Vodafone UK: international roaming for a Wireless SIM (home: T-Mobile USA, 310-260)
NATIONAL = "310-410"  # AT&T: national roaming


def wireless_sim(account: Account, plan: str, **settings: Any) -> dict[str, Any]:
    """A Wireless SIM given to the account by the operator, on a new rate plan, active."""
    client = account.client()
    client.wireless.v1.rate_plans.create(unique_name=plan, **settings)
    [sim] = account.server.admin("provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid)
    client.wireless.v1.sims(sim["sid"]).update(rate_plan=plan, status="active")
    wait_for_status(client, sim["sid"], "active")
    return dict(sim)


def events_of(account: Account, sim_sid: str, event_type: str) -> list[dict[str, Any]]:
    # The account is the test's own; its events are filtered by SIM here (the Sim filter resolves Super SIMs).
    params = {"EventType": event_type, "PageSize": "100"}
    body = account.http().get("/cellplane/v1/ConnectionEvents", params=params).json()
    return [event for event in body["connection_events"] if event["sim_sid"] == sim_sid]


def test_roaming_flags_decide_the_visited_network(subscriber: Account) -> None:
    home_only = wireless_sim(subscriber, "home-only", national_roaming_enabled=False)
    roamer = wireless_sim(subscriber, "roamer", international_roaming=["data", "messaging"])
    devices = Devices(subscriber)

    refused = devices.attach(home_only["iccid"], UK, expect="rejected", code=83706)
    assert refused["reason"] == "International roaming for data is not enabled by the SIM's Rate Plan"
    national = devices.attach(home_only["iccid"], NATIONAL, expect="rejected", code=83706)
    assert national["reason"] == "National roaming is not enabled by the SIM's Rate Plan"
    home = devices.attach(home_only["iccid"], USA)
    assert home["state"] == "attached" and home["ip_address"] and home["error_code"] is None
    abroad = devices.attach(roamer["iccid"], UK)
    assert abroad["state"] == "attached" and abroad["network"] == UK

    rejection = eventually(
        lambda: events_of(subscriber, home_only["sid"], "attach_rejected"),
        lambda found: len(found) >= 2,
    )
    assert {(e["error_code"], e["mcc"], e["mnc"]) for e in rejection} >= {(83706, "234", "15"), (83706, "310", "410")}

    # Moved to a plan without international data roaming, the roaming SIM's live session is disconnected.
    subscriber.client().wireless.v1.sims(roamer["sid"]).update(rate_plan="home-only")
    gone = eventually(lambda: devices.get(roamer["iccid"]), lambda d: d["state"] == "detached")
    assert gone["reason"] == "disconnected by the network"
    devices.reset()


def test_a_block_plan_at_its_limit_disconnects_and_refuses(subscriber: Account) -> None:
    sim = wireless_sim(subscriber, "block", data_limit=1, data_limit_strategy="block")  # 1 MB
    devices = Devices(subscriber)
    devices.attach(sim["iccid"])

    devices.traffic(sim["iccid"], up=600_000, down=400_000)  # exactly 1 MB: the limit is reached

    gone = eventually(lambda: devices.get(sim["iccid"]), lambda d: d["state"] == "detached")
    assert gone["session"] is None
    refused = devices.update(sim["iccid"], State="attached").json()
    assert (refused["state"], refused["error_code"]) == ("rejected", 83707)
    assert refused["reason"] == "The Rate Plan's data limit for this billing period is reached"
    devices.reset()


def test_a_throttle_plan_at_its_limit_keeps_the_session(subscriber: Account) -> None:
    sim = wireless_sim(subscriber, "throttle", data_limit=1, data_limit_strategy="throttle")
    devices = Devices(subscriber)
    attached = devices.attach(sim["iccid"])

    devices.traffic(sim["iccid"], up=600_000, down=400_000)

    throttled = eventually(
        lambda: events_of(subscriber, sim["sid"], "session_throttled"), lambda found: bool(found), timeout=10
    )
    assert throttled[0]["ip_address"] == attached["ip_address"] and throttled[0]["error_code"] is None
    time.sleep(1.5)  # longer than a policy poll: nothing disconnects it afterwards either
    kept = devices.get(sim["iccid"])
    assert kept["state"] == "attached" and kept["session"] is not None
    assert devices.traffic(sim["iccid"], up=1000)  # data still flows
    assert events_of(subscriber, sim["sid"], "disconnect_acked") == []
    # Past its limit, a new attach is accepted too (the plan throttles rather than blocks).
    assert devices.update(sim["iccid"], State="detached").json()["state"] == "detached"
    again = devices.attach(sim["iccid"])
    assert again["state"] == "attached" and again["error_code"] is None
    devices.reset()
