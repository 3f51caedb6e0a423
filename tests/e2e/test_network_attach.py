"""Attaching through the emulated network, end to end: SIMs set up with the twilio SDK, devices powered on through
`/cellplane/v1/Emulator`, each attach rule of the platform answered over GTP and RADIUS, and every decision visible
in ConnectionEvents. Also the control API's own wire behaviour: errors naming the parameter, ownership, paging.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account
from tests.support.network import (
    EMULATOR,
    FRANCE,
    UK,
    USA,
    USA_SID,
    Devices,
    eventually,
    make_fleet,
    make_sim,
    network_server,
    subscriber,
)
from tests.support.server import Server

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest


def events_of(account: Account, sim_sid: str, **filters: str) -> list[dict[str, Any]]:
    body = account.http().get("/cellplane/v1/ConnectionEvents", params={"Sim": sim_sid, **filters}).json()
    events: list[dict[str, Any]] = body["connection_events"]
    return events


def test_each_attach_rule_accepts_or_refuses_with_its_code(subscriber: Account) -> None:
    fleet = make_fleet(subscriber, [USA, UK])
    data_off = make_fleet(subscriber, [USA], data_enabled=False)
    active, roamer = make_sim(subscriber, fleet), make_sim(subscriber, fleet)
    inactive, no_data = make_sim(subscriber, fleet, "inactive"), make_sim(subscriber, data_off)
    devices = Devices(subscriber)

    attached = devices.attach(active.iccid, USA)
    refused = {
        "inactive": devices.attach(inactive.iccid, USA, expect="rejected", code=83705),
        "data disabled": devices.attach(no_data.iccid, USA, expect="rejected", code=83704),
        "network not in profile": devices.attach(roamer.iccid, FRANCE, expect="rejected", code=83706),
    }

    assert attached["network"] == USA and attached["network_sid"] == USA_SID
    assert attached["ip_address"] and attached["session"]["ip_address"] == attached["ip_address"]
    assert attached["error_code"] is None and attached["reason"] is None
    for case, device in refused.items():
        assert device["session"] is None and device["ip_address"] is None, case
    assert refused["inactive"]["reason"] == "The SIM is not active"
    assert "Network Access Profile" in refused["network not in profile"]["reason"]
    # Every decision is a connection event, the refusal with its code and reason.
    # (Attach decisions are written in the background, a quarter of a second at most after they are made.)
    rejections = eventually(
        lambda: events_of(subscriber, inactive.sid, EventType="attach_rejected"),
        lambda found: any(e["error_code"] == 83705 for e in found),
    )
    rejection = rejections[0]
    assert (rejection["error_code"], rejection["reason"], rejection["iccid"]) == (
        83705,
        "The SIM is not active",
        inactive.iccid,
    )
    assert (rejection["mcc"], rejection["mnc"]) == ("310", "260")
    accepted = eventually(
        lambda: [e["event_type"] for e in reversed(events_of(subscriber, active.sid))],  # oldest first
        lambda types: {"attach_accepted", "session_started"} <= set(types),
    )
    assert accepted.index("attach_accepted") < accepted.index("session_started")
    devices.reset()


def test_the_data_limit_disconnects_the_session_and_refuses_the_next_attach(subscriber: Account) -> None:
    sim = make_sim(subscriber, make_fleet(subscriber, [USA], data_limit=1))  # 1 MB
    devices = Devices(subscriber)
    devices.attach(sim.iccid)

    devices.traffic(sim.iccid, up=600_000, down=400_000)  # exactly 1 MB: the limit is reached

    gone = eventually(lambda: devices.get(sim.iccid), lambda d: d["state"] == "detached")
    assert (gone["state"], gone["reason"], gone["session"]) == ("detached", "disconnected by the network", None)
    refused = devices.update(sim.iccid, State="attached").json()
    assert (refused["state"], refused["error_code"]) == ("rejected", 83707)
    ended = eventually(lambda: events_of(subscriber, sim.sid, EventType="session_ended"), lambda found: bool(found))
    assert [(e["bytes_up"], e["bytes_down"]) for e in ended] == [(600_000, 400_000)]
    devices.reset()


def test_the_control_api_speaks_the_platform_wire(subscriber: Account, network_server: Server) -> None:
    sims = [make_sim(subscriber, make_fleet(subscriber, [USA])) for _ in range(3)]
    devices = Devices(subscriber)
    for sim in sims:
        devices.attach(sim.iccid)
    http = subscriber.http()

    def error(response: httpx.Response) -> tuple[int, int, str]:
        body = response.json()
        assert set(body) == {"code", "message", "more_info", "status"} and body["status"] == response.status_code
        return response.status_code, body["code"], body["message"]

    status, code, message = error(http.post(f"{EMULATOR}/Devices", data={"Network": USA}))
    assert (status, code) == (400, 20001) and "Iccid" in message
    status, code, message = error(devices.power_on(sims[0].iccid, "Atlantis"))
    assert (status, code) == (400, 20001) and "Network" in message
    status, code, message = error(devices.power_on(sims[0].iccid, USA, RatType="6G"))
    assert (status, code) == (400, 20001) and "RatType" in message
    status, code, message = error(devices.power_on(sims[0].iccid, USA, Imei="3527680000001"))
    assert (status, code) == (400, 20001) and "Imei" in message
    # 14 digits are the TAC and serial: the device gets the Luhn check digit (GTP carries 15-digit IMEIs).
    fourteen = devices.power_on(sims[1].iccid, USA, Imei="35276800000012")
    assert fourteen.status_code == 201 and fourteen.json()["state"] == "attached", fourteen.text
    assert fourteen.json()["imei"] == "352768000000121"
    status, code, message = error(devices.update(sims[0].iccid, State="asleep"))
    assert (status, code) == (400, 20001) and "State" in message
    status, code, message = error(http.post(f"{EMULATOR}/Devices/{sims[0].iccid}/Traffic", data={"UploadBytes": "-1"}))
    assert (status, code) == (400, 20001) and "UploadBytes" in message
    status, code, message = error(
        http.post(f"{EMULATOR}/Devices", content=b"{}", headers={"Content-Type": "text/json"})
    )
    assert (status, code) == (400, 20001) and "Content-Type" in message
    assert error(httpx.get(f"{network_server.base_url}{EMULATOR}/Devices"))[:2] == (401, 20003)

    # Traffic needs a data session; a detached device has none.
    assert devices.update(sims[2].iccid, State="detached").json()["state"] == "detached"
    assert error(http.post(f"{EMULATOR}/Devices/{sims[2].iccid}/Traffic", data={"UploadBytes": "100"}))[:2] == (
        409,
        20409,
    )

    # Another account can neither see nor drive these SIMs, nor power them on: they are not its own.
    stranger = Devices(Account(**_account(network_server)))
    assert stranger.http.get(f"{EMULATOR}/Devices").json()["devices"] == []
    assert error(stranger.http.get(f"{EMULATOR}/Devices/{sims[0].iccid}"))[:2] == (404, 20404)
    assert error(stranger.update(sims[0].iccid, State="detached"))[:2] == (404, 20404)
    assert error(stranger.power_on(sims[0].iccid))[:2] == (404, 20404)
    assert devices.get(sims[0].iccid)["state"] == "attached"

    # Lists page like every platform list, with absolute URLs the SDKs follow.
    first = http.get(f"{EMULATOR}/Devices", params={"PageSize": 2}).json()
    second = httpx.get(first["meta"]["next_page_url"], auth=(subscriber.sid, subscriber.token)).json()
    listed = [d["iccid"] for d in first["devices"] + second["devices"]]
    assert listed == sorted(sim.iccid for sim in sims) and second["meta"]["next_page_url"] is None
    assert first["meta"]["key"] == "devices" and first["meta"]["url"].startswith(network_server.base_url)
    only = http.get(f"{EMULATOR}/Devices", params={"State": "detached"}).json()["devices"]
    assert [d["iccid"] for d in only] == [sims[2].iccid]
    assert error(http.get(f"{EMULATOR}/Devices", params={"PageToken": "garbage"}))[:2] == (400, 21481)

    # Power off: gone from the network.
    assert http.delete(f"{EMULATOR}/Devices/{sims[0].iccid}").status_code == 204
    assert error(http.get(f"{EMULATOR}/Devices/{sims[0].iccid}"))[:2] == (404, 20404)
    reset = http.post(f"{EMULATOR}/Reset").json()
    assert reset["devices_powered_off"] == 2
    assert http.get(f"{EMULATOR}/Devices").json()["devices"] == []


def test_reset_leaves_other_accounts_devices_alone(subscriber: Account, network_server: Server) -> None:
    other = Account(**_account(network_server))
    mine, theirs = make_sim(subscriber, make_fleet(subscriber, [USA])), make_sim(other, make_fleet(other, [USA]))
    Devices(subscriber).attach(mine.iccid)
    Devices(other).attach(theirs.iccid)

    assert Devices(subscriber).http.post(f"{EMULATOR}/Reset").json()["devices_powered_off"] == 1

    assert Devices(other).get(theirs.iccid)["state"] == "attached"
    Devices(other).reset()


def _account(server: Server) -> dict[str, Any]:
    created = server.admin("create-account", "--friendly-name", "other")
    return {"sid": created["account_sid"], "token": created["auth_token"], "server": server}
