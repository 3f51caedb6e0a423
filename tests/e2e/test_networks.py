"""Networks through the official twilio SDK: the visited-network catalogue, filters, paging, fetch, errors."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from cellplane.domain.networks import catalogue
from tests.conftest import Account


def test_fetch_a_network_by_sid(account: Account) -> None:
    client = account.client()
    expected = catalogue().lookup("310-260")
    assert expected is not None
    network = client.supersim.v1.networks(expected.sid).fetch()
    assert network.sid == expected.sid
    assert network.friendly_name == "T-Mobile"
    assert network.iso_country == "US"
    assert network.identifiers == [{"mcc": "310", "mnc": "260"}]
    assert network.url == f"{account.server.base_url}/supersim/v1/Networks/{expected.sid}"


def test_filters_by_country_mcc_and_mnc(account: Account) -> None:
    client = account.client()
    [vodafone] = client.supersim.v1.networks.list(iso_country="GB", mcc="234", mnc="15")
    assert vodafone.friendly_name == "Vodafone UK"
    assert vodafone.identifiers == [{"mcc": "234", "mnc": "15"}]
    german = client.supersim.v1.networks.list(iso_country="de", page_size=1000)
    assert german and {n.iso_country for n in german} == {"DE"}
    assert "262-01" in {f"{n.identifiers[0]['mcc']}-{n.identifiers[0]['mnc']}" for n in german}
    french = client.supersim.v1.networks.list(mcc="208", page_size=1000)
    assert {n.identifiers[0]["mcc"] for n in french} == {"208"}
    assert any(n.identifiers == [{"mcc": "208", "mnc": "01"}] and n.friendly_name == "Orange" for n in french)
    assert client.supersim.v1.networks.list(iso_country="DE", mcc="310") == []


def test_paging_through_several_pages(account: Account) -> None:
    client = account.client()
    expected = [n.sid for n in catalogue().select(iso_country="US")]
    assert len(expected) > 100
    page = client.supersim.v1.networks.page(iso_country="US", page_size=50)
    pages: list[list[str]] = []
    third_page = None
    while page is not None:
        pages.append([n.sid for n in page])  # an SDK page is an iterator: read it once
        third_page = page if len(pages) == 3 else third_page
        page = page.next_page()
    assert len(pages) == -(-len(expected) // 50)
    assert [sid for sids in pages for sid in sids] == expected
    assert third_page is not None
    assert [n.sid for n in third_page.previous_page()] == pages[1]
    everything = client.supersim.v1.networks.list(page_size=1000)
    assert len(everything) == len(catalogue())


def test_meta_urls_keep_filters_and_are_absolute(account: Account) -> None:
    with account.http() as http:
        body = http.get("/supersim/v1/Networks", params={"IsoCountry": "US", "PageSize": 2}).json()
        meta = body["meta"]
        assert meta["key"] == "networks" and meta["page"] == 0 and meta["page_size"] == 2
        assert meta["first_page_url"].startswith(f"{account.server.base_url}/supersim/v1/Networks?IsoCountry=US")
        assert meta["previous_page_url"] is None and "PageToken=" in meta["next_page_url"]
        assert set(body["networks"][0]) == {"sid", "friendly_name", "url", "iso_country", "identifiers"}
        following = http.get(meta["next_page_url"]).json()
        assert following["meta"]["page"] == 1 and following["meta"]["previous_page_url"]
        assert {n["sid"] for n in following["networks"]}.isdisjoint({n["sid"] for n in body["networks"]})


def test_errors(account: Account) -> None:
    client = account.client()
    with pytest.raises(TwilioRestException) as unknown:
        client.supersim.v1.networks("HW" + "0" * 32).fetch()
    assert unknown.value.status == 404 and unknown.value.code == 20404
    for name, value in (("IsoCountry", "USA"), ("Mcc", "31x"), ("Mnc", "1")):
        with account.http() as http:
            response = http.get("/supersim/v1/Networks", params={name: value})
        assert response.status_code == 400, name
        assert name in response.json()["message"]
    with account.http() as http:
        bad_token = http.get("/supersim/v1/Networks", params={"PageToken": "PAbm9wZQ"})
        assert bad_token.status_code == 400 and bad_token.json()["code"] == 21481
        assert http.get("/supersim/v1/Networks", auth=(account.sid, "wrong")).status_code == 401
