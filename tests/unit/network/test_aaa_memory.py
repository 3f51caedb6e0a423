"""The AAA's in-memory pieces: the UE address pool, the duplicate cache, and attribute translation."""

from __future__ import annotations

import pytest

from cellplane.network.aaa.attributes import accounting_of, attach_of, cell_of, imei_of
from cellplane.network.aaa.duplicates import RecentRequests
from cellplane.network.aaa.pool import AddressPool
from cellplane.services.accounting_records import RecordKind

# --- address pool


def test_a_sim_keeps_its_address_and_no_two_sims_share_one() -> None:
    pool = AddressPool("10.64.0.0/29")

    first = pool.allocate("imsi-1", 0)
    again = pool.allocate("imsi-1", 1)
    others = {pool.allocate(f"imsi-{n}", 1) for n in range(2, 7)}

    assert first == again == "10.64.0.1"
    assert first not in others and len(others) == 5
    assert pool.allocate("imsi-7", 1) is None  # /29: six usable addresses, all leased


def test_a_lease_without_session_expires_and_its_address_is_reused_last() -> None:
    pool = AddressPool("10.64.0.0/30", lease_ttl=10)
    a = pool.allocate("one", 0)
    b = pool.allocate("two", 5)

    pool.expire(12)

    assert pool.address_of("one") is None and pool.address_of("two") == b
    assert pool.allocate("three", 12) == a


def test_an_open_session_holds_its_address_past_the_lease_time() -> None:
    pool = AddressPool("10.64.0.0/30", lease_ttl=10)
    address = pool.allocate("one", 0)
    pool.hold("one", address, ("nas", "s-1"), 1)

    pool.expire(1000)
    assert pool.address_of("one") == address

    pool.drop("one", ("nas", "s-1"), 1000)
    pool.expire(1005)
    assert pool.address_of("one") == address  # a quick re-attach keeps it
    pool.expire(1011)
    assert pool.address_of("one") is None


def test_an_address_reported_in_accounting_is_adopted_unless_another_sim_holds_it() -> None:
    pool = AddressPool("10.64.0.0/24")

    pool.hold("one", "10.64.0.77", ("nas", "s-1"), 0)
    pool.hold("two", "10.64.0.77", ("nas", "s-2"), 0)
    pool.hold("three", "192.0.2.1", ("nas", "s-3"), 0)  # the NAS's own pool: not ours

    assert pool.address_of("one") == "10.64.0.77"
    assert pool.address_of("two") is None and pool.address_of("three") is None
    assert pool.allocate("four", 0) != "10.64.0.77"


# --- duplicate cache


def test_a_request_is_pending_then_answered_then_forgotten_after_the_window() -> None:
    recent = RecentRequests(window=5)
    key = (("127.0.0.1", 4000), b"x" * 20)

    assert recent.lookup(key) is None
    recent.pending(key, 0)
    assert recent.lookup(key) == b""
    recent.answered(key, b"answer", 1)
    assert recent.lookup(key) == b"answer"
    recent.expire(4)
    assert recent.lookup(key) == b"answer"
    recent.expire(5)
    assert recent.lookup(key) is None


# --- attributes


@pytest.mark.parametrize(
    ("imeisv", "imei"),
    [
        ("4901542032375101", "490154203237518"),  # TS 23.003 Annex B's example IMEI, Luhn check digit 8
        ("49015420323751", "490154203237518"),
        ("490154203237518", "490154203237518"),
        ("49015420323751x1", None),
        (None, None),
    ],
)
def test_the_imei_is_the_imeisv_s_tac_and_serial_with_its_check_digit(imeisv: str | None, imei: str | None) -> None:
    assert imei_of(imeisv) == imei


def test_the_cell_is_read_from_each_user_location_info_layout() -> None:
    plmn = bytes.fromhex("02f810")
    assert cell_of(bytes([129]) + plmn + (0x1234567).to_bytes(4)) == str(0x1234567)
    assert cell_of(bytes([130]) + plmn + b"\x00\x01" + plmn + (0xF0000042).to_bytes(4)) == str(
        0x42
    )  # spare bits ignored
    assert cell_of(bytes([0]) + plmn + b"\x00\x01" + (777).to_bytes(2)) == "777"
    assert cell_of(bytes([129]) + plmn) is None
    assert cell_of(b"") is None


def test_an_access_request_reads_imsi_network_radio_and_imei() -> None:
    attach = attach_of(
        {"User-Name": "901530000000001", "3GPP-SGSN-MCC-MNC": "310260", "3GPP-RAT-Type": 8, "3GPP-IMEISV": "1" * 16}
    )

    assert (attach.imsi, attach.mcc, attach.mnc, attach.radio_link) == ("901530000000001", "310", "260", "NB-IoT")
    assert attach_of({"User-Name": "not-an-imsi"}).imsi is None


def test_accounting_folds_gigawords_and_needs_a_session_id() -> None:
    record = accounting_of(
        {
            "Acct-Status-Type": 2,
            "Acct-Session-Id": "s",
            "Acct-Input-Octets": 5,
            "Acct-Input-Gigawords": 2,
            "Acct-Output-Octets": 7,
            "Acct-Terminate-Cause": 6,
            "NAS-IP-Address": "127.0.0.1",
        },
        "127.0.0.1",
    )

    assert record is not None and record.kind == RecordKind.STOP
    assert (record.bytes_up, record.bytes_down, record.terminate_cause) == (2 * 2**32 + 5, 7, "Admin-Reset")
    assert record.nas_id == "127.0.0.1"
    with pytest.raises(ValueError):
        accounting_of({"Acct-Status-Type": 1}, "127.0.0.1")
    assert accounting_of({"Acct-Status-Type": 15}, "127.0.0.1") is None  # Failed: acknowledged, not recorded
