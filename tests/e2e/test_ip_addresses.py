"""Sims/{SimSid}/IpAddresses: empty while a SIM has no live data session; 404 for SIMs not the caller's."""

from __future__ import annotations

from cellplane.domain.paging import PageSpec
from cellplane.services.ip_addresses import SimIpAddress, is_address, page_addresses
from tests.conftest import Account


def test_a_sim_without_data_sessions_has_no_addresses(account: Account) -> None:
    client = account.client()
    [sim] = account.claim(1)
    client.supersim.v1.sims(sim.sid).update(unique_name="ip-meter")
    assert client.supersim.v1.sims(sim.sid).sim_ip_addresses.list() == []
    assert client.supersim.v1.sims("ip-meter").sim_ip_addresses.list() == []
    with account.http() as http:
        body = http.get(f"/supersim/v1/Sims/{sim.sid}/IpAddresses", params={"PageSize": 5}).json()
        assert body["ip_addresses"] == []
        base = f"{account.server.base_url}/supersim/v1/Sims/{sim.sid}/IpAddresses"
        assert body["meta"]["key"] == "ip_addresses" and body["meta"]["page_size"] == 5
        assert body["meta"]["first_page_url"] == f"{base}?PageSize=5&Page=0"
        assert body["meta"]["next_page_url"] is None and body["meta"]["previous_page_url"] is None

        unknown = http.get(f"/supersim/v1/Sims/HS{'0' * 32}/IpAddresses")
        assert unknown.status_code == 404 and unknown.json()["code"] == 20404
        bad_size = http.get(f"/supersim/v1/Sims/{sim.sid}/IpAddresses", params={"PageSize": 0})
        assert bad_size.status_code == 400 and "PageSize" in bad_size.json()["message"]
        bad_token = http.get(f"/supersim/v1/Sims/{sim.sid}/IpAddresses", params={"PageToken": "PAbm9wZQ"})
        assert bad_token.status_code == 400 and bad_token.json()["code"] == 21481

    other = account.server.admin("create-account")
    with Account(other["account_sid"], other["auth_token"], account.server).http() as stranger:
        foreign = stranger.get(f"/supersim/v1/Sims/{sim.sid}/IpAddresses")
    assert foreign.status_code == 404


def test_address_pages_follow_the_keyset() -> None:
    """Keyset paging over a SIM's addresses, as the endpoint pages them (pure, no server needed)."""
    items = [SimIpAddress(a, "IPv4") for a in ("10.0.0.1", "10.0.0.2", "10.0.0.3")]
    first = page_addresses(items, PageSpec(size=2))
    assert [i.address for i in first.items] == ["10.0.0.1", "10.0.0.2"] and first.has_next
    second = page_addresses(items, PageSpec(size=2, page=1, after=first.last_key))
    assert [i.address for i in second.items] == ["10.0.0.3"] and not second.has_next and second.has_previous
    back = page_addresses(items, PageSpec(size=2, page=0, before=second.first_key))
    assert [i.address for i in back.items] == ["10.0.0.1", "10.0.0.2"] and not back.has_previous
    assert is_address("2001:db8::1") and not is_address("bm9wZQ")
