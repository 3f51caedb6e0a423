"""The read side of the network core: /cellplane/v1/ConnectionEvents, live session addresses, sessions of a SIM.

AAA writes events and data sessions; these tests plant the rows in the server's database directly and
read them back through the API (and, for the repository the Wireless DataSessions list will use,
through a session on that same database).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.networks import network_sid
from cellplane.domain.paging import PageSpec
from cellplane.domain.policy import EventType
from cellplane.store.models import ConnectionEvent, DataSession
from cellplane.store.repositories import data_sessions
from tests.conftest import Account
from tests.support.db import insert, run

FIELDS = {
    "sid",
    "account_sid",
    "sim_sid",
    "iccid",
    "imsi",
    "fleet_sid",
    "event_type",
    "network_sid",
    "mcc",
    "mnc",
    "radio_link",
    "imei",
    "ip_address",
    "data_session_sid",
    "reason",
    "error_code",
    "bytes_up",
    "bytes_down",
    "timestamp",
    "url",
}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NETWORK = network_sid("208", "01")


def event(account_sid: str, sim: Any, event_type: str, minutes: int, **extra: Any) -> ConnectionEvent:
    """An event as AAA writes it; sids are made in call order, which the tests keep chronological."""
    return ConnectionEvent(
        sid=new_sid(Prefix.CONNECTION_EVENT),
        account_sid=account_sid,
        sim_sid=sim.sid,
        iccid=sim.iccid,
        event_type=event_type,
        timestamp=T0 + timedelta(minutes=minutes),
        **extra,
    )


def listed(account: Account, **query: str) -> dict[str, Any]:
    with account.http() as http:
        response = http.get("/cellplane/v1/ConnectionEvents", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sids(body: dict[str, Any]) -> list[str]:
    return [item["sid"] for item in body["connection_events"]]


def test_events_newest_first_with_filters_paging_and_fetch(account: Account) -> None:
    client = account.client()
    sim_a, sim_b = account.claim(2)
    client.supersim.v1.network_access_profiles.create(unique_name="nap")
    fleet = client.supersim.v1.fleets.create(network_access_profile="nap", unique_name="trackers")
    client.supersim.v1.sims(sim_a.sid).update(unique_name="tracker-a")
    session_sid = new_sid(Prefix.DATA_SESSION)
    events = [
        event(
            account.sid,
            sim_a,
            "attach_accepted",
            0,
            imsi="208010000000001",
            fleet_sid=fleet.sid,
            network_sid=NETWORK,
            mcc="208",
            mnc="01",
            radio_link="LTE-M",
            imei="356938035643809",
        ),
        event(account.sid, sim_b, "attach_rejected", 1, reason="SIM inactive", error_code=83705),
        event(
            account.sid,
            sim_a,
            "session_started",
            2,
            fleet_sid=fleet.sid,
            ip_address="10.64.0.7",
            data_session_sid=session_sid,
        ),
        event(
            account.sid,
            sim_a,
            "session_ended",
            90,
            fleet_sid=fleet.sid,
            data_session_sid=session_sid,
            bytes_up=1_200,
            bytes_down=34_000,
        ),
    ]
    # Another account's event (as when the SIM belonged to it); no credentials needed to plant it.
    foreign = event(new_sid(Prefix.ACCOUNT), sim_a, "attach_accepted", 3)
    insert(account.server, *events, foreign)
    newest_first = [e.sid for e in reversed(events)]

    body = listed(account)
    assert sids(body) == newest_first
    assert body["meta"]["key"] == "connection_events"
    first = body["connection_events"][-1]
    assert set(first) == FIELDS
    assert first == {
        "sid": events[0].sid,
        "account_sid": account.sid,
        "sim_sid": sim_a.sid,
        "iccid": sim_a.iccid,
        "imsi": "208010000000001",
        "fleet_sid": fleet.sid,
        "event_type": "attach_accepted",
        "network_sid": NETWORK,
        "mcc": "208",
        "mnc": "01",
        "radio_link": "LTE-M",
        "imei": "356938035643809",
        "ip_address": None,
        "data_session_sid": None,
        "reason": None,
        "error_code": None,
        "bytes_up": None,
        "bytes_down": None,
        "timestamp": "2025-03-01T12:00:00Z",
        "url": f"{account.server.base_url}/cellplane/v1/ConnectionEvents/{events[0].sid}",
    }
    ended = body["connection_events"][0]
    assert (ended["bytes_up"], ended["bytes_down"], ended["data_session_sid"]) == (1_200, 34_000, session_sid)
    rejected = body["connection_events"][2]
    assert (rejected["reason"], rejected["error_code"]) == ("SIM inactive", 83705)

    # Filters: the SIM by sid, unique name or ICCID; fleet by sid or unique name; type; time window.
    of_a = [e.sid for e in reversed(events) if e.sim_sid == sim_a.sid]
    for key in (sim_a.sid, "tracker-a", sim_a.iccid):
        assert sids(listed(account, Sim=key)) == of_a
    assert sids(listed(account, Fleet="trackers")) == sids(listed(account, Fleet=fleet.sid)) == of_a
    assert sids(listed(account, EventType="attach_rejected")) == [events[1].sid]
    window = listed(account, StartTime="2025-03-01T12:01:00Z", EndTime="2025-03-01T13:00:00Z")
    assert sids(window) == [events[2].sid, events[1].sid]
    assert sids(listed(account, Sim=sim_b.sid, EventType="session_ended")) == []

    # Pages of two, forward by next_page_url and back by previous_page_url.
    with account.http() as http:
        page_one = http.get("/cellplane/v1/ConnectionEvents", params={"PageSize": 2}).json()
        page_two = http.get(page_one["meta"]["next_page_url"]).json()
        back = http.get(page_two["meta"]["previous_page_url"]).json()
    assert sids(page_one) == newest_first[:2] and sids(page_two) == newest_first[2:]
    assert page_two["meta"]["next_page_url"] is None
    assert sids(back) == sids(page_one)

    # One event by sid; another account's is not found.
    with account.http() as http:
        fetched = http.get(f"/cellplane/v1/ConnectionEvents/{events[3].sid}")
        assert fetched.status_code == 200 and fetched.json() == ended
        hidden = http.get(f"/cellplane/v1/ConnectionEvents/{foreign.sid}")
        assert hidden.status_code == 404 and hidden.json()["code"] == 20404
        nonsense = http.get("/cellplane/v1/ConnectionEvents/nope")
        assert nonsense.status_code == 404


def test_the_sim_filter_takes_a_wireless_sims_sid_or_unique_name(account: Account) -> None:
    # GIVEN a Super SIM and a Programmable Wireless SIM of the account, each with connection events
    client = account.client()
    [super_sim] = account.claim(1)
    [provisioned] = account.server.admin(
        "provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid
    )
    wireless = client.wireless.v1.sims(provisioned["sid"]).update(unique_name="meter-1")
    events = [
        event(account.sid, super_sim, "attach_accepted", 0),
        event(account.sid, wireless, "attach_accepted", 1),
        event(account.sid, wireless, "session_started", 2),
    ]
    insert(account.server, *events)
    # WHEN the events are listed by the Wireless SIM's sid, unique name or ICCID, and by the Super SIM's sid
    # THEN each lists that SIM's events alone, newest first
    mine = [events[2].sid, events[1].sid]
    for key in (wireless.sid, "meter-1", wireless.iccid):
        assert sids(listed(account, Sim=key)) == mine, key
    assert sids(listed(account, Sim=super_sim.sid)) == [events[0].sid]
    assert sids(listed(account, Sim="DE" + "0" * 32)) == []  # a sid is taken as given, as a Super SIM's is


def test_the_event_type_filter_takes_the_platforms_event_types_only(account: Account) -> None:
    # GIVEN an event of each type the network writes
    [sim] = account.claim(1)
    planted = [event(account.sid, sim, kind.value, minute) for minute, kind in enumerate(EventType)]
    insert(account.server, *planted)
    # THEN each type filters to its own event
    for kind, planted_event in zip(EventType, planted, strict=True):
        assert sids(listed(account, EventType=kind.value)) == [planted_event.sid], kind
    # AND anything else, however plausible, is a 400 naming EventType and listing the allowed values
    with account.http() as http:
        for wrong in ("attachment.accepted", "data-session.started", "ATTACH_ACCEPTED", "attach"):
            response = http.get("/cellplane/v1/ConnectionEvents", params={"EventType": wrong})
            assert response.status_code == 400, (wrong, response.text)
            body = response.json()
            assert "EventType" in body["message"], body
            assert all(kind.value in body["message"] for kind in EventType), body


def test_bad_filters_are_named(account: Account) -> None:
    cases = [
        ({"EventType": "Attachment Accepted"}, 400, "EventType"),
        ({"StartTime": "2025-03-02T00:00:00Z", "EndTime": "2025-03-01T00:00:00Z"}, 400, "StartTime"),
        ({"EndTime": "tomorrow"}, 400, "EndTime"),
        ({"PageSize": "0"}, 400, "PageSize"),
        ({"PageToken": "PAbm9wZQ"}, 400, "PageToken"),
        ({"Sim": "no-such-sim"}, 404, "no-such-sim"),
        ({"Fleet": "no-such-fleet"}, 404, "no-such-fleet"),
    ]
    with account.http() as http:
        for query, status, named in cases:
            response = http.get("/cellplane/v1/ConnectionEvents", params=query)
            assert response.status_code == status, (query, response.text)
            assert named in response.json()["message"], (query, response.json())
        assert http.get("/cellplane/v1/ConnectionEvents", auth=("AC" + "0" * 32, "wrong")).status_code == 401


def session_row(account_sid: str, sim: Any, acct_id: str, status: str, ue_ip: str | None) -> DataSession:
    return DataSession(
        sid=new_sid(Prefix.DATA_SESSION),
        account_sid=account_sid,
        sim_sid=sim.sid,
        imsi="208010000000002",
        nas_id="gateway-1",
        acct_session_id=acct_id,
        status=status,
        ue_ip=ue_ip,
    )


def test_live_sessions_give_the_sim_its_addresses(account: Account) -> None:
    client = account.client()
    sim, idle = account.claim(2)
    old = session_row(account.sid, sim, f"{sim.sid}-1", "closed", "10.64.0.2")
    live = session_row(account.sid, sim, f"{sim.sid}-2", "open", "10.64.0.9")
    insert(account.server, old, live)
    addresses = client.supersim.v1.sims(sim.sid).sim_ip_addresses.list()
    assert [(a.ip_address, a.ip_address_version) for a in addresses] == [("10.64.0.9", "IPv4")]
    assert client.supersim.v1.sims(idle.sid).sim_ip_addresses.list() == []

    # The repository the Wireless DataSessions list will use: newest first, paged, scoped by account.
    async def pages(session: Any) -> tuple[Any, Any, Any, list[str]]:
        first = await data_sessions.list_for_sim(session, sim.sid, PageSpec(size=1), account_sid=account.sid)
        second = await data_sessions.list_for_sim(
            session, sim.sid, PageSpec(size=1, page=1, after=first.last_key), account_sid=account.sid
        )
        elsewhere = await data_sessions.list_for_sim(session, sim.sid, PageSpec(), account_sid="AC" + "0" * 32)
        addresses = await data_sessions.open_session_addresses(session, sim.sid)
        return first, second, elsewhere, addresses

    first, second, elsewhere, open_addresses = run(account.server, pages)
    assert [s.sid for s in first.items] == [live.sid] and first.has_next
    assert [s.sid for s in second.items] == [old.sid] and not second.has_next and second.has_previous
    assert elsewhere.items == []
    assert open_addresses == ["10.64.0.9"]
