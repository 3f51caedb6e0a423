"""Wireless Sims through the official SDK's client.wireless: list with filters, fetch, update, lifecycle, delete.

Wireless SIMs reach an account through `cellplane admin provision-sims --product wireless --account`.
Every response is checked against the official spec's schema with every property present.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import jsonschema_rs
import pytest
from scripts.spec_coverage import SPECS
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from cellplane.store.models import DataSession, Job, Sim
from tests.conftest import Account
from tests.support.db import insert, run
from tests.support.webhooks import WebhookReceiver

SPEC = SPECS / "twilio_wireless_v1.json"  # the copy the package ships (identical to shared/specs/)


# --- helpers shared by the Wireless tests -------------------------------------------------------


def _schema(node: Any, components: dict[str, Any]) -> Any:
    """OpenAPI 3.0 to JSON Schema: refs inlined, `nullable` as a "null" alternative.

    A property that is a $ref'd enum also accepts null: the spec's own examples show
    `"reset_status": null` although OpenAPI 3.0 ignores `nullable` beside a $ref.
    """
    if isinstance(node, list):
        return [_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        resolved = _schema(components[node["$ref"].rsplit("/", 1)[-1]], components)
        return {"anyOf": [resolved, {"type": "null"}]}
    converted = {
        key: _schema(value, components) for key, value in node.items() if key not in ("nullable", "description")
    }
    if node.get("nullable") and "type" in node:
        converted["type"] = [node["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


@cache
def validator(name: str) -> Any:
    """A validator of one spec schema that also wants every property present and nothing more."""
    components = json.loads(SPEC.read_text())["components"]["schemas"]
    schema = _schema(components[name], components)
    schema["required"] = sorted(schema["properties"])
    schema["additionalProperties"] = False
    return jsonschema_rs.Draft4Validator(schema)


def check(name: str, body: dict[str, Any]) -> dict[str, Any]:
    errors = [str(error) for error in validator(name).iter_errors(body)]
    assert not errors, errors
    return body


def provision(account: Account, count: int = 1, *, cli: bool = False) -> list[dict[str, Any]]:
    """Operator side: new Wireless SIMs handed straight to the account (through the CLI itself with `cli`)."""
    admin = getattr(account.server, "cli_admin", account.server.admin) if cli else account.server.admin
    sims: list[dict[str, Any]] = admin(
        "provision-sims", "--count", str(count), "--product", "wireless", "--account", account.sid
    )
    return sims


def sim_sids(account: Account, count: int = 1) -> list[str]:
    return [sim["sid"] for sim in provision(account, count)]


def raw_sim(account: Account, sid: str) -> dict[str, Any]:
    with account.http() as http:
        response = http.get(f"/wireless/v1/Sims/{sid}")
    assert response.status_code == 200, response.text
    return check("wireless.v1.sim", response.json())


def wait_for_status(client: Client, sid: str, status: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    sim = client.wireless.v1.sims(sid).fetch()
    while time.monotonic() < deadline:
        sim = client.wireless.v1.sims(sid).fetch()
        if sim.status == status:
            return sim
        time.sleep(0.05)
    raise AssertionError(f"Sim {sid} never reached {status} (last: {sim.status})")


def error_of(call: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def active_sim(account: Account, plan: str = "plan") -> str:
    client = account.client()
    client.wireless.v1.rate_plans.create(unique_name=plan)
    [sid] = sim_sids(account)
    client.wireless.v1.sims(sid).update(rate_plan=plan, status="active")
    wait_for_status(client, sid, "active")
    return sid


# --- tests --------------------------------------------------------------------------------------


def test_provisioned_sims_are_listed_fetched_and_complete(account: Account) -> None:
    client = account.client()
    provisioned = provision(account, 3, cli=True)
    assert all(s["sid"].startswith("DE") and s["account_sid"] == account.sid for s in provisioned)
    listed = client.wireless.v1.sims.list(page_size=2)
    assert [s.sid for s in listed] == sorted(s["sid"] for s in provisioned)
    first = provisioned[0]
    body = raw_sim(account, first["sid"])
    assert body["status"] == "new" and body["iccid"] == first["iccid"] and body["account_sid"] == account.sid
    assert body["url"] == f"{account.server.base_url}/wireless/v1/Sims/{first['sid']}"
    assert body["links"] == {
        "usage_records": f"{body['url']}/UsageRecords",
        "rate_plan": None,
        "data_sessions": f"{body['url']}/DataSessions",
    }
    assert body["ip_address"] is None and body["reset_status"] is None and body["rate_plan_sid"] is None
    # A Wireless SIM is not a Super SIM, and another account sees neither.
    assert client.supersim.v1.sims.list() == []
    stranger = account.server.admin("create-account")
    other = Account(stranger["account_sid"], stranger["auth_token"], account.server).client()
    hidden = error_of(lambda: other.wireless.v1.sims(first["sid"]).fetch())
    assert hidden.status == 404 and hidden.code == 20404
    assert other.wireless.v1.sims.list() == []


def test_list_filters(account: Account) -> None:
    client = account.client()
    provisioned = provision(account, 4)
    a, b, c, d = (s["sid"] for s in provisioned)
    plan = client.wireless.v1.rate_plans.create(unique_name="filters")
    client.wireless.v1.sims(a).update(rate_plan=plan.sid)
    client.wireless.v1.sims(b).update(rate_plan="filters", status="ready")
    wait_for_status(client, b, "ready")
    client.wireless.v1.sims(c).update(rate_plan="filters", status="suspended")
    wait_for_status(client, c, "suspended")

    def sids(**filters: str) -> list[str]:
        return sorted(s.sid for s in client.wireless.v1.sims.list(**filters))

    assert sids(status="new") == sorted([a, d])
    assert sids(status="ready") == [b]
    assert sids(status="suspended") == [c]
    assert sids(status="active") == [] and sids(status="scheduled") == []
    assert sids(rate_plan=plan.sid) == sorted([a, b, c]) and sids(rate_plan="filters") == sorted([a, b, c])
    assert sids(rate_plan="no-such-plan") == []
    assert sids(iccid=provisioned[3]["iccid"]) == [d]
    assert sids(sim_registration_code=provisioned[2]["registration_code"]) == [c]

    async def give_eid(session: AsyncSession) -> None:
        await session.execute(update(Sim).where(Sim.sid == d).values(eid="89049032000001000000000000000042"))

    run(account.server, give_eid)
    assert sids(e_id="89049032000001000000000000000042") == [d]
    assert raw_sim(account, d)["e_id"] == "89049032000001000000000000000042"
    with account.http() as http:
        bad = http.get("/wireless/v1/Sims", params={"Status": "sleeping"})
    assert bad.status_code == 400 and "Status" in bad.json()["message"]


def test_update_every_parameter_and_fetch_by_unique_name(account: Account) -> None:
    client = account.client()
    [sid] = sim_sids(account)
    client.wireless.v1.rate_plans.create(unique_name="basic")
    updated = client.wireless.v1.sims(sid).update(
        unique_name="meter-1",
        friendly_name="Water meter 1",
        rate_plan="basic",
        commands_callback_url="https://example.com/commands",
        commands_callback_method="GET",
        sms_url="https://example.com/sms",
        sms_method="get",
        sms_fallback_url="https://example.com/sms-fallback",
        sms_fallback_method="POST",
        voice_url="https://example.com/voice",
        voice_method="GET",
        voice_fallback_url="https://example.com/voice-fallback",
        voice_fallback_method="GET",
        callback_url="https://example.com/updated",
        callback_method="GET",
    )
    assert updated.unique_name == "meter-1" and updated.friendly_name == "Water meter 1"
    assert updated.rate_plan_sid.startswith("WP")
    assert updated.links["rate_plan"] == f"{account.server.base_url}/wireless/v1/RatePlans/{updated.rate_plan_sid}"
    assert (updated.commands_callback_url, updated.commands_callback_method) == ("https://example.com/commands", "GET")
    assert (updated.sms_url, updated.sms_method) == ("https://example.com/sms", "GET")
    assert (updated.sms_fallback_url, updated.sms_fallback_method) == ("https://example.com/sms-fallback", "POST")
    assert (updated.voice_url, updated.voice_method) == ("https://example.com/voice", "GET")
    assert (updated.voice_fallback_url, updated.voice_fallback_method) == ("https://example.com/voice-fallback", "GET")
    body = raw_sim(account, "meter-1")
    assert body["sid"] == sid and body["status"] == "new"

    # A URL given without its method is called with POST; "" clears a URL or the name.
    cleared = client.wireless.v1.sims("meter-1").update(unique_name="", sms_url="", friendly_name="")
    assert cleared.unique_name is None and cleared.sms_url is None and cleared.friendly_name is None
    fresh = client.wireless.v1.sims(sim_sids(account)[0]).update(commands_callback_url="https://example.com/c")
    assert fresh.commands_callback_method == "POST"

    for name, value in (("CallbackUrl", "ftp://example.com"), ("SmsMethod", "TRACE"), ("Status", "sleeping")):
        with account.http() as http:
            response = http.post(f"/wireless/v1/Sims/{sid}", data={name: value})
        assert response.status_code == 400 and name in response.json()["message"], response.text
    not_found = error_of(lambda: client.wireless.v1.sims(sid).update(rate_plan="missing"))
    assert not_found.status == 400 and not_found.code == 33108
    client.wireless.v1.sims(fresh.sid).update(unique_name="meter-2")
    taken = error_of(lambda: client.wireless.v1.sims(sid).update(unique_name="meter-2"))
    assert taken.status == 409 and taken.code == 33101
    assert client.wireless.v1.sims(sid).fetch().unique_name is None  # nothing half-written


def test_activation_needs_a_rate_plan_and_calls_back(account: Account) -> None:
    client = account.client()
    [sid] = sim_sids(account)
    receiver = WebhookReceiver(auth_token=account.token).start()
    try:
        missing = error_of(lambda: client.wireless.v1.sims(sid).update(status="active"))
        assert missing.status == 400 and missing.code == 33104
        client.wireless.v1.rate_plans.create(unique_name="plan")
        with account.http() as http:
            response = http.post(
                f"/wireless/v1/Sims/{sid}",
                data={"RatePlan": "plan", "Status": "active", "CallbackUrl": f"{receiver.url}/sim", "UniqueName": "s1"},
            )
        assert response.status_code == 202, response.text
        assert check("wireless.v1.sim", response.json())["status"] in ("updating", "active")
        [hook] = receiver.wait_for(lambda got: len(got) >= 1)
        assert hook.params == {"SimSid": sid, "SimUniqueName": "s1", "SimStatus": "active", "AccountSid": account.sid}
        assert hook.twilio_signature_valid and hook.kore_signature_valid
        assert wait_for_status(client, sid, "active").rate_plan_sid is not None
        removal = error_of(lambda: client.wireless.v1.sims(sid).update(rate_plan=""))
        assert removal.status == 400 and removal.code == 33101

        # The same status again changes nothing and completes at once.
        with account.http() as http:
            again = http.post(f"/wireless/v1/Sims/{sid}", data={"Status": "active"})
        assert again.status_code == 200 and again.json()["status"] == "active"

        client.wireless.v1.sims(sid).update(status="suspended")
        receiver.wait_for(lambda got: len(got) >= 2 and got[-1].params["SimStatus"] == "suspended")
        wait_for_status(client, sid, "suspended")
        back = error_of(lambda: client.wireless.v1.sims(sid).update(status="ready"))
        assert back.status == 400 and back.code == 33105
        for target in ("new", "canceled", "updating"):
            refused = error_of(lambda target=target: client.wireless.v1.sims(sid).update(status=target))
            assert refused.code == 33105, target
        without_plan = error_of(lambda: client.wireless.v1.sims(sid).update(status="active", rate_plan=""))
        assert without_plan.code == 33104
        assert wait_for_status(client, sid, "suspended").rate_plan_sid is not None
    finally:
        receiver.stop()


def test_deactivated_sims_are_canceled_72_hours_later(account: Account) -> None:
    client = account.client()
    sid = active_sim(account)
    receiver = WebhookReceiver(auth_token=account.token).start()
    try:
        client.wireless.v1.sims(sid).update(status="deactivated", callback_url=receiver.url)
        receiver.wait_for(lambda got: len(got) == 1 and got[0].params["SimStatus"] == "deactivated")
        wait_for_status(client, sid, "deactivated")
        assert error_of(lambda: client.wireless.v1.sims(sid).update(status="active")).code == 33105

        async def cancel_job(session: AsyncSession) -> list[Job]:
            stmt = select(Job).where(Job.kind == "sim_update", Job.status == "pending")
            return [job for job in (await session.execute(stmt)).scalars() if job.payload.get("sim_sid") == sid]

        [job] = run(account.server, cancel_job)
        assert job.payload["action"] == "automatic"
        due = job.run_at - datetime.now(UTC)
        assert timedelta(hours=71, minutes=59) < due <= timedelta(hours=72)

        async def fast_forward(session: AsyncSession) -> None:
            await session.execute(update(Job).where(Job.id == job.id).values(run_at=datetime.now(UTC)))

        run(account.server, fast_forward)
        receiver.wait_for(lambda got: len(got) == 2 and got[1].params["SimStatus"] == "canceled")
        assert wait_for_status(client, sid, "canceled").status == "canceled"
        assert error_of(lambda: client.wireless.v1.sims(sid).update(status="active")).code == 33105
    finally:
        receiver.stop()


def test_connectivity_reset(account: Account) -> None:
    client = account.client()
    [new_sid] = sim_sids(account)
    not_connected = error_of(lambda: client.wireless.v1.sims(new_sid).update(reset_status="resetting"))
    assert not_connected.status == 400 and not_connected.code == 33101
    sid = active_sim(account)
    both = error_of(lambda: client.wireless.v1.sims(sid).update(status="suspended", reset_status="resetting"))
    assert both.code == 33121
    with account.http() as http:
        response = http.post(f"/wireless/v1/Sims/{sid}", data={"ResetStatus": "resetting"})
        assert response.status_code == 202, response.text
        assert response.json()["reset_status"] == "resetting" and response.json()["status"] == "active"
        bad = http.post(f"/wireless/v1/Sims/{sid}", data={"ResetStatus": "done"})
        assert bad.status_code == 400 and "ResetStatus" in bad.json()["message"]
    deadline = time.monotonic() + 10
    while raw_sim(account, sid)["reset_status"] is not None:
        assert time.monotonic() < deadline, "the reset never completed"
        time.sleep(0.05)
    assert raw_sim(account, sid)["status"] == "active"


def test_ip_address_is_the_live_sessions(account: Account) -> None:
    client = account.client()
    sid = active_sim(account)
    now = datetime.now(UTC)

    def data_session(status: str, ip: str, acct: str) -> DataSession:
        return DataSession(
            sid=f"WN{acct:0>32}",
            account_sid=account.sid,
            sim_sid=sid,
            imsi="310260000000001",
            nas_id=f"gw-{account.sid}",
            acct_session_id=acct,
            status=status,
            ue_ip=ip,
            start=now,
            last_updated=now,
        )

    insert(account.server, data_session("closed", "10.64.0.9", f"{sid[-8:]}01"))
    assert client.wireless.v1.sims(sid).fetch().ip_address is None
    insert(account.server, data_session("open", "10.64.0.10", f"{sid[-8:]}02"))
    assert client.wireless.v1.sims(sid).fetch().ip_address == "10.64.0.10"
    assert [s.ip_address for s in client.wireless.v1.sims.list(status="active")] == ["10.64.0.10"]


def test_parent_moves_new_sims_to_its_subaccounts(account: Account) -> None:
    server = account.server
    child = server.admin("create-account", "--parent", account.sid)
    stranger = server.admin("create-account")
    child_account = Account(child["account_sid"], child["auth_token"], server)
    client = account.client()
    [sid] = sim_sids(account)
    client.wireless.v1.rate_plans.create(unique_name="parent-plan")
    child_plan = child_account.client().wireless.v1.rate_plans.create(unique_name="child-plan")
    client.wireless.v1.sims(sid).update(rate_plan="parent-plan")

    needs_plan = error_of(lambda: client.wireless.v1.sims(sid).update(account_sid=child_account.sid))
    assert needs_plan.code == 33108
    foreign_plan = error_of(
        lambda: client.wireless.v1.sims(sid).update(account_sid=child_account.sid, rate_plan="parent-plan")
    )
    assert foreign_plan.code == 33108
    to_stranger = error_of(lambda: client.wireless.v1.sims(sid).update(account_sid=stranger["account_sid"]))
    assert to_stranger.status == 403 and to_stranger.code == 33201
    assert client.wireless.v1.sims(sid).fetch().account_sid == account.sid  # nothing half-written

    moved = client.wireless.v1.sims(sid).update(account_sid=child_account.sid, rate_plan="child-plan")
    assert moved.account_sid == child_account.sid and moved.rate_plan_sid == child_plan.sid
    assert [s.sid for s in child_account.client().wireless.v1.sims.list()] == [sid]
    by_child = error_of(lambda: child_account.client().wireless.v1.sims(sid).update(account_sid=account.sid))
    assert by_child.status == 403 and by_child.code == 33201

    active = active_sim(account, plan="active-plan")
    not_new = error_of(lambda: client.wireless.v1.sims(active).update(account_sid=child_account.sid))
    assert not_new.status == 403 and not_new.code == 33201


def test_delete_returns_the_sim_to_inventory(account: Account) -> None:
    client = account.client()
    sid = active_sim(account, plan="gone")
    client.wireless.v1.sims(sid).update(unique_name="to-delete", sms_url="https://example.com/sms")
    assert client.wireless.v1.sims("to-delete").delete() is True
    gone = error_of(lambda: client.wireless.v1.sims(sid).fetch())
    assert gone.status == 404
    assert client.wireless.v1.sims.list() == []

    async def row(session: AsyncSession) -> Sim:
        return (await session.execute(select(Sim).where(Sim.sid == sid))).scalar_one()

    sim = run(account.server, row)
    assert (sim.account_sid, sim.status, sim.unique_name, sim.rate_plan_sid, sim.sms_url) == (
        None,
        "new",
        None,
        None,
        None,
    )
    # The plan is free again once no SIM uses it.
    assert client.wireless.v1.rate_plans("gone").delete() is True
