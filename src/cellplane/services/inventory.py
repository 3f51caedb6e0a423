"""SIM inventory (operator side): generate or import unclaimed SIMs, in bulk."""

from __future__ import annotations

import csv
import random
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.iccid import is_valid_iccid, make_iccid
from cellplane.domain.ids import Prefix, SidFactory
from cellplane.services import things_networks
from cellplane.store.models import Sim
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import things as things_repo

# Issuer digits after "89" and the home PLMN of each product line. Super SIMs use the shared
# international MCC 901 (no home country); Wireless SIMs a US home network, so "national" means US.
PRODUCTS = {
    "supersim": {"issuer": "88307", "plmn": "90153", "prefix": Prefix.SUPER_SIM},
    "wireless": {"issuer": "01260", "plmn": "310260", "prefix": Prefix.WIRELESS_SIM},
    # Digital profiles an eSIM order draws from (never a physical card a customer may hold and claim).
    "esim": {"issuer": "88309", "plmn": "90153", "prefix": Prefix.SUPER_SIM},
    # Things (THINGS.md): SIMs of the private-network platform, homed in the Netherlands (MCC 204).
    "things": {"issuer": "31080", "plmn": "20408", "prefix": Prefix.THING},
}
CHUNK = 5000


@dataclass(frozen=True)
class InventorySim:
    iccid: str
    imsi: str
    registration_code: str
    product: str = "supersim"
    eid: str | None = None
    msisdn: str | None = None


def generate(
    count: int, product: str = "supersim", seed: int | None = None, start_serial: int = 0
) -> Iterator[InventorySim]:
    """`count` new SIMs with valid ICCIDs (Luhn), IMSIs on the product's home PLMN, random codes."""
    if product not in PRODUCTS:
        raise InvalidParameter("product", f"product must be one of {', '.join(PRODUCTS)}")
    spec = PRODUCTS[product]
    rng = random.Random(seed)
    base = start_serial or rng.randrange(10**9, 9 * 10**9)
    alphabet = string.ascii_uppercase + string.digits
    msin_width = 15 - len(spec["plmn"])
    for offset in range(count):
        serial = base + offset
        yield InventorySim(
            iccid=make_iccid(spec["issuer"], serial % 10**12, length=20),
            imsi=f"{spec['plmn']}{serial % 10**msin_width:0{msin_width}d}",
            registration_code="".join(rng.choice(alphabet) for _ in range(10)),
            product=product,
        )


def read_csv(path: Path, product: str = "supersim") -> Iterator[InventorySim]:
    """An operator's list: columns iccid, imsi, registration_code (optional: eid, msisdn, product)."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"iccid", "imsi", "registration_code"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidParameter("csv", f"CSV is missing columns: {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            iccid = (row.get("iccid") or "").strip()
            imsi = (row.get("imsi") or "").strip()
            code = (row.get("registration_code") or "").strip()
            if not is_valid_iccid(iccid):
                raise InvalidParameter("csv", f"line {line}: {iccid!r} is not a valid ICCID")
            if not (imsi.isdigit() and 6 <= len(imsi) <= 15):
                raise InvalidParameter("csv", f"line {line}: {imsi!r} is not a valid IMSI")
            if not code or len(code) > 32:
                raise InvalidParameter("csv", f"line {line}: registration_code must be 1-32 characters")
            line_product = (row.get("product") or product).strip() or product
            if line_product not in PRODUCTS:
                raise InvalidParameter("csv", f"line {line}: unknown product {line_product!r}")
            yield InventorySim(
                iccid=iccid,
                imsi=imsi,
                registration_code=code,
                product=line_product,
                eid=(row.get("eid") or None),
                msisdn=(row.get("msisdn") or None),
            )


async def load(
    session: AsyncSession,
    sims: Iterable[InventorySim],
    *,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    account_sid: str | None = None,
) -> list[tuple[str, InventorySim]]:
    """Insert SIMs in chunks; duplicates of existing ICCIDs/IMSIs are refused before anything is written.

    With `account_sid` the SIMs are handed to that account at once (Wireless SIMs have no claim API).
    The caller commits once, so an import is all or nothing.
    """
    factory = SidFactory(seed)
    loaded: list[tuple[str, InventorySim]] = []
    seen_iccids: set[str] = set()
    seen_imsis: set[str] = set()
    chunk: list[tuple[str, InventorySim]] = []
    for sim in sims:
        if sim.iccid in seen_iccids or sim.imsi in seen_imsis:
            raise InvalidParameter("csv", f"duplicate SIM in input: ICCID {sim.iccid} / IMSI {sim.imsi}")
        seen_iccids.add(sim.iccid)
        seen_imsis.add(sim.imsi)
        chunk.append((factory.new(PRODUCTS[sim.product]["prefix"]), sim))
        if len(chunk) >= CHUNK:
            await _insert(session, chunk, account_sid)
            loaded.extend(chunk)
            if progress:
                progress(len(chunk))
            chunk = []
    if chunk:
        await _insert(session, chunk, account_sid)
        loaded.extend(chunk)
        if progress:
            progress(len(chunk))
    if account_sid is not None and any(sim.product == things.PRODUCT for _, sim in loaded):
        # Things handed to an account start PROVISIONED in its default Things Group.
        await things_networks.ensure_defaults(session, account_sid)
        default = await things_repo.default_group(session, account_sid)
        assert default is not None
        await things_repo.assign_default_group(session, account_sid, default.sid)
    return loaded


async def _insert(session: AsyncSession, chunk: list[tuple[str, InventorySim]], account_sid: str | None) -> None:
    iccids = [sim.iccid for _, sim in chunk]
    clash = (await session.execute(select(Sim.iccid).where(Sim.iccid.in_(iccids)).limit(1))).scalar()
    if clash:
        raise InvalidParameter("csv", f"ICCID {clash} is already in the inventory")
    imsis = [sim.imsi for _, sim in chunk]
    clash = (await session.execute(select(Sim.imsi).where(Sim.imsi.in_(imsis)).limit(1))).scalar()
    if clash:
        raise InvalidParameter("csv", f"IMSI {clash} is already in the inventory")
    now = utcnow()
    rows = [
        {
            # Explicit fields: dataclasses.asdict deep-copies and was a third of a 100,000-row import.
            "iccid": sim.iccid,
            "imsi": sim.imsi,
            "registration_code": sim.registration_code,
            "product": sim.product,
            "eid": sim.eid,
            "msisdn": sim.msisdn,
            "sid": sid,
            "status": "new",
            "date_created": now,
            "date_updated": now,
            "account_sid": account_sid,
            "claimed_at": now if account_sid else None,
            "pending_fleet_set": False,
            "ready_bytes": 0,
            "ready_sms": 0,
        }
        for sid, sim in chunk
    ]
    await session.execute(insert(Sim), rows)
