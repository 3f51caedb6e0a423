"""Programmable Wireless rules: rate plan values, the home / national / international zones, country codes.

A Wireless SIM's home network is T-Mobile USA (MCC 310, MNC 260; seed 003 and the RatePlan resource:
"the home network (T-Mobile USA)"); "national roaming" is any other network in the United States, and
"international roaming" any network outside it. Usage reports and the AAA both classify a visited
network with `zone`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from cellplane.domain.networks import network_sid

HOME_MCC, HOME_MNC = "310", "260"
HOME_NETWORK_SID = network_sid(HOME_MCC, HOME_MNC)
HOME_COUNTRY = "US"

HOME = "home"
NATIONAL_ROAMING = "national_roaming"
INTERNATIONAL_ROAMING = "international_roaming"
ZONES = (HOME, NATIONAL_ROAMING, INTERNATIONAL_ROAMING)

# RatePlan resource: "payg and quota-1, quota-10, and quota-50"; data limits in megabytes, "up to 2TB".
DATA_METERINGS = ("payg", "quota-1", "quota-10", "quota-50")
DATA_LIMIT_STRATEGIES = ("block", "throttle")
# The spec names data and messaging; its own example also lists the deprecated voice.
INTERNATIONAL_SERVICES = ("data", "messaging", "voice")
DATA_LIMIT_MAX = 2_000_000
DATA_LIMIT_DEFAULT = 1_000


def zone(network: str | None, iso_country: str | None) -> str:
    """Where usage on a visited network counts: the home network, elsewhere at home, or abroad.

    A network the accounting did not name (no sid, no country) counts as home: it is not known to be
    roaming, and charging or blocking it as roaming would be a guess.
    """
    if network == HOME_NETWORK_SID:
        return HOME
    country = (iso_country or "").upper()
    if not country:
        return HOME if not network else NATIONAL_ROAMING
    return NATIONAL_ROAMING if country == HOME_COUNTRY else INTERNATIONAL_ROAMING


@cache
def _alpha3_table() -> dict[str, str]:
    """ISO 3166-1 alpha-2 -> alpha-3 from the P1 dataset that also gives us the networks."""
    text = resources.files("mcc_mnc_lut").joinpath("p1_cntr.json").read_text(encoding="utf-8")
    data: Any = json.loads(text)
    table = data[-1] if isinstance(data, list) else data
    codes: dict[str, str] = {}
    for entry in table.values():
        cc2 = entry.get("cc2")
        cc3 = ((entry.get("infos") or {}).get("codes") or {}).get("cc3")
        if cc2 and cc3:
            codes.setdefault(str(cc2).upper(), str(cc3).upper())
    return codes


def alpha3(iso_country: str | None) -> str | None:
    """The three-letter code DataSession.operator_country shows ("determined by looking up the operator_mcc")."""
    if not iso_country:
        return None
    return _alpha3_table().get(iso_country.upper(), iso_country.upper())
