"""Gateway Dynamic Authorization (RFC 5176): Disconnect-Requests sent by pyrad end sessions, or are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pyrad import packet as pyrad

from cellplane.protocols.gtp import Cause, DeleteBearerRequest, DeleteBearerResponse, decode
from tests.unit.network.gateway_support import (
    DICTIONARY,
    SECRET,
    Stack,
    disconnect,
    eventually,
    first,
    peer,
    running_stack,
)

DEVICES = {"8988307000000000031": "310410000000031", "8988307000000000032": "310410000000032"}
ICCID, IMSI = next(iter(DEVICES.items()))


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    async with running_stack() as running:
        for iccid, imsi in DEVICES.items():
            await running.emulator.power_on(iccid, mcc="310", mnc="410", imsi=imsi)
        yield running


@pytest.mark.parametrize("by", ["Acct-Session-Id", "User-Name", "Framed-IP-Address"])
async def test_disconnect_ends_the_session_and_tells_the_sgw(stack: Stack, by: str) -> None:
    """GIVEN a live session, WHEN the AAA sends Disconnect-Request naming it, THEN Disconnect-ACK, the SGW gets
    a Delete Bearer Request (the device shows detached), and Accounting Stop says Admin-Reset."""
    session = stack.gateway.session(IMSI)
    assert session is not None
    key = {"Acct-Session-Id": session.acct_session_id, "User-Name": IMSI, "Framed-IP-Address": session.ue_ip}[by]
    await stack.emulator.traffic(ICCID, up=1000)
    reply = await disconnect(stack.gateway.dae_address, **{by: key, "Event-Timestamp": 1_767_225_600})
    assert reply is not None and reply.code == pyrad.DisconnectACK
    device = await stack.emulator.wait_for(ICCID, "detached")
    assert device.reason == "disconnected by the network"
    [stop] = await stack.aaa.wait_accounting("Stop")
    assert first(stop, "Acct-Terminate-Cause") == "Admin-Reset"
    assert first(stop, "Acct-Input-Octets") == 1000
    assert stack.gateway.session(IMSI) is None
    # The other device is untouched.
    assert stack.emulator.device(next(reversed(DEVICES))).state == "attached"
    responses = [decode(data) for data in stack.capture.of("sgw-c")]
    assert any(isinstance(r, DeleteBearerResponse) and r.teid == session.control_teid for r in responses)


async def test_a_reset_disconnect_asks_for_reactivation_and_the_device_attaches_again(stack: Stack) -> None:
    """GIVEN a live session, WHEN the Disconnect-Request carries Acct-Terminate-Cause Callback (the AAA's connectivity
    reset), THEN the Stop reports Callback, the Delete Bearer Request says Reactivation requested, and the emulated
    device attaches again by itself: a new session at the gateway."""
    session = stack.gateway.session(IMSI)
    assert session is not None
    reply = await disconnect(stack.gateway.dae_address, User_Name=IMSI, Acct_Terminate_Cause="Callback")
    assert reply is not None and reply.code == pyrad.DisconnectACK
    [stop] = await stack.aaa.wait_accounting("Stop")
    assert first(stop, "Acct-Terminate-Cause") == "Callback"
    requests = [decode(data) for data in stack.capture.of("pgw-c")]
    [bearer] = [r for r in requests if isinstance(r, DeleteBearerRequest)]
    assert bearer.cause == Cause.REACTIVATION_REQUESTED and bearer.teid == session.sgw_control_teid
    await eventually(lambda: stack.gateway.session(IMSI) not in (None, session))
    again = stack.gateway.session(IMSI)
    assert again is not None and again.acct_session_id != session.acct_session_id
    device = await stack.emulator.wait_for(ICCID, "attached")
    assert device.session is not None and device.reason is None


async def test_a_plain_disconnect_does_not_bring_the_device_back(stack: Stack) -> None:
    """Without the reset's cause the Delete Bearer Request carries none: the device stays detached."""
    reply = await disconnect(stack.gateway.dae_address, User_Name=IMSI)
    assert reply is not None and reply.code == pyrad.DisconnectACK
    await stack.emulator.wait_for(ICCID, "detached")
    requests = [decode(data) for data in stack.capture.of("pgw-c")]
    [bearer] = [r for r in requests if isinstance(r, DeleteBearerRequest)]
    assert bearer.cause is None
    await asyncio.sleep(0.3)
    assert stack.emulator.device(ICCID).state == "detached" and stack.gateway.session(IMSI) is None


async def test_unknown_session_is_nak_session_context_not_found(stack: Stack) -> None:
    reply = await disconnect(stack.gateway.dae_address, User_Name="310410999999999")
    assert reply is not None and reply.code == pyrad.DisconnectNAK
    assert first(reply, "Error-Cause") == "Session-Context-Not-Found"


async def test_identifiers_of_two_different_sessions_match_none(stack: Stack) -> None:
    """RFC 5176 §3: every identification attribute must point to the same session."""
    other = stack.gateway.session(DEVICES["8988307000000000032"])
    assert other is not None
    reply = await disconnect(stack.gateway.dae_address, User_Name=IMSI, Framed_IP_Address=other.ue_ip)
    assert reply is not None and first(reply, "Error-Cause") == "Session-Context-Not-Found"
    assert len(stack.gateway.sessions) == 2


async def test_a_request_without_identification_is_nak_missing_attribute(stack: Stack) -> None:
    reply = await disconnect(stack.gateway.dae_address, Event_Timestamp=1)
    assert reply is not None and first(reply, "Error-Cause") == "Missing-Attribute"


async def test_another_nas_identifier_is_nak_nas_identification_mismatch(stack: Stack) -> None:
    reply = await disconnect(stack.gateway.dae_address, User_Name=IMSI, NAS_Identifier="some-other-pgw")
    assert reply is not None and first(reply, "Error-Cause") == "NAS-Identification-Mismatch"
    assert stack.gateway.session(IMSI) is not None


async def test_a_wrong_secret_gets_no_answer_and_no_disconnect(stack: Stack) -> None:
    assert await disconnect(stack.gateway.dae_address, secret=b"not-the-secret", User_Name=IMSI) is None
    assert stack.gateway.session(IMSI) is not None and stack.gateway.dae.stats.dropped == 1


async def test_a_retransmitted_disconnect_gets_the_same_answer_once(stack: Stack) -> None:
    """RFC 5176 §2.3 / RFC 5080 §2.2.2: a duplicate is answered from the cache, not acted on twice."""
    request = pyrad.CoAPacket(code=pyrad.DisconnectRequest, secret=SECRET, dict=DICTIONARY, id=9)
    request["User-Name"] = IMSI
    data = request.RequestPacket()
    async with peer() as aaa:
        aaa.send(data, stack.gateway.dae_address)
        first_answer = await aaa.next()
        aaa.send(data, stack.gateway.dae_address)
        second_answer = await aaa.next()
    assert first_answer is not None and first_answer == second_answer
    assert pyrad.Packet(packet=first_answer, dict=DICTIONARY).code == pyrad.DisconnectACK
    await asyncio.sleep(0.1)
    assert len(stack.aaa.records("Stop")) == 1 and stack.gateway.dae.stats.disconnected == 1


async def test_coa_without_a_rate_is_nak_missing_attribute(stack: Stack) -> None:
    """A rate is the only authorization the gateway changes in flight: a CoA-Request without one is refused."""
    request = pyrad.CoAPacket(code=pyrad.CoARequest, secret=SECRET, dict=DICTIONARY)
    request["User-Name"] = IMSI
    async with peer() as aaa:
        aaa.send(request.RequestPacket(), stack.gateway.dae_address)
        answer = await aaa.next()
    assert answer is not None
    reply = pyrad.Packet(packet=answer, secret=SECRET, dict=DICTIONARY)
    assert request.VerifyReply(reply, answer)
    assert reply.code == pyrad.CoANAK and first(reply, "Error-Cause") == "Missing-Attribute"
    assert stack.gateway.session(IMSI).policer is None  # type: ignore[union-attr]


async def test_coa_for_an_unknown_session_is_nak_session_context_not_found(stack: Stack) -> None:
    reply = await disconnect(
        stack.gateway.dae_address, code=pyrad.CoARequest, User_Name="310410999999999", WISPr_Bandwidth_Max_Up=64000
    )
    assert reply is not None and reply.code == pyrad.CoANAK
    assert first(reply, "Error-Cause") == "Session-Context-Not-Found"


async def test_coa_with_a_rate_throttles_the_session_and_dropped_packets_are_not_usage(stack: Stack) -> None:
    """GIVEN a live session, WHEN the AAA sends a CoA-Request with WISPr-Bandwidth-Max-Up/-Down of 64 kbit/s, THEN
    CoA-ACK, the session is policed both ways: a burst far above the rate is mostly dropped, the gateway counts (and
    reports in accounting) only what passed; a CoA with rate 0 lifts the limit."""
    session = stack.gateway.session(IMSI)
    assert session is not None
    reply = await disconnect(
        stack.gateway.dae_address,
        code=pyrad.CoARequest,
        User_Name=IMSI,
        Acct_Session_Id=session.acct_session_id,
        WISPr_Bandwidth_Max_Up=64_000,
        WISPr_Bandwidth_Max_Down=64_000,
    )
    assert reply is not None and reply.code == pyrad.CoAACK
    assert session.throttle_view()["throttled"] and session.throttle_view()["rate_up"] == 64_000
    assert stack.gateway.session(next(reversed(DEVICES.values()))).policer is None  # type: ignore[union-attr]

    made = await stack.emulator.traffic(ICCID, up=200_000, down=100_000)
    # Every uplink packet sent is either counted or dropped, once the gateway has read its socket.
    await eventually(lambda: session.up_octets + session.throttle_view()["dropped_up_bytes"] == 200_000)
    view = session.throttle_view()
    # 8000 octets a second with a one-second burst: the bursts pass their first ~8 KB and lose the rest.
    assert 0 < session.up_octets < 20_000 and view["dropped_up_bytes"] > 180_000
    assert session.up_octets + view["dropped_up_bytes"] == made["up_bytes"] == 200_000
    assert 0 < session.down_octets < 20_000 and view["dropped_down_bytes"] > 80_000
    assert session.down_octets + view["dropped_down_bytes"] == 100_000
    assert made["down_bytes"] == session.down_octets  # the device received exactly what passed

    await stack.gateway.report_usage(IMSI)
    [interim] = await stack.aaa.wait_accounting("Interim-Update")
    assert first(interim, "Acct-Input-Octets") == session.up_octets
    assert first(interim, "Acct-Output-Octets") == session.down_octets

    lifted = await disconnect(
        stack.gateway.dae_address,
        code=pyrad.CoARequest,
        User_Name=IMSI,
        WISPr_Bandwidth_Max_Up=0,
        WISPr_Bandwidth_Max_Down=0,
    )
    assert lifted is not None and lifted.code == pyrad.CoAACK and session.policer is None
    before = session.up_octets
    await stack.emulator.traffic(ICCID, up=50_000)
    await eventually(lambda: session.up_octets == before + 50_000)
    assert session.throttle_view()["dropped_up_bytes"] == view["dropped_up_bytes"]  # kept after the lift
