"""FreeRADIUS's radclient, an independent implementation, against the real AAA (installed by the test set-up,
skipped with the reason when it cannot be)."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.network.conftest import StartAaa
from tests.unit.network.peers import radclient, require_radclient
from tests.unit.network.world import World


@pytest.fixture(scope="module")
def radclient_binary() -> str:
    return require_radclient()


def access(imsi: str, plmn: str = "20801") -> str:
    return (
        f'User-Name = "{imsi}"\nUser-Password = "{imsi}"\n3GPP-IMSI = "{imsi}"\n'
        f'3GPP-SGSN-MCC-MNC = "{plmn}"\n3GPP-RAT-Type = EUTRAN-NB-IoT\nCalled-Station-Id = "super"\n'
        "NAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n"
    )


def accounting(imsi: str, status: str, session: str, up: int, down: int) -> str:
    return (
        f'Acct-Status-Type = {status}\nAcct-Session-Id = "{session}"\nUser-Name = "{imsi}"\n3GPP-IMSI = "{imsi}"\n'
        f'3GPP-SGSN-MCC-MNC = "20801"\nNAS-Identifier = "radclient"\nAcct-Input-Octets = {up}\n'
        f"Acct-Output-Octets = {down}\nFramed-IP-Address = 10.64.0.200\n"
    )


async def test_radclient_gets_accept_with_an_address_and_reject_with_the_code(
    world: World, start_aaa: StartAaa, radclient_binary: str
) -> None:
    active, inactive = await world.sim("active"), await world.sim("inactive")
    aaa = await start_aaa()
    port = aaa.auth_address[1]

    accepted = await asyncio.to_thread(radclient, radclient_binary, port, "auth", access(active.imsi))
    rejected = await asyncio.to_thread(radclient, radclient_binary, port, "auth", access(inactive.imsi))

    assert "Received Access-Accept" in accepted.stdout, accepted.stdout + accepted.stderr
    assert "Framed-IP-Address = 10.64.0." in accepted.stdout
    assert "Received Access-Reject" in rejected.stdout, rejected.stdout + rejected.stderr
    assert 'Reply-Message = "83705 The SIM is not active"' in rejected.stdout


async def test_radclient_accounting_is_acknowledged_and_counted_exactly(
    world: World, start_aaa: StartAaa, radclient_binary: str
) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()
    port = aaa.acct_address[1]

    for status, up, down in (("Start", 0, 0), ("Interim-Update", 1500, 500), ("Stop", 2500, 900)):
        done = await asyncio.to_thread(
            radclient, radclient_binary, port, "acct", accounting(sim.imsi, status, "rc-1", up, down)
        )
        assert "Received Accounting-Response" in done.stdout, done.stdout + done.stderr

    [session] = await world.sessions_of(sim)
    assert (session.status, session.bytes_up, session.bytes_down, session.ue_ip) == ("closed", 2500, 900, "10.64.0.200")
    [bucket] = await world.buckets_of(sim)
    assert (bucket.bytes_up, bucket.bytes_down) == (2500, 900)
