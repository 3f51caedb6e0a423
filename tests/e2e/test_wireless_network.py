"""Programmable Wireless SIMs on the real network, end to end: devices attached through `/cellplane/v1/Emulator`,
the SIM side driven with the twilio SDK's client.wireless.

- A connectivity reset (`ResetStatus=resetting`) ends the SIM's live session with a Disconnect-Request that asks for
  a new one; the device attaches again by itself and the reset completes (`reset_status` back to null).
- `Sims/{Sid}/DataSessions` shows the sessions the AAA recorded from the gateway's accounting: operator, radio link,
  IMEI, cell, packets, start and end, with the bytes in the SIM's UsageRecords.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Account
from tests.e2e.test_wireless_enforcement import events_of, wireless_sim
from tests.e2e.test_wireless_sims import check, raw_sim
from tests.support.network import USA, USA_SID, Devices, eventually, network_server, subscriber

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

IMEI = "356938035643809"


def sessions_of(account: Account, sim_sid: str) -> list[dict[str, Any]]:
    """The SIM's DataSessions, newest first, each checked against the official schema."""
    with account.http() as http:
        response = http.get(f"/wireless/v1/Sims/{sim_sid}/DataSessions")
    assert response.status_code == 200, response.text
    return [check("wireless.v1.sim.data_session", item) for item in response.json()["data_sessions"]]


def test_a_connectivity_reset_ends_the_session_and_the_device_attaches_again(subscriber: Account) -> None:
    sim = wireless_sim(subscriber, "reset-plan")
    client = subscriber.client()
    devices = Devices(subscriber)
    first = devices.attach(sim["iccid"])
    [old] = eventually(lambda: sessions_of(subscriber, sim["sid"]), lambda found: len(found) == 1)
    assert old["end"] is None
    assert client.wireless.v1.sims(sim["sid"]).fetch().ip_address == first["ip_address"]

    updated = client.wireless.v1.sims(sim["sid"]).update(reset_status="resetting")
    assert updated.reset_status == "resetting"

    # The old session ends, a new one starts: the device re-attached without being asked to.
    sessions = eventually(
        lambda: sessions_of(subscriber, sim["sid"]),
        lambda found: len(found) == 2 and found[1]["end"] is not None and found[0]["end"] is None,
    )
    new, ended = sessions
    assert ended["sid"] == old["sid"] and ended["end"] is not None
    assert new["sid"] != old["sid"] and new["end"] is None
    device = eventually(lambda: devices.get(sim["iccid"]), lambda d: d["state"] == "attached")
    assert device["state"] == "attached" and device["session"] is not None and device["error_code"] is None

    accepted = eventually(lambda: events_of(subscriber, sim["sid"], "attach_accepted"), lambda found: len(found) == 2)
    assert len(accepted) == 2
    [acked] = eventually(lambda: events_of(subscriber, sim["sid"], "disconnect_acked"), lambda found: bool(found))
    assert acked["data_session_sid"] == old["sid"] and acked["error_code"] is None
    assert acked["reason"] == "Connectivity reset: the session ends and the SIM attaches again"
    [gone] = eventually(lambda: events_of(subscriber, sim["sid"], "session_ended"), lambda found: bool(found))
    assert gone["data_session_sid"] == old["sid"] and gone["reason"] == "Callback"
    started = eventually(lambda: events_of(subscriber, sim["sid"], "session_started"), lambda found: len(found) == 2)
    assert {event["data_session_sid"] for event in started} == {old["sid"], new["sid"]}

    after = eventually(lambda: raw_sim(subscriber, sim["sid"]), lambda body: body["reset_status"] is None)
    assert after["reset_status"] is None and after["status"] == "active"
    live = eventually(
        lambda: client.wireless.v1.sims(sim["sid"]).fetch().ip_address,
        lambda address: address == device["ip_address"],
    )
    assert live == device["ip_address"]
    devices.reset()


def test_data_sessions_are_what_the_network_recorded(subscriber: Account) -> None:
    sim = wireless_sim(subscriber, "sessions-plan")
    client = subscriber.client()
    devices = Devices(subscriber)
    before = datetime.now(UTC).replace(microsecond=0)
    device = devices.attach(sim["iccid"], USA, Imei=IMEI, RatType="NB-IoT")
    made = devices.traffic(sim["iccid"], up=12_345, down=67_890)
    assert (made["upload_bytes"], made["download_bytes"]) == (12_345, 67_890)

    def counted(found: list[Any]) -> bool:
        return len(found) == 1 and found[0].packets_uploaded == made["upload_packets"]

    [live] = eventually(lambda: client.wireless.v1.sims(sim["sid"]).data_sessions.list(), counted)
    operator = client.supersim.v1.networks(USA_SID).fetch()
    assert (live.operator_mcc, live.operator_mnc) == ("310", "260")
    assert live.operator_name == operator.friendly_name and live.operator_country == "USA"
    assert live.radio_link == "NB-IoT" and live.imei == IMEI
    assert live.cell_id == str(device["cell_id"])
    assert (live.packets_uploaded, live.packets_downloaded) == (made["upload_packets"], made["download_packets"])
    assert live.sim_sid == sim["sid"] and live.account_sid == subscriber.sid
    assert before - timedelta(seconds=1) <= live.start <= datetime.now(UTC) and live.end is None
    # The bytes are the SIM's usage: exactly the traffic made, in the home zone.
    [record] = client.wireless.v1.sims(sim["sid"]).usage_records.list()
    assert (record.data["upload"], record.data["download"]) == (12_345, 67_890)
    assert (record.data["home"]["upload"], record.data["home"]["download"]) == (12_345, 67_890)

    assert devices.update(sim["iccid"], State="detached").status_code == 200
    [ended] = eventually(
        lambda: client.wireless.v1.sims(sim["sid"]).data_sessions.list(), lambda found: found[0].end is not None
    )
    assert ended.sid == live.sid and live.start <= ended.end <= datetime.now(UTC) + timedelta(seconds=1)
    assert (ended.packets_uploaded, ended.packets_downloaded) == (made["upload_packets"], made["download_packets"])
    assert client.wireless.v1.sims(sim["sid"]).fetch().ip_address is None
    devices.reset()
