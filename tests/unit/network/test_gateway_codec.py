"""Gateway codec and session table: RADIUS attribute values from GTP values, counters, TEIDs, addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib import gtp_v2 as sg

from cellplane.network.gateway import codec
from cellplane.network.gateway.sessions import AddressPool, Session, SessionTable
from cellplane.protocols import radius
from cellplane.protocols.gtp import Cause, CreateSessionResponse, Plmn, PrivateExtension, UserLocation, decode, private
from cellplane.protocols.ipv4 import Ipv4Error, packet_sizes
from cellplane.protocols.radius import AcctStatusType, AcctTerminateCause, Code


def session(table: SessionTable, imsi: str = "001010000000001", ue_ip: str = "10.64.0.9") -> Session:
    acct_id, charging_id = table.new_accounting_ids()
    return Session(
        imsi=imsi,
        ue_ip=ue_ip,
        apn="super",
        ebi=5,
        control_teid=table.new_teid(),
        user_teid=table.new_teid(),
        sgw_control_teid=1,
        sgw_user_teid=2,
        sgw_control=("127.0.0.1", 2123),
        sgw_user=("127.0.0.1", 2152),
        acct_session_id=acct_id,
        charging_id=charging_id,
    )


def test_location_info_is_tai_and_ecgi_of_ts_29_061() -> None:
    """TS 29.061 §16.4.7.2: Geographic Location Type 130, then TAI (PLMN, TAC) and ECGI (PLMN, 4 spare bits, ECI)."""
    location = codec.location_info(UserLocation(Plmn("262", "01"), 0x1234, 0xABCDEF1))
    assert location == bytes.fromhex("82 62f210 1234 62f210 0abcdef1")
    assert codec.location_info(None) is None


def test_octets_past_four_gigabytes_go_to_gigawords() -> None:
    """RFC 2869 §5.1: Acct-Input-Gigawords counts how many times Acct-Input-Octets wrapped at 2**32."""
    table = SessionTable(seed=1)
    live = session(table)
    up, down = 5 * 2**32 + 7, 2**32
    attributes = dict(
        codec.accounting_request(
            live, AcctStatusType.STOP, "127.0.0.1", "pgw", usage=(up, 3, down, 4), terminate_cause=6
        )
    )
    assert (attributes["Acct-Input-Octets"], attributes["Acct-Input-Gigawords"]) == (7, 5)
    assert (attributes["Acct-Output-Octets"], attributes["Acct-Output-Gigawords"]) == (0, 1)
    assert attributes["Acct-Terminate-Cause"] == AcctTerminateCause.ADMIN_RESET
    # Every attribute encodes with the platform's codec.
    assert radius.build_request(Code.ACCOUNTING_REQUEST, 1, list(attributes.items()), b"s")


def test_reject_reason_joins_reply_messages() -> None:
    reject = radius.build_response(
        radius.decode(radius.build_request(Code.ACCESS_REQUEST, 1, [("User-Name", "x")], b"s")),
        Code.ACCESS_REJECT,
        [("Reply-Message", "83705"), ("Reply-Message", "SIM is inactive")],
        b"s",
    )
    assert codec.reject_reason(radius.decode(reject)) == "83705 SIM is inactive"


def test_session_table_indexes_and_forgets() -> None:
    table = SessionTable(seed=3)
    one, two = session(table), session(table, "001010000000002", "10.64.0.10")
    table.add(one)
    table.add(two)
    assert one.acct_session_id != two.acct_session_id and one.charging_id != two.charging_id
    assert table.find("001010000000001") is one and table.find("10.64.0.10") is two
    assert table.by_user_teid[one.user_teid] is one and table.by_control_teid[two.control_teid] is two
    assert table.remove(one) and not table.remove(one) and one.ended
    assert table.find("10.64.0.9") is None and len(table) == 1


def test_teids_are_never_zero_or_reused() -> None:
    table = SessionTable(seed=5)
    seen = set()
    for index in range(200):
        live = session(table, f"0010100000{index:05d}", f"10.64.1.{index}")
        table.add(live)
        assert 0 not in (live.control_teid, live.user_teid)
        seen.update((live.control_teid, live.user_teid))
    assert len(seen) == 400


def test_address_pool_skips_addresses_in_use_and_network_and_broadcast() -> None:
    pool = AddressPool("10.0.0.0/30")  # .1 and .2 usable
    table = SessionTable()
    first = pool.take(table.by_ue_ip)
    assert first == "10.0.0.1"
    table.by_ue_ip[first] = session(table)
    assert pool.take(table.by_ue_ip) == "10.0.0.2"
    table.by_ue_ip["10.0.0.2"] = session(table)
    assert pool.take(table.by_ue_ip) is None


@given(total=st.integers(28, 3_000_000))
def test_packet_sizes_add_up_exactly(total: int) -> None:
    sizes = packet_sizes(total)
    assert sum(sizes) == total and all(28 <= size <= 1400 for size in sizes)
    assert len(sizes) == -(-total // 1400) and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("total", [1, 27, -1])
def test_packet_sizes_refuse_what_no_udp_packet_can_be(total: int) -> None:
    with pytest.raises(Ipv4Error):
        packet_sizes(total)


def test_private_extension_round_trips_and_scapy_reads_it() -> None:
    """TS 29.274 §8.67: Enterprise ID (2 octets) then our tag and value; other vendors' extensions are ignored."""
    refused = CreateSessionResponse(
        seq=3, teid=9, cause=Cause.USER_AUTHENTICATION_FAILED, private_extension=private.reason_extension("83703 ß")
    )
    data = refused.encode()
    assert decode(data) == refused
    ie = sg.GTPHeader(data)[sg.GTPV2CreateSessionResponse].IE_list[-1]
    assert (ie.ietype, ie.enterprisenum, ie.proprietaryvalue) == (255, 32473, b"\x01" + "83703 ß".encode())
    assert private.split_reason("83703 ß") == (83703, "ß") and private.split_reason("no code") == (None, "no code")
    assert private.reason_of(PrivateExtension(10415, b"\x01text")) is None
    assert private.gtpu_port_of(private.gtpu_port_extension(40000)) == 40000
    assert private.gtpu_port_of(PrivateExtension(32473, b"\x02\x00")) is None
    long_reason = private.reason_of(private.reason_extension("é" * 2000))
    assert long_reason is not None and len(long_reason.encode()) <= private.MAX_REASON_OCTETS
