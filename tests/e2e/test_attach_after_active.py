"""A SIM reads `active` only once the network takes it (issue 22): the AAA in the process learns of the change
before the API can show it, so a device attaching right after GET shows `active` is accepted at the first try."""

from __future__ import annotations

import time

from tests.conftest import Account
from tests.support.network import EMULATOR, USA, make_fleet, network_server, subscriber

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest


def test_attach_right_after_active_is_shown_is_accepted(subscriber: Account) -> None:
    fleet = make_fleet(subscriber, [USA])
    with subscriber.http() as http:
        for _ in range(5):
            # A SIM claimed just now: the AAA's poller has not seen it yet; only the update itself can tell it.
            [item] = subscriber.inventory(1)
            body = {"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}
            sid = http.post("/supersim/v1/Sims", data=body).json()["sid"]
            update = http.post(f"/supersim/v1/Sims/{sid}", data={"Fleet": fleet.sid, "Status": "active"})
            assert update.status_code == 202, update.text
            deadline = time.monotonic() + 10
            while http.get(f"/supersim/v1/Sims/{sid}").json()["status"] != "active":
                assert time.monotonic() < deadline, "the SIM never became active"
            device = http.post(f"{EMULATOR}/Devices", data={"Iccid": item["iccid"], "Network": USA}, timeout=30)
            assert device.status_code == 201, device.text
            got = device.json()
            assert (got["state"], got["error_code"]) == ("attached", None), got
