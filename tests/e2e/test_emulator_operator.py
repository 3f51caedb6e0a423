"""The emulated network's settings are the operator's (issue 22, finding 7): a visited network's HLCOM decides
whether every tenant's eDRX sleepers get their downlink, so a tenant may read it but not change it, and a tenant's
Reset powers off its own devices only; the operator (Basic admin:<admin token>, as /admin/v1) does both."""

from __future__ import annotations

import httpx

from tests.conftest import Account
from tests.support.network import EMULATOR, USA, Devices, make_fleet, make_sim, network_server, subscriber

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest


def test_tenants_read_network_settings_and_only_the_operator_changes_or_resets_them(subscriber: Account) -> None:
    server = subscriber.server
    operator = httpx.Client(base_url=server.base_url, auth=("admin", server.env["CELLPLANE_ADMIN_TOKEN"]))
    tenant = subscriber.http()
    anonymous = httpx.Client(base_url=server.base_url)
    wrong = httpx.Client(base_url=server.base_url, auth=("admin", "not-the-token"))

    for path in (f"{EMULATOR}/Networks/{USA}", f"{EMULATOR}/Reset"):
        assert anonymous.post(path, data={"Hlcom": "maybe"}).status_code == 401
        assert wrong.post(path, data={"Hlcom": "maybe"}).status_code == 401
    refused = tenant.post(f"{EMULATOR}/Networks/{USA}", data={"Hlcom": "false"})
    assert refused.status_code == 403
    assert refused.json()["code"] == 20403 and "operator" in refused.json()["message"]
    # Known, then refused, even with a bad value: a tenant learns nothing about the parameters it may not set.
    assert tenant.post(f"{EMULATOR}/Networks/{USA}", data={"Hlcom": "maybe"}).status_code == 403

    assert operator.post(f"{EMULATOR}/Networks/{USA}", data={"Hlcom": "false"}).json()["hlcom"] is False
    listed = {n["network"]: n["hlcom"] for n in tenant.get(f"{EMULATOR}/Networks").json()["networks"]}
    assert listed[USA] is False

    sim = make_sim(subscriber, make_fleet(subscriber, [USA]))
    Devices(subscriber).attach(sim.iccid)
    mine = tenant.post(f"{EMULATOR}/Reset").json()
    assert (mine["devices_powered_off"], mine["networks_reset"]) == (1, False)
    listed = {n["network"]: n["hlcom"] for n in tenant.get(f"{EMULATOR}/Networks").json()["networks"]}
    assert listed[USA] is False  # the last tenant's Reset does not touch the networks every tenant shares

    everything = operator.post(f"{EMULATOR}/Reset").json()
    assert (everything["devices_left"], everything["networks_reset"]) == (0, True)
    listed = {n["network"]: n["hlcom"] for n in tenant.get(f"{EMULATOR}/Networks").json()["networks"]}
    assert listed.get(USA, True) is True  # back to the default
