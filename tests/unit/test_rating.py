"""The rating engine (domain/rating.py): exact decimals, one rounding rule, the monthly-fee rule, its parsers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cellplane.domain import rating
from cellplane.domain.errors import InvalidParameter

PLAN = rating.PricePlan(currency="EUR", monthly_fee=Decimal("2.50"), per_mb=Decimal("0.015"), per_sms=Decimal("0.03"))
NOV = rating.parse_cycle("2026-11")


def at(day: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def test_a_megabyte_is_ten_to_the_sixth_bytes_and_half_a_cent_rounds_up() -> None:
    assert rating.data_charge(1_000_000, PLAN) == Decimal("0.02")  # 0.015 -> 0.02 (half up, not half even)
    assert rating.data_charge(3_000_000, PLAN) == Decimal("0.05")  # 0.045 -> 0.05
    assert rating.data_charge(2_999_999, PLAN) == Decimal("0.04")  # 0.044999985 -> 0.04
    assert rating.data_charge(1_048_576, PLAN) == Decimal("0.02")  # a MiB is not a MB: 0.01572864
    assert rating.sms_charge(7, PLAN) == Decimal("0.21")


def test_zero_usage_costs_zero_with_two_decimals() -> None:
    line = rating.rate_line("TH0", 0, 0, 0, PLAN)
    assert (line.charges, line.total, line.data_mb) == (Decimal("0.00"), Decimal("0.00"), Decimal(0))
    assert rating.amount_text(line.total) == "0.00"


def test_large_amounts_stay_exact() -> None:
    petabyte = 10**15
    plan = rating.PricePlan("USD", Decimal("999999999.999999"), Decimal("0.000001"), Decimal("0.000001"))
    line = rating.rate_line("TH0", petabyte, 10**9, 1, plan)
    assert line.data_charge == Decimal("1000.00")  # 10^9 MB × 10^-6
    assert line.sms_charge == Decimal("1000.00")
    assert line.fee_charge == Decimal("1000000000.00")
    assert rating.amount_text(line.total) == "1000002000.00"
    assert rating.amount_text(rating.data_charge(10**24, PLAN)) == "15000000000000000.00"


def test_products_beyond_28_digits_are_exact_before_the_rounding() -> None:
    plan = rating.PricePlan("USD", Decimal("0"), Decimal("477781726.297155"), Decimal("0"))
    # 33 significant digits: Python's default context (28) would round the product first and give ...333.53.
    assert rating.data_charge(912_702_340_527_064_441, plan) == Decimal("436072499852474662333.52")
    assert rating.amount_text(rating.rate_line("x", 0, 0, 0, plan).data_mb) == "0"
    assert rating.amount_text(rating.rate_line("x", 1, 0, 0, plan).data_mb) == "0.000001"


def test_lines_round_each_and_add_up_to_the_total_exactly() -> None:
    # 333,333 bytes at 0.015/MB is 0.004999995 a line: 0.00 each, never a cent that appears only in the total.
    lines = [rating.rate_line(f"TH{i}", 333_333, 0, 0, PLAN) for i in range(3)]
    assert rating.total(lines) == sum(line.total for line in lines) == Decimal("0.00")
    mixed = [rating.rate_line("a", 1_500_000, 3, 1, PLAN), rating.rate_line("b", 10, 0, 0, PLAN)]
    assert [line.total for line in mixed] == [Decimal("2.61"), Decimal("0.00")]  # 0.0225->0.02 + 0.09 + 2.50
    assert rating.total(mixed) == Decimal("2.61")


def test_the_monthly_fee_rule() -> None:
    # ACTIVE when the cycle starts, or at any moment of it, pays the full fee.
    assert rating.pays_monthly_fee("active", [], NOV)
    assert rating.pays_monthly_fee("new", [(at(20), "active")], NOV)  # activated mid-cycle: full fee
    assert rating.pays_monthly_fee("active", [(at(2), "inactive")], NOV)  # suspended mid-cycle
    assert rating.pays_monthly_fee("inactive", [(at(29), "active")], NOV)
    # Never ACTIVE within the cycle: no fee.
    assert not rating.pays_monthly_fee("inactive", [], NOV)  # suspended the whole cycle
    assert not rating.pays_monthly_fee("new", [], NOV)  # PROVISIONED
    assert not rating.pays_monthly_fee("canceled", [], NOV)  # RETIRED
    assert not rating.pays_monthly_fee("new", [(at(1, 12), "active")], NOV)  # activated in the next cycle
    # The cycle is half-open: midnight of Dec 1 belongs to December.
    assert not rating.pays_monthly_fee("new", [(datetime(2026, 12, 1, tzinfo=UTC), "active")], NOV)
    assert rating.pays_monthly_fee("new", [(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "active")], NOV)


def test_cycles_are_utc_calendar_months() -> None:
    feb = rating.parse_cycle("2028-02")
    assert (feb.start, feb.end, feb.name) == (
        datetime(2028, 2, 1, tzinfo=UTC),
        datetime(2028, 3, 1, tzinfo=UTC),
        "2028-02",
    )
    dec = rating.parse_cycle("2026-12")
    assert dec.end == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in (None, "2026-13", "2026-1", "26-11", "2026-11-01", "2026-00", "2026-11\n"):
        with pytest.raises(InvalidParameter) as caught:
            rating.parse_cycle(bad)
        assert caught.value.parameter == "cycle"


@pytest.mark.parametrize("bad", [0.1, 1, None, "", "abc", "-0.01", "NaN", "Infinity", "1e9", "0.0000001", "1E-7"])
def test_prices_are_decimal_strings_in_range(bad: object) -> None:
    with pytest.raises(InvalidParameter) as caught:
        rating.parse_price(bad, "perMb")
    assert caught.value.parameter == "perMb"


def test_good_prices_keep_their_exact_value() -> None:
    assert rating.parse_price("0.000125", "perMb") == Decimal("0.000125")
    assert rating.parse_price("0", "perSms") == Decimal(0)
    assert rating.parse_price("999999999.999999", "monthlyFee") == Decimal("999999999.999999")
    assert rating.parse_currency("EUR") == "EUR"
    with pytest.raises(InvalidParameter):
        rating.parse_currency("eur")


def test_super_sim_usage_is_rated_by_the_same_engine_with_the_default_plan() -> None:
    from cellplane.services import usage_records

    # The Super SIM spec's own example: 300,000 bytes billed at 0.03 USD.
    assert usage_records.rate(300_000) == Decimal("0.03") and usage_records.BILLED_UNIT == "USD"
    for data_bytes in (0, 1, 49_999, 50_000, 1_048_576, 10**12):
        assert usage_records.rate(data_bytes) == rating.data_charge(data_bytes, rating.DEFAULT_PLAN)
