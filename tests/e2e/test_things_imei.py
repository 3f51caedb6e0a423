"""IMEI monitoring end to end: devices attach through `/cellplane/v1/Emulator` (the emulator reports the IMEI in GTP,
the gateway passes it to the AAA as 3GPP-IMEISV). A new IMEI makes exactly one IMEI change, one `imei_changed`
connection event and one signed webhook; with `imeiLock`, the other IMEI is refused (83711) and recorded, the
locked one attaches."""

from __future__ import annotations

import time

from tests.conftest import Account
from tests.e2e.test_things_api import http, things_of
from tests.e2e.test_things_network import NL, SETTLE, change_state
from tests.e2e.test_wireless_enforcement import events_of
from tests.support.network import Devices, eventually, network_server, subscriber
from tests.support.webhooks import WebhookReceiver

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

FIRST, SECOND = "490154203237518", "356938035643809"  # valid IMEIs (Luhn check digit)


def test_a_new_imei_is_recorded_once_announced_once_and_an_imei_lock_refuses_another(subscriber: Account) -> None:
    [thing] = things_of(subscriber, 1)
    devices = Devices(subscriber)
    receiver = WebhookReceiver(subscriber.token).start()
    try:
        with http(subscriber) as client:
            client.put("/eventsCallback", json={"url": receiver.url + "/events"})
            change_state(client, thing["sid"], "ACTIVE")
            devices.attach(thing["iccid"], NL, Imei=FIRST)
            # The IMEI is stored at the attach's authentication, the session a moment later (its Accounting-Start,
            # written by the AAA's group commit): wait for both.
            seen = eventually(
                lambda: client.get(f"/things/{thing['sid']}").json(),
                lambda t: t["imei"] == FIRST and t["lastSeen"] is not None,
            )
            assert seen["imei"] == FIRST and seen["lastSeen"]["network"] == NL
            # The first IMEI a SIM shows is its baseline: stored, not a change.
            assert client.get("/imeiChanges").json()["items"] == []

            devices.attach(thing["iccid"], NL, Imei=SECOND)
            path = f"/things/{thing['sid']}/imeiChanges"
            changes = eventually(lambda: client.get(path).json()["items"], lambda items: len(items) >= 1)
            [change] = changes
            assert (change["previousImei"], change["imei"], change["rejected"]) == (FIRST, SECOND, False)
            assert change["thingId"] == thing["sid"] and change["network"] == NL and change["at"].endswith("Z")
            [hook] = receiver.wait_for(lambda got: len(got) >= 1)
            assert hook.twilio_signature_valid and hook.kore_signature_valid
            assert hook.params["eventType"] == "imeiChanged" and hook.params["imei"] == SECOND
            assert hook.params["previousImei"] == FIRST and hook.params["thingId"] == thing["sid"]
            assert client.get(f"/things/{thing['sid']}").json()["imei"] == SECOND
            # Attaching again from the same device changes nothing.
            devices.attach(thing["iccid"], NL, Imei=SECOND)
            [event] = events_of(subscriber, thing["sid"], "imei_changed")
            assert event["imei"] == SECOND

            locked = client.patch(f"/things/{thing['sid']}", json={"imeiLock": SECOND})
            assert locked.status_code == 200 and locked.json()["imeiLock"] == SECOND, locked.text
            assert client.patch(f"/things/{thing['sid']}", json={"imeiLock": "12ab"}).json()["info"] == "imeiLock"
            time.sleep(SETTLE)  # the AAA re-reads a changed Thing within its poll interval
            refused = devices.attach(thing["iccid"], NL, expect="rejected", code=83711, Imei=FIRST)
            assert refused["error_code"] == 83711
            rejected = eventually(
                lambda: client.get(path).json()["items"], lambda items: any(item["rejected"] for item in items)
            )
            assert [(c["imei"], c["rejected"]) for c in rejected] == [(SECOND, False), (FIRST, True)]
            assert devices.attach(thing["iccid"], NL, Imei=SECOND)["state"] == "attached"
            hooks = receiver.wait_for(lambda got: len(got) >= 2)
            assert [h.params["eventType"] for h in hooks] == ["imeiChanged", "imeiRefused"]
            assert len(events_of(subscriber, thing["sid"], "imei_changed")) == 1
            [rejection] = [
                e for e in events_of(subscriber, thing["sid"], "attach_rejected") if e["error_code"] == 83711
            ]
            assert rejection["imei"] == FIRST
    finally:
        receiver.stop()
