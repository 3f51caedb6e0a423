"""Access-Requests from pyrad (an independent RADIUS client) to the real AAA over UDP, decided from its cache."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pyrad import packet as pyrad_packet
from pyrad.client import Timeout

from cellplane.network.aaa import metrics
from tests.unit.network.conftest import SECRET, StartAaa, eventually, pgw_for
from tests.unit.network.peers import FRANCE, FRANCE_SID, UK, USA, framed_ip, reply_message
from tests.unit.network.world import World


async def test_an_active_sim_in_an_allowed_network_is_accepted_with_an_address_from_the_pool(
    world: World, start_aaa: StartAaa
) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()

    reply = await pgw_for(aaa).aaccess(sim.imsi, FRANCE)

    assert reply.code == pyrad_packet.AccessAccept
    assert framed_ip(reply).startswith("10.64.0.")
    assert reply["Class"][0] == sim.sid.encode()


async def test_the_same_sim_gets_the_same_address_and_two_sims_get_different_ones(
    world: World, start_aaa: StartAaa
) -> None:
    one, two = await world.sim("active"), await world.sim("ready")
    pgw = pgw_for(await start_aaa())

    first = framed_ip(await pgw.aaccess(one.imsi, FRANCE))
    again = framed_ip(await pgw.aaccess(one.imsi, USA))
    other = framed_ip(await pgw.aaccess(two.imsi, FRANCE))

    assert first == again
    assert other != first


@pytest.mark.parametrize(
    ("status", "fleet", "plmn", "code"),
    [
        ("new", True, FRANCE, 83705),
        ("inactive", True, FRANCE, 83705),
        ("active", False, FRANCE, 83702),
        ("active", True, UK, 83706),
    ],
)
async def test_each_rule_rejects_with_its_code_in_the_reply_message(
    world: World, start_aaa: StartAaa, status: str, fleet: bool, plmn: tuple[str, str], code: int
) -> None:
    sim = await world.sim(status, fleet=fleet)
    aaa = await start_aaa()

    reply = await pgw_for(aaa).aaccess(sim.imsi, plmn)

    assert reply.code == pyrad_packet.AccessReject
    assert reply_message(reply).startswith(f"{code} ")
    assert "Framed-IP-Address" not in reply


async def test_data_disabled_by_the_fleet_is_rejected_83704(world: World, start_aaa: StartAaa) -> None:
    fleet = await world.add_fleet([FRANCE_SID], data_enabled=False)
    sim = await world.sim("active", fleet=fleet)
    reply = await pgw_for(await start_aaa()).aaccess(sim.imsi)

    assert reply.code == pyrad_packet.AccessReject
    assert reply_message(reply).startswith("83704 ")


async def test_an_unknown_or_unclaimed_imsi_is_rejected_83701(world: World, start_aaa: StartAaa) -> None:
    unclaimed = await world.sim("new", claimed=False)
    pgw = pgw_for(await start_aaa())

    for imsi in (unclaimed.imsi, "901539999999999"):
        reply = await pgw.aaccess(imsi)
        assert reply.code == pyrad_packet.AccessReject
        assert reply_message(reply).startswith("83701 ")


async def test_a_sim_attaching_too_often_is_rate_limited_83703(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    pgw = pgw_for(await start_aaa())

    codes = [(await pgw.aaccess(sim.imsi)).code for _ in range(21)]
    last = await pgw.aaccess(sim.imsi)

    assert codes == [pyrad_packet.AccessAccept] * 20 + [pyrad_packet.AccessReject]
    assert reply_message(last).startswith("83703 ")


async def test_attach_decisions_are_recorded_as_connection_events(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("inactive")
    await pgw_for(await start_aaa()).aaccess(sim.imsi, USA)

    # The event is queued and written by the next flush, off the Access path.
    events = await eventually(lambda: world.events_of(sim))

    [event] = events
    assert (event.event_type, event.error_code, event.account_sid) == ("attach_rejected", 83705, world.account_sid)
    assert (event.mcc, event.mnc, event.iccid, event.radio_link) == ("310", "260", sim.iccid, "LTE-M")
    assert event.imei == "352686000012344"  # TAC+SNR of the IMEISV and its Luhn check digit


async def test_an_exhausted_address_pool_rejects_the_attach_and_records_attach_failed(
    world: World, start_aaa: StartAaa
) -> None:
    """GIVEN a UE pool of two addresses (a /30) leased to two SIMs, WHEN a third SIM the rules allow attaches, THEN
    Access-Reject saying the pool is exhausted and an `attach_failed` event (no platform error code: the SIM is
    not at fault); the SIMs holding addresses still get theirs."""
    one, two, third = await world.sim("active"), await world.sim("active"), await world.sim("active")
    pgw = pgw_for(await start_aaa(ue_ip_pool="10.99.0.0/30"))
    addresses = {framed_ip(await pgw.aaccess(sim.imsi, FRANCE)) for sim in (one, two)}
    assert addresses == {"10.99.0.1", "10.99.0.2"}

    refused = await pgw.aaccess(third.imsi, FRANCE)

    assert refused.code == pyrad_packet.AccessReject
    assert reply_message(refused) == "No free address in the UE address pool"
    assert "Framed-IP-Address" not in refused
    [event] = await eventually(lambda: world.events_of(third))
    assert (event.event_type, event.error_code, event.ip_address) == ("attach_failed", None, None)
    assert event.reason == "No free address in the UE address pool"
    assert (event.account_sid, event.iccid, event.mcc, event.mnc) == (world.account_sid, third.iccid, "208", "01")
    assert framed_ip(await pgw.aaccess(one.imsi, FRANCE)) in addresses


async def test_a_wrong_secret_and_an_unknown_client_are_dropped_and_counted(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()
    pgw = pgw_for(aaa)
    pgw.secret, pgw.retries = b"not-the-secret", 1
    before = metrics.dropped("bad_authenticator")

    with pytest.raises(Timeout):
        await pgw.aaccess(sim.imsi)
    assert metrics.dropped("bad_authenticator") == before + 1

    stranger = await start_aaa(clients={"127.0.0.9": SECRET})
    before = metrics.dropped("unknown_client")
    with pytest.raises(Timeout):
        await pgw_for(stranger, retries=1).aaccess(sim.imsi)
    assert metrics.dropped("unknown_client") == before + 1


async def test_message_authenticator_can_be_required(world: World, start_aaa: StartAaa) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa(require_message_authenticator=True)
    pgw = pgw_for(aaa, retries=1)
    unsigned = pgw.client().CreateAuthPacket(code=pyrad_packet.AccessRequest, message_authenticator=False)
    unsigned["User-Name"] = sim.imsi

    with pytest.raises(Timeout):
        await pgw.asend(unsigned)
    assert (await pgw.aaccess(sim.imsi)).code == pyrad_packet.AccessAccept


async def test_a_retransmitted_access_request_gets_the_same_answer_without_a_second_decision(
    world: World, start_aaa: StartAaa
) -> None:
    sim = await world.sim("active")
    aaa = await start_aaa()
    request = pgw_for(aaa).access_request(sim.imsi).RequestPacket()
    duplicates = metrics.DUPLICATES._value.get()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        answers = []
        for _ in range(3):
            sock.sendto(request, aaa.auth_address)
            answers.append(await asyncio.to_thread(sock.recv, 4096))

    assert answers[0] == answers[1] == answers[2]
    assert metrics.DUPLICATES._value.get() == duplicates + 2
    assert aaa.core.limiter._counts[sim.imsi][1] == 1  # decided once: one attach toward the rate limit


async def test_status_server_is_answered_on_both_ports(world: World, start_aaa: StartAaa) -> None:
    aaa = await start_aaa()
    client = pgw_for(aaa).client()
    auth = client.CreateAuthPacket(code=pyrad_packet.StatusServer)
    auth["NAS-Identifier"] = "watchdog"

    reply = await asyncio.to_thread(client.SendPacket, auth)

    assert reply.code == pyrad_packet.AccessAccept
