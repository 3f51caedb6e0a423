"""The visited-network catalogue: real networks from the P1 dataset, stable sids, lookups, filters, keyset pages."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import derived_sid, is_sid
from cellplane.domain.networks import Network, NetworkCatalogue, catalogue, is_page_key, network_sid
from cellplane.domain.paging import PageSpec

COMMON = {
    ("310", "260"): ("T-Mobile", "US"),
    ("310", "410"): ("AT&T", "US"),
    ("234", "15"): ("Vodafone UK", "GB"),
    ("262", "01"): ("Telekom", "DE"),
    ("208", "01"): ("Orange", "FR"),
}


def test_common_networks_exist_with_name_and_home_country() -> None:
    for (mcc, mnc), (name, country) in COMMON.items():
        network = catalogue().by_code(mcc, mnc)
        assert network is not None, f"{mcc}-{mnc} missing"
        assert (network.friendly_name, network.iso_country) == (name, country)
        assert network.identifiers == [{"mcc": mcc, "mnc": mnc}]


def test_sids_are_derived_from_mcc_mnc_and_unique() -> None:
    networks = list(catalogue())
    assert len(networks) > 1000
    assert len({n.sid for n in networks}) == len(networks)
    for network in networks:
        assert is_sid(network.sid, "HW")
        assert network.sid == derived_sid("HW", f"{network.mcc}-{network.mnc}") == network_sid(network.mcc, network.mnc)
        assert len(network.iso_country) == 2 and network.iso_country.isupper()
        assert network.friendly_name


def test_sid_is_the_same_in_a_fresh_process() -> None:
    """Stable across installs: another interpreter derives the same sid for 310-260."""
    code = "from cellplane.domain.networks import catalogue; print(catalogue().lookup('310-260').sid)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == catalogue().lookup("310260").sid  # type: ignore[union-attr]


def test_test_and_international_ranges_are_not_visited_networks() -> None:
    assert catalogue().lookup("001-01") is None
    assert catalogue().lookup("901-28") is None
    assert all(n.mcc not in ("001", "901") for n in catalogue())


def test_lookup_by_sid_dash_and_digits() -> None:
    tmobile = catalogue().by_code("310", "260")
    assert tmobile is not None
    for text in (tmobile.sid, "310-260", "310260", " 310-260 "):
        assert catalogue().lookup(text) is tmobile
    assert catalogue().get(tmobile.sid) is tmobile
    for unknown in ("HW" + "0" * 32, "999-99", "31026", "abc", "", "HF" + "0" * 32):
        # "31026" reads as 310-26, which is not a network.
        assert catalogue().lookup(unknown) is None
    # Two- and three-digit MNCs are different networks.
    assert catalogue().lookup("338-05") != catalogue().lookup("338-050")


def test_entries_are_immutable() -> None:
    network = catalogue().lookup("262-01")
    assert network is not None
    with pytest.raises(AttributeError):
        network.friendly_name = "changed"  # type: ignore[misc]
    network.identifiers.append({"mcc": "1", "mnc": "2"})
    assert network.identifiers == [{"mcc": "262", "mnc": "01"}]


def test_filters() -> None:
    us = catalogue().select(iso_country="us")
    assert us and all(n.iso_country == "US" for n in us)
    assert catalogue().lookup("310-260") in us
    by_mcc = catalogue().select(mcc="234")
    assert by_mcc and {n.mcc for n in by_mcc} == {"234"}
    exact = catalogue().select(iso_country="DE", mcc="262", mnc="01")
    assert [n.key for n in exact] == ["262-01"]
    assert catalogue().select(iso_country="DE", mcc="310") == ()
    for name, kwargs in (("IsoCountry", {"iso_country": "USA"}), ("Mcc", {"mcc": "31"}), ("Mnc", {"mnc": "x1"})):
        with pytest.raises(InvalidParameter) as bad:
            catalogue().select(**kwargs)
        assert bad.value.parameter == name


def test_keyset_pages_walk_forward_and_back() -> None:
    networks = [Network(network_sid("100", f"{i:02d}"), "100", f"{i:02d}", f"Net {i}", "ZZ") for i in range(7)]
    small = NetworkCatalogue(reversed(networks))
    first = small.page(PageSpec(size=3))
    assert [n.mnc for n in first.items] == ["00", "01", "02"] and first.has_next and not first.has_previous
    assert first.last_key is not None
    second = small.page(PageSpec(size=3, page=1, after=first.last_key))
    assert [n.mnc for n in second.items] == ["03", "04", "05"] and second.has_previous and second.has_next
    assert second.last_key is not None and second.first_key is not None
    third = small.page(PageSpec(size=3, page=2, after=second.last_key))
    assert [n.mnc for n in third.items] == ["06"] and not third.has_next
    back = small.page(PageSpec(size=3, page=0, before=second.first_key))
    assert back.items == first.items and not back.has_previous
    assert [n.mnc for n in small.page(PageSpec(size=3, page=2)).items] == ["06"]
    assert small.page(PageSpec(size=3, page=9)).items == []
    filtered = small.page(PageSpec(size=2), [n for n in networks if n.mnc in ("01", "04", "05")])
    assert [n.mnc for n in filtered.items] == ["01", "04"] and filtered.has_next


def test_page_keys() -> None:
    assert is_page_key("310-260") and is_page_key("234-15")
    assert not is_page_key("310260") and not is_page_key("HW" + "0" * 32) and not is_page_key("31-260")


def test_loads_fast_in_a_fresh_process_and_is_cached() -> None:
    code = (
        "import time; t=time.perf_counter(); from cellplane.domain.networks import catalogue; c=catalogue(); "
        "print(time.perf_counter()-t, c is catalogue())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 1.0 and out[1] == "True"
    started = time.perf_counter()
    catalogue()
    assert time.perf_counter() - started < 0.01
