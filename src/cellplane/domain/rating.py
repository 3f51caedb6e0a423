"""The rating engine, pure: usage, SMS and state history priced with a price plan, in exact decimals.

One engine prices everything the platform bills: the /things/v1 billing reports and Super SIM's
`data_total_billed` (with the platform's default plan). The rules, stated once:

- Money is `Decimal`, never float. 1 MB is 10^6 bytes (SI, as carriers bill and as the Super SIM spec's
  own example does: 300,000 bytes at 0.10 USD/MB is 0.03 USD).
- Rounding happens once per charge of a line, to the currency's minor unit (0.01), ROUND_HALF_UP:
  data charge = round(bytes × perMb / 10^6), SMS charge = round(sms × perSms), monthly fees =
  round(fees × monthlyFee). A line's `charges` is data + SMS, its `total` charges + monthly fees, and a
  report's total is the sum of its (already rounded) lines: the lines add up to the total exactly.
- Monthly fee: one fee per Thing per cycle if it was ACTIVE at any moment of the cycle — activated
  mid-cycle pays the full fee (no proration), as does one suspended or retired mid-cycle. PROVISIONED,
  RETIRED and SUSPENDED for the whole cycle pay none.
- A cycle is a calendar month in UTC, [first day 00:00, first day of the next month 00:00).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from cellplane.domain.billing import add_months
from cellplane.domain.errors import InvalidParameter

BYTES_PER_MB = Decimal(1_000_000)
CENT = Decimal("0.01")
ROUNDING = ROUND_HALF_UP
# Products are computed exactly before the one rounding: the default context keeps 28 significant digits, which a
# byte count of 15 digits times a price of 15 would exceed. 80 digits hold any count and price this engine accepts.
EXACT = Context(prec=80, rounding=ROUNDING)
# Prices are per unit with up to 6 decimals (0.000125 per MB is a real wholesale price); at most 10^9.
MAX_PRICE = Decimal(1_000_000_000)
PRICE_PLACES = 6
CURRENCIES = frozenset({"USD", "EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD"})
# States as the stored lifecycle names them (domain/things.py): only `active` is billable.
BILLABLE = "active"

_CYCLE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])\Z")


@dataclass(frozen=True)
class PricePlan:
    currency: str
    monthly_fee: Decimal
    per_mb: Decimal
    per_sms: Decimal


# The platform's default plan: Super SIM's flat 0.10 USD/MB, and what an account has until it sets its own.
DEFAULT_PLAN = PricePlan(currency="USD", monthly_fee=Decimal("1.00"), per_mb=Decimal("0.10"), per_sms=Decimal("0.05"))


@dataclass(frozen=True)
class Cycle:
    """A billing cycle: one UTC calendar month, half-open."""

    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"


@dataclass(frozen=True)
class Line:
    """One rated line of a report (a Thing's cycle)."""

    scope_id: str
    data_bytes: int
    sms: int
    monthly_fees: int
    data_charge: Decimal
    sms_charge: Decimal
    fee_charge: Decimal

    @property
    def data_mb(self) -> Decimal:
        return Decimal(self.data_bytes).scaleb(-6, context=EXACT).normalize(EXACT)

    @property
    def charges(self) -> Decimal:
        return self.data_charge + self.sms_charge

    @property
    def total(self) -> Decimal:
        return self.charges + self.fee_charge


def money(amount: Decimal) -> Decimal:
    """`amount` rounded to the minor unit, the engine's one rounding rule."""
    return amount.quantize(CENT, rounding=ROUNDING, context=EXACT)


def data_charge(data_bytes: int, plan: PricePlan) -> Decimal:
    if data_bytes < 0:
        raise ValueError("data_bytes must not be negative")
    return money(EXACT.divide(EXACT.multiply(Decimal(data_bytes), plan.per_mb), BYTES_PER_MB))


def sms_charge(count: int, plan: PricePlan) -> Decimal:
    if count < 0:
        raise ValueError("sms count must not be negative")
    return money(EXACT.multiply(Decimal(count), plan.per_sms))


def rate_line(scope_id: str, data_bytes: int, sms: int, monthly_fees: int, plan: PricePlan) -> Line:
    return Line(
        scope_id=scope_id,
        data_bytes=data_bytes,
        sms=sms,
        monthly_fees=monthly_fees,
        data_charge=data_charge(data_bytes, plan),
        sms_charge=sms_charge(sms, plan),
        fee_charge=money(EXACT.multiply(Decimal(monthly_fees), plan.monthly_fee)),
    )


def total(lines: Iterable[Line]) -> Decimal:
    """The sum of the lines' totals (each already rounded: no rounding happens here, the context is exact)."""
    result = Decimal("0.00")
    for line in lines:
        result = EXACT.add(result, line.total)
    return result


def pays_monthly_fee(status_at_start: str, changes: Iterable[tuple[datetime, str]], cycle: Cycle) -> bool:
    """Whether a Thing owes the cycle's fee: it was ACTIVE at some moment of [start, end).

    `status_at_start` is its stored status when the cycle began; `changes` are (at, new status) of the
    changes it went through, any order (ones outside the cycle are ignored)."""
    if status_at_start == BILLABLE:
        return True
    return any(cycle.start <= at < cycle.end and status == BILLABLE for at, status in changes)


def parse_cycle(text: str | None, name: str = "cycle") -> Cycle:
    if text is None or not _CYCLE.match(text):
        raise InvalidParameter(name, f"{name} must be a month as YYYY-MM")
    start = datetime(int(text[:4]), int(text[5:]), 1, tzinfo=UTC)
    return Cycle(start, add_months(start, 1))


def parse_price(value: object, name: str) -> Decimal:
    """A price given as a decimal string ("0.10"): not negative, at most 6 decimals, below 10^9."""
    if not isinstance(value, str):
        raise InvalidParameter(name, f'{name} must be a decimal string such as "0.10"')
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise InvalidParameter(name, f'{name} must be a decimal string such as "0.10"') from None
    if not price.is_finite() or price < 0 or price >= MAX_PRICE:
        raise InvalidParameter(name, f"{name} must be a finite amount from 0 to below {MAX_PRICE}")
    exponent = price.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > PRICE_PLACES:
        raise InvalidParameter(name, f"{name} has more than {PRICE_PLACES} decimals")
    return price


def parse_currency(value: object) -> str:
    if not isinstance(value, str) or value not in CURRENCIES:
        raise InvalidParameter("currency", f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    return value


def amount_text(amount: Decimal) -> str:
    """An amount on the wire: a plain decimal string (never exponent notation)."""
    text = str(amount)
    return text if "E" not in text else format(amount, "f")
