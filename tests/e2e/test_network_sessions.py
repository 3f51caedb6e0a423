"""Data sessions through the emulated network, end to end: traffic made through `/cellplane/v1/Emulator` becomes
usage records that add up exactly, the live address shows in Sims/{Sid}/IpAddresses, sessions start, update and end
as connection events, a deactivated SIM is disconnected, roaming opens a session on the new network, and 250 KB
turn a `ready` SIM `active`.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.network import (
    EMULATOR,
    FRANCE,
    UK,
    UK_SID,
    USA,
    USA_SID,
    Devices,
    eventually,
    make_fleet,
    make_sim,
    network_server,
    subscriber,
)

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest


def usage(account: Account, sim_sid: str, **params: str) -> list[dict[str, Any]]:
    query = {"Sim": sim_sid, "Granularity": "all", **params}
    records: list[dict[str, Any]] = (
        account.http().get("/supersim/v1/UsageRecords", params=query).json()["usage_records"]
    )
    return records


def addresses(account: Account, sim_sid: str) -> list[str]:
    client = account.client()
    return [a.ip_address for a in client.supersim.v1.sims(sim_sid).sim_ip_addresses.list()]


def events(account: Account, sim_sid: str) -> list[dict[str, Any]]:
    body = account.http().get("/cellplane/v1/ConnectionEvents", params={"Sim": sim_sid}).json()
    found: list[dict[str, Any]] = body["connection_events"]
    return found


def test_usage_records_add_up_exactly_to_the_traffic_made(subscriber: Account) -> None:
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))
    devices = Devices(subscriber)
    device = devices.attach(sim.iccid, USA, Imei="353490069873319", RatType="NB-IoT")
    live = device["ip_address"]
    assert device["imei"] == "353490069873319" and device["rat_type"] == "NB-IoT"
    assert eventually(lambda: addresses(subscriber, sim.sid), lambda found: found == [live]) == [live]

    first = devices.traffic(sim.iccid, up=12_345, down=67_890)
    second = devices.traffic(sim.iccid, up=1_000)

    assert (first["upload_bytes"], first["download_bytes"]) == (12_345, 67_890)
    assert first["upload_packets"] >= 9 and first["download_packets"] >= 46  # 1500-octet packets at most
    assert (second["upload_bytes"], second["download_bytes"]) == (1_000, 0)
    # The gateway reports usage as soon as traffic is made (an Interim-Update): exact, while the session lives.
    [record] = usage(subscriber, sim.sid)
    assert (record["data_upload"], record["data_download"], record["data_total"]) == (13_345, 67_890, 81_235)
    assert devices.get(sim.iccid)["usage"]["up_bytes"] == 13_345

    detached = devices.update(sim.iccid, State="detached").json()

    assert detached["state"] == "detached" and detached["session"] is None
    assert eventually(lambda: addresses(subscriber, sim.sid), lambda found: found == []) == []
    [record] = usage(subscriber, sim.sid)
    assert (record["data_upload"], record["data_download"]) == (13_345, 67_890)
    [by_network] = usage(subscriber, sim.sid, Group="network")
    assert by_network["network_sid"] == USA_SID
    timeline = eventually(
        lambda: [e["event_type"] for e in reversed(events(subscriber, sim.sid))],  # oldest first
        lambda types: bool(types) and types[-1] == "session_ended",
    )
    assert timeline.index("attach_accepted") < timeline.index("session_started") < timeline.index("session_updated")
    assert timeline[-1] == "session_ended"
    ended = events(subscriber, sim.sid)[0]
    assert (ended["bytes_up"], ended["bytes_down"], ended["ip_address"]) == (13_345, 67_890, live)
    assert ended["imei"] == "353490069873319"
    devices.reset()


def test_deactivating_a_sim_ends_its_live_session(subscriber: Account) -> None:
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))
    devices = Devices(subscriber)
    devices.attach(sim.iccid)
    devices.traffic(sim.iccid, up=5_000)

    subscriber.client().supersim.v1.sims(sim.sid).update(status="inactive")

    # The AAA sends a Disconnect-Request, the gateway deletes the bearer, and the device is detached.
    gone = eventually(lambda: devices.get(sim.iccid), lambda d: d["state"] != "attached")
    assert (gone["state"], gone["reason"]) == ("detached", "disconnected by the network")
    wait_for_status(subscriber.client(), sim.sid, "inactive")
    types = eventually(
        lambda: [e["event_type"] for e in events(subscriber, sim.sid)],
        lambda found: "session_ended" in found and "disconnect_acked" in found,
    )
    assert "session_ended" in types and "disconnect_acked" in types
    assert eventually(lambda: addresses(subscriber, sim.sid), lambda found: found == []) == []
    again = devices.update(sim.iccid, State="attached").json()
    assert (again["state"], again["error_code"], again["reason"]) == ("rejected", 83705, "The SIM is not active")
    devices.reset()


def test_roaming_opens_a_session_on_the_new_network(subscriber: Account) -> None:
    sim = make_sim(subscriber, make_fleet(subscriber, [USA, UK]))
    devices = Devices(subscriber)
    devices.attach(sim.iccid, USA)
    devices.traffic(sim.iccid, up=10_000)

    roamed = devices.update(sim.iccid, Network=UK).json()
    devices.traffic(sim.iccid, up=20_000, down=3_000)

    assert (roamed["state"], roamed["network"], roamed["mcc"], roamed["mnc"]) == ("attached", UK, "234", "15")
    by_network = {r["network_sid"]: r["data_total"] for r in usage(subscriber, sim.sid, Group="network")}
    assert by_network == {USA_SID: 10_000, UK_SID: 23_000}
    accepted = eventually(
        lambda: [
            (e["mcc"], e["mnc"]) for e in reversed(events(subscriber, sim.sid)) if e["event_type"] == "attach_accepted"
        ],
        lambda found: found[-1:] == [("234", "15")],
    )
    assert accepted[-2:] == [("310", "260"), ("234", "15")]
    # A network the profile does not allow refuses the roamer; it is left detached from the old one.
    refused = devices.update(sim.iccid, Network=FRANCE).json()
    assert (refused["state"], refused["error_code"], refused["network"]) == ("rejected", 83706, FRANCE)
    devices.reset()


def test_a_ready_sim_turns_active_after_250_kb(subscriber: Account) -> None:
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]), "ready")
    devices = Devices(subscriber)
    devices.attach(sim.iccid)
    devices.traffic(sim.iccid, up=100_000, down=149_999)  # one byte short
    assert subscriber.client().supersim.v1.sims(sim.sid).fetch().status == "ready"

    devices.traffic(sim.iccid, up=100)

    assert wait_for_status(subscriber.client(), sim.sid, "active").status == "active"
    periods = subscriber.http().get(f"/supersim/v1/Sims/{sim.sid}/BillingPeriods").json()["billing_periods"]
    assert [p["period_type"] for p in periods] == ["ready", "active"]
    assert devices.get(sim.iccid)["state"] == "attached"  # activation keeps the session
    devices.reset()


def test_idle_and_edrx_keep_the_session_and_traffic_wakes_the_device(subscriber: Account) -> None:
    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))
    devices = Devices(subscriber)
    address = devices.attach(sim.iccid)["ip_address"]
    http = subscriber.http()

    idle = devices.update(sim.iccid, State="idle").json()
    assert (idle["state"], idle["ip_address"]) == ("idle", address)
    woken = devices.traffic(sim.iccid, up=2_000)["device"]
    assert (woken["state"], woken["ip_address"]) == ("attached", address)
    assert devices.update(sim.iccid, State="edrx").json()["state"] == "edrx"
    # A visited network's settings are every tenant's: the operator sets them.
    operator = httpx.Client(
        base_url=subscriber.server.base_url, auth=("admin", subscriber.server.env["CELLPLANE_ADMIN_TOKEN"])
    )
    network = operator.post(f"{EMULATOR}/Networks/{USA}", data={"Hlcom": "false"}).json()
    assert (network["network_sid"], network["hlcom"]) == (USA_SID, False)
    bad = operator.post(f"{EMULATOR}/Networks/{USA}", data={"Hlcom": "maybe"})
    assert bad.status_code == 400 and "Hlcom" in bad.json()["message"]
    assert operator.post(f"{EMULATOR}/Networks/{USA}", data={"Hlcom": "true"}).json()["hlcom"] is True
    # The device's own apps: a log app on a port receives what reaches it; the device sends UDP too.
    opened = http.post(f"{EMULATOR}/Devices/{sim.iccid}/Apps", data={"DevicePort": "5683", "App": "log"})
    assert opened.status_code == 201 and opened.json()["app"] == "log"
    assert devices.get(sim.iccid)["apps"] == [{"device_port": 5683, "app": "log"}]
    assert http.get(opened.json()["datagrams_url"]).json()["datagrams"] == []
    sent = http.post(
        f"{EMULATOR}/Devices/{sim.iccid}/Datagrams",
        data={"SourcePort": "5683", "Payload": "hello", "DestinationPort": "9"},
    )
    assert sent.status_code == 201 and sent.json()["destination"] == "100.64.0.1"
    devices.reset()
