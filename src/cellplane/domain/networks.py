"""The catalogue of visited networks (MCC-MNC, operator, country): immutable, loaded once from the P1 dataset.

The data comes from the `mcc-mnc-p1` distribution (P1 Security's consolidation of ITU-T bulletins,
Wikipedia's MNC tables and the World Factbook). Its curated lookup tables ship as JSON in the
`mcc_mnc_lut` package of that distribution (the `mcc_mnc_genlib` package holds the raw inputs and the
generator). We keep operational networks that belong to a country: the test range (MCC 001), the
international ranges (MCC 901) and networks marked not operational are not places a SIM can roam to.

A Network's sid is derived from "MCC-MNC" (`derived_sid`), so it is the same on every install and
survives dataset upgrades. Lists are ordered by that "MCC-MNC" key, which is also the keyset position.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, derived_sid, is_sid
from cellplane.domain.paging import Page, PageSpec

DATA_PACKAGE = "mcc_mnc_lut"
_CODE = re.compile(r"^(\d{3})[-\s]?(\d{2,3})\Z")
_KEY = re.compile(r"^\d{3}-\d{2,3}\Z")
_COUNTRY = re.compile(r"^[A-Za-z]{2}\Z")


@dataclass(frozen=True, slots=True)
class Network:
    """One visited network: a PLMN (3GPP TS 23.003 §2.2: MCC of 3 digits, MNC of 2 or 3) with its name."""

    sid: str
    mcc: str
    mnc: str
    friendly_name: str
    iso_country: str

    @property
    def key(self) -> str:
        """The "MCC-MNC" text: sort order and keyset position of the catalogue."""
        return f"{self.mcc}-{self.mnc}"

    @property
    def plmn(self) -> str:
        """MCC and MNC run together, as in an IMSI prefix or a RADIUS 3GPP-SGSN-MCC-MNC attribute."""
        return f"{self.mcc}{self.mnc}"

    @property
    def identifiers(self) -> list[dict[str, str]]:
        """The wire shape of the spec: a list of MCC-MNC objects (a fresh list, the entry stays immutable)."""
        return [{"mcc": self.mcc, "mnc": self.mnc}]


def network_sid(mcc: str, mnc: str) -> str:
    return derived_sid(Prefix.NETWORK, f"{mcc}-{mnc}")


def is_page_key(value: str) -> bool:
    """Whether a decoded PageToken is a catalogue position ("MCC-MNC")."""
    return bool(_KEY.match(value))


class NetworkCatalogue:
    """Every known network, by sid and by MCC-MNC; lists are filtered, keyset-paged slices of one sorted tuple."""

    def __init__(self, networks: Iterable[Network]) -> None:
        ordered = sorted(networks, key=lambda n: n.key)
        self._networks: tuple[Network, ...] = tuple(ordered)
        self._keys: tuple[str, ...] = tuple(n.key for n in ordered)
        self._by_sid: Mapping[str, Network] = MappingProxyType({n.sid: n for n in ordered})
        self._by_code: Mapping[tuple[str, str], Network] = MappingProxyType({(n.mcc, n.mnc): n for n in ordered})

    def __len__(self) -> int:
        return len(self._networks)

    def __iter__(self) -> Iterator[Network]:
        return iter(self._networks)

    def get(self, sid: str) -> Network | None:
        return self._by_sid.get(sid)

    def by_code(self, mcc: str, mnc: str) -> Network | None:
        return self._by_code.get((mcc, mnc))

    def lookup(self, text: str) -> Network | None:
        """A network by its HW sid, by "MCC-MNC" ("310-260") or by the PLMN digits ("310260")."""
        value = text.strip()
        if is_sid(value, Prefix.NETWORK):
            return self.get(value)
        match = _CODE.match(value)
        return self.by_code(match.group(1), match.group(2)) if match else None

    def select(
        self, *, iso_country: str | None = None, mcc: str | None = None, mnc: str | None = None
    ) -> Sequence[Network]:
        """The networks matching every given filter, in catalogue order; a malformed filter names itself."""
        country = _check_filter("IsoCountry", iso_country, _COUNTRY, "a two-letter ISO 3166-1 country code")
        mcc = _check_filter("Mcc", mcc, re.compile(r"^\d{3}\Z"), "3 digits")
        mnc = _check_filter("Mnc", mnc, re.compile(r"^\d{2,3}\Z"), "2 or 3 digits")
        if country is None and mcc is None and mnc is None:
            return self._networks
        country = country.upper() if country else None
        return tuple(
            n
            for n in self._networks
            if (country is None or n.iso_country == country)
            and (mcc is None or n.mcc == mcc)
            and (mnc is None or n.mnc == mnc)
        )

    def page(self, spec: PageSpec, networks: Sequence[Network] | None = None) -> Page[Network]:
        """One keyset page of `networks` (default: the whole catalogue), which must be in catalogue order."""
        items = self._networks if networks is None else networks
        keys = self._keys if networks is None else [n.key for n in items]
        if spec.before is not None:
            end = bisect.bisect_left(keys, spec.before)
            start = max(0, end - spec.size)
        elif spec.after is not None:
            start = bisect.bisect_right(keys, spec.after)
            end = start + spec.size
        else:
            start = min(spec.offset, len(items))
            end = start + spec.size
        chosen = items[start:end]
        has_previous, has_next = start > 0, end < len(items)
        listed = list(chosen)
        return Page(
            items=listed,
            has_next=has_next,
            has_previous=has_previous,
            first_key=listed[0].key if listed else None,
            last_key=listed[-1].key if listed else None,
        )


def _check_filter(name: str, value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    if value is None:
        return None
    if not pattern.match(value):
        raise InvalidParameter(name, f"{name} must be {what}")
    return value


@cache
def catalogue() -> NetworkCatalogue:
    """The catalogue, parsed on first use and shared (read-only) afterwards."""
    mnc_table = _load_table("p1_mnc.json")
    mcc_table = _load_table("p1_mcc.json")
    return NetworkCatalogue(_networks_from(mnc_table, _home_countries(mcc_table)))


def _load_table(name: str) -> dict[str, Any]:
    # Each table is [ {license, source}, {code: entry-or-list-of-entries} ].
    document = json.loads(resources.files(DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8"))
    table: dict[str, Any] = document[1]
    return table


def _entries(value: Any) -> list[dict[str, Any]]:
    """A code maps to one entry, or to several when it serves several territories (e.g. 310-260: US, PR, VI)."""
    return [value] if isinstance(value, dict) else [entry for entry in value if isinstance(entry, dict)]


def _home_countries(mcc_table: Mapping[str, Any]) -> dict[str, str]:
    """Per MCC, the country that holds most of its MNCs: 310 is the US even though Guam shares it."""
    homes: dict[str, str] = {}
    for mcc, value in mcc_table.items():
        sizes: Counter[str] = Counter()
        for entry in _entries(value):
            if entry.get("cc2"):
                sizes[str(entry["cc2"]).upper()] += len(entry.get("mncs") or [])
        if sizes:
            homes[mcc] = sizes.most_common(1)[0][0]
    return homes


def _networks_from(mnc_table: Mapping[str, Any], homes: Mapping[str, str]) -> Iterable[Network]:
    for code, value in mnc_table.items():
        if not (code.isdigit() and len(code) in (5, 6)):
            continue
        mcc, mnc = code[:3], code[3:]
        home = homes.get(mcc)
        candidates = [e for e in _entries(value) if e.get("ope") and e.get("cc2s") and _name(e)]
        if not candidates:
            continue
        # Prefer the entry for the MCC's home country; the same PLMN code also appears for its territories.
        entry = next((e for e in candidates if home in e["cc2s"]), candidates[0])
        countries = [str(c).upper() for c in entry["cc2s"]]
        country = home if home in countries else countries[0]
        yield Network(network_sid(mcc, mnc), mcc, mnc, _name(entry), country)


def _name(entry: Mapping[str, Any]) -> str:
    """The brand people know the network by ("AT&T", as in the spec's example), else the operator's name."""
    brand = str(entry.get("brand") or "").strip()
    operator = str(entry.get("operator") or "").strip()
    if operator.lower() == "unassigned":
        return ""
    return brand or operator
