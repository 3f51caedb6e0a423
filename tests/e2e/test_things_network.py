"""Things on the network, end to end: devices attached through `/cellplane/v1/Emulator` (GTP into the platform's
gateway, RADIUS to its AAA), Things driven through /things/v1, outcomes read back as the device, the Thing and the
connection events show them. The RADIUS side of two accounts with the same CIDR is asked directly with pyrad, as a
third-party PGW would (the gateway's per-network routing domains are the data plane's)."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import httpx
from pyrad import packet as pyrad_packet

from tests.conftest import Account
from tests.e2e.test_things_api import defaults, http, things_of
from tests.e2e.test_wireless_enforcement import events_of
from tests.support.network import EMULATOR, Devices, eventually, network_server, subscriber
from tests.support.server import Server
from tests.unit.network.peers import Pgw, framed_ip, reply_message

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

NL, BE, LU, DE = "204-08", "206-01", "270-01", "262-01"
# The AAA re-reads a changed Network or pool within its poll interval (1 s): configuration is given that long.
SETTLE = 1.5


def change_state(client: httpx.Client, sid: str, state: str) -> dict[str, Any]:
    """PATCH the state: 202 while the network applies it, then the final state."""
    response = client.patch(f"/things/{sid}", json={"state": state})
    assert response.status_code == 202, response.text
    assert response.json()["state"] == state and response.json()["statePending"] is True
    done = eventually(lambda: client.get(f"/things/{sid}").json(), lambda t: not t["statePending"])
    assert done["state"] == state and done["statePending"] is False
    return done


def private_network(client: httpx.Client, cidr: str, name: str = "plant") -> tuple[str, str]:
    """A Network with one pool and a Things Group on it: (network id, group id)."""
    network = client.post("/networks", json={"name": name}).json()
    assert client.post(f"/networks/{network['id']}/ipPools", json={"cidr": cidr}).status_code == 201
    group = client.post("/thingsGroups", json={"name": name, "networkId": network["id"]})
    assert group.status_code == 201, group.text
    return network["id"], group.json()["id"]


def test_the_default_group_lets_an_active_thing_attach_and_the_state_machine_acts_on_the_network(
    subscriber: Account,
) -> None:
    [thing] = things_of(subscriber, 1)
    devices = Devices(subscriber)
    try:
        with http(subscriber) as client:
            _, network, _ = defaults(client)
            refused = devices.attach(thing["iccid"], NL, expect="rejected", code=83705)
            assert refused["reason"] == "The Thing is not ACTIVE"
            change_state(client, thing["sid"], "ACTIVE")
            # The default group, Network, pool and empty IP Profile: nothing to configure before the first attach.
            device = devices.attach(thing["iccid"], NL, RatType="LTE-M")
            address = ipaddress.IPv4Address(device["ip_address"])
            assert address in ipaddress.IPv4Network(network["ipPools"][0]["cidr"])
            live = eventually(lambda: client.get(f"/things/{thing['sid']}").json(), lambda t: t["session"] is not None)
            assert live["ipAddress"] == device["ip_address"] and live["lastSeen"]["network"] == NL
            assert live["lastSeen"]["radio"] == "LTE-M"

            # Suspending ends the live session (Disconnect-Request from the AAA) and refuses the next attach.
            change_state(client, thing["sid"], "SUSPENDED")
            gone = eventually(lambda: devices.get(thing["iccid"]), lambda d: d["state"] != "attached")
            assert gone["state"] != "attached"
            [acked] = eventually(
                lambda: events_of(subscriber, thing["sid"], "disconnect_acked"), lambda found: bool(found)
            )
            assert acked["error_code"] == 83705
            eventually(lambda: client.get(f"/things/{thing['sid']}").json(), lambda t: t["session"] is None)
            devices.attach(thing["iccid"], NL, expect="rejected", code=83705)
            # Connection events are written in batches, a moment after the attach is answered.
            rejected = eventually(
                lambda: events_of(subscriber, thing["sid"], "attach_rejected"), lambda found: len(found) >= 2
            )
            assert len(rejected) >= 2 and all(event["error_code"] == 83705 for event in rejected)

            change_state(client, thing["sid"], "ACTIVE")
            devices.attach(thing["iccid"], BE, RatType="LTE")
            change_state(client, thing["sid"], "RETIRED")
            eventually(lambda: devices.get(thing["iccid"]), lambda d: d["state"] != "attached")
            devices.attach(thing["iccid"], NL, expect="rejected", code=83705)
            final = client.patch(f"/things/{thing['sid']}", json={"state": "ACTIVE"})
            assert final.status_code == 400 and final.json()["info"] == "state"
    finally:
        devices.reset()


def test_coverage_is_the_netherlands_belgium_and_luxembourg_over_2g_to_lte_m(subscriber: Account) -> None:
    [thing] = things_of(subscriber, 1)
    devices = Devices(subscriber)
    try:
        with http(subscriber) as client:
            change_state(client, thing["sid"], "ACTIVE")
        abroad = devices.attach(thing["iccid"], DE, expect="rejected", code=83708)
        assert "Netherlands, Belgium and Luxembourg" in abroad["reason"]
        nb_iot = devices.attach(thing["iccid"], NL, expect="rejected", code=83709, RatType="NB-IoT")
        assert "NB-IoT" in nb_iot["reason"]
        for network, radio in ((LU, "2G"), (BE, "3G"), (NL, "LTE")):
            devices.update(thing["iccid"], State="detached")
            assert devices.attach(thing["iccid"], network, RatType=radio)["state"] == "attached"
        codes = {event["error_code"] for event in events_of(subscriber, thing["sid"], "attach_rejected")}
        assert {83708, 83709} <= codes
    finally:
        devices.reset()


def test_services_data_false_ends_the_session_and_refuses_attaches(subscriber: Account) -> None:
    [thing] = things_of(subscriber, 1)
    devices = Devices(subscriber)
    try:
        with http(subscriber) as client:
            change_state(client, thing["sid"], "ACTIVE")
            devices.attach(thing["iccid"], NL)
            changed = client.patch(f"/things/{thing['sid']}", json={"services": {"data": False}})
            assert changed.status_code == 200 and changed.json()["services"] == {"data": False, "sms": True}
            eventually(lambda: devices.get(thing["iccid"]), lambda d: d["state"] != "attached")
            [acked] = eventually(
                lambda: events_of(subscriber, thing["sid"], "disconnect_acked"), lambda found: bool(found)
            )
            assert acked["error_code"] == 83704
            refused = devices.attach(thing["iccid"], NL, expect="rejected", code=83704)
            assert refused["reason"] == "services.data is false for this Thing"
            client.patch(f"/things/{thing['sid']}", json={"services": {"data": True}})
            assert devices.attach(thing["iccid"], NL)["state"] == "attached"
    finally:
        devices.reset()


def test_a_locked_ip_is_its_things_on_every_attach_and_never_another_things(subscriber: Account) -> None:
    owner, other, third = things_of(subscriber, 3)
    devices = Devices(subscriber)
    try:
        with http(subscriber) as client:
            network_id, group_id = private_network(client, "10.61.0.0/30")  # two addresses: .1 and .2
            for thing in (owner, other, third):
                change = {"thingsGroupId": group_id, **({"lockedIp": "10.61.0.1"} if thing is owner else {})}
                assert client.patch(f"/things/{thing['sid']}", json=change).status_code == 200
                change_state(client, thing["sid"], "ACTIVE")
            time.sleep(SETTLE)
            # The other Things attach first: the locked address is never theirs, so .2 is the only one left.
            assert devices.attach(other["iccid"], NL)["ip_address"] == "10.61.0.2"
            failed = devices.attach(third["iccid"], NL, expect="rejected")
            assert failed["reason"] == "No free address in the pools of the Thing's Network"
            [event] = eventually(
                lambda: events_of(subscriber, third["sid"], "attach_failed"), lambda found: bool(found)
            )
            assert event["reason"] == "No free address in the pools of the Thing's Network"
            # The pool is full, and still the locked address is its Thing's, on this attach and the next.
            assert devices.attach(owner["iccid"], NL)["ip_address"] == "10.61.0.1"
            devices.update(owner["iccid"], State="detached")
            eventually(lambda: devices.get(owner["iccid"]), lambda d: d["state"] == "detached")
            devices.update(third["iccid"], State="detached")
            assert devices.attach(third["iccid"], NL, expect="rejected")["error_code"] is None
            assert devices.attach(owner["iccid"], NL)["ip_address"] == "10.61.0.1"
            pool = client.get(f"/networks/{network_id}/ipPools").json()["items"][0]
            assert (pool["size"], pool["used"], pool["available"]) == (2, 2, 0)
    finally:
        devices.reset()


def test_two_accounts_networks_hold_the_same_cidr(network_server: Server) -> None:
    pgw = Pgw(int(network_server.env["CELLPLANE_AAA_AUTH_PORT"]), int(network_server.env["CELLPLANE_AAA_ACCT_PORT"]))
    answers = []
    for name in ("first", "second"):
        created = network_server.admin("create-account", "--friendly-name", name)
        account = Account(created["account_sid"], created["auth_token"], network_server)
        [thing] = things_of(account, 1)
        with http(account) as client:
            network_id, group_id = private_network(client, "10.62.0.0/29")
            client.patch(f"/things/{thing['sid']}", json={"thingsGroupId": group_id})
            change_state(client, thing["sid"], "ACTIVE")
        answers.append((network_id, thing["imsi"]))
    time.sleep(SETTLE)
    replies = [pgw.access(imsi, ("204", "08"), **{"3GPP-RAT-Type": 6}) for _, imsi in answers]
    for (network_id, _), reply in zip(answers, replies, strict=True):
        assert reply.code == pyrad_packet.AccessAccept, reply_message(reply)
        # Each session in its own Network's routing domain, with the same first address of the same CIDR.
        assert framed_ip(reply) == "10.62.0.1"
        assert reply["Cellplane-Routing-Domain"] == [network_id]
    assert answers[0][0] != answers[1][0]


def test_services_sms_false_refuses_sms_both_ways(subscriber: Account) -> None:
    [thing] = things_of(subscriber, 1)
    devices = Devices(subscriber)
    device_sms = f"{EMULATOR}/Devices/{thing['iccid']}/Sms"
    try:
        with http(subscriber) as client:
            change_state(client, thing["sid"], "ACTIVE")
            devices.attach(thing["iccid"], NL)
            sent = client.post(f"/things/{thing['sid']}/sms", json={"text": "ping"})
            assert sent.status_code == 201, sent.text
            inbox = eventually(lambda: devices.http.get(device_sms).json()["messages"], lambda found: len(found) == 1)
            assert inbox[0]["body"] == "ping"
            answer = devices.http.post(device_sms, data={"Body": "pong"}).json()
            assert answer["status"] == "accepted", answer
            listed = eventually(
                lambda: client.get(f"/things/{thing['sid']}/sms").json()["items"],
                lambda items: (
                    {(i["direction"], i["text"], i["status"]) for i in items}
                    == {("to_sim", "ping", "delivered"), ("from_sim", "pong", "received")}
                ),
            )
            assert len(listed) == 2

            assert client.patch(f"/things/{thing['sid']}", json={"services": {"sms": False}}).status_code == 200
            refused = client.post(f"/things/{thing['sid']}/sms", json={"text": "again"})
            assert refused.status_code == 400 and refused.json()["info"] == "services.sms"
            answer = devices.http.post(device_sms, data={"Body": "nope"}).json()
            assert answer["status"] == "refused" and answer["rp_cause"] is not None, answer
            events = eventually(
                lambda: events_of(subscriber, thing["sid"], "sms_refused"), lambda found: len(found) == 2
            )
            assert all(event["error_code"] == 83710 for event in events)
            assert {event["reason"] for event in events} == {
                "services.sms is false for this Thing (an SMS to sim)",
                "services.sms is false for this Thing (an SMS from sim)",
            }
            time.sleep(0.5)
            assert [m["body"] for m in devices.http.get(device_sms).json()["messages"]] == ["ping"]
            assert len(client.get(f"/things/{thing['sid']}/sms").json()["items"]) == 2
    finally:
        devices.reset()
