"""/metrics an operator can alert on (issue 14, finding 8), scraped from a real server after real traffic.

HTTP requests by surface, route template, method and status (hot routes, FastAPI routes, the `.json` form and
unknown paths), with latency histograms; IP Commands by outcome and error code; webhook attempts, deliveries and
the pending backlog; job queue depth and age; the gateway's sessions, packets and bytes each way and drops by
cause. No label carries a sid. Counters are process-wide and the server is shared: every check is a difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Account
from tests.e2e.test_ip_commands import PORT, active_sim, eventually, status_of
from tests.support.radio import Radio
from tests.support.server import Server, free_port
from tests.support.webhooks import WebhookReceiver

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
SID = re.compile(r"\b[A-Z]{2}[0-9a-f]{32}\b")


def scrape(server: Server) -> tuple[Samples, str]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, key), v in samples.items() if n == name and wanted <= set(key))


@pytest.fixture(scope="module")
def radio(server: Server) -> Iterator[Radio]:
    radio = Radio(server).start()
    yield radio
    radio.close()


def test_http_requests_are_counted_by_route_template_and_status(account: Account, server: Server) -> None:
    [sim] = account.claim(1)
    before, _ = scrape(server)
    with account.http() as http:
        for _ in range(5):
            assert http.get(f"/supersim/v1/Sims/{sim.sid}").status_code == 200  # the hot route
        assert http.get(f"/supersim/v1/Sims/{sim.sid}.json").status_code == 200
        assert http.get("/supersim/v1/Fleets").status_code == 200  # through FastAPI
        assert http.get("/supersim/v1/Fleets/HF" + "0" * 32).status_code == 404
        assert http.get("/supersim/v1/NoSuchThing").status_code == 404
    after, text = scrape(server)
    hot = {"surface": "supersim", "route": "/supersim/v1/Sims/{sid}", "method": "GET"}
    total = "cellplane_http_requests_total"
    assert value(after, total, **hot, status="200") - value(before, total, **hot, status="200") == 6
    fleets = {"surface": "supersim", "route": "/supersim/v1/Fleets", "method": "GET", "status": "200"}
    assert value(after, total, **fleets) - value(before, total, **fleets) == 1
    missing = {"route": "/supersim/v1/Fleets/{sid}", "status": "404"}
    assert value(after, total, **missing) - value(before, total, **missing) == 1
    unmatched = {"surface": "supersim", "route": "unmatched", "status": "404"}
    assert value(after, total, **unmatched) - value(before, total, **unmatched) == 1
    histogram = "cellplane_http_request_duration_seconds"
    counted = value(after, f"{histogram}_count", **hot) - value(before, f"{histogram}_count", **hot)
    assert counted == 6
    under_10s = value(after, f"{histogram}_bucket", **hot, le="10.0") - value(
        before, f"{histogram}_bucket", **hot, le="10.0"
    )
    assert under_10s == 6 and value(after, f"{histogram}_sum", **hot) > value(before, f"{histogram}_sum", **hot)
    assert not SID.search(text), "a sid in a metric label: " + SID.search(text).group(0)  # type: ignore[union-attr]


def test_commands_webhooks_and_queues(account: Account, server: Server) -> None:
    receiver = WebhookReceiver(auth_token=account.token, fail_first=1).start()
    dead_port = free_port()  # nothing listens: every attempt there is a transport error, retried with backoff
    before, _ = scrape(server)
    try:
        sim = active_sim(account)  # not attached: its commands fail with 83400
        client = account.client().supersim.v1.ip_commands
        failed = client.create(sim=sim.sid, payload="x", device_port=PORT, callback_url=f"{receiver.url}/cb")
        status_of(account, failed.sid, "failed")
        client.create(sim=sim.sid, payload="y", device_port=PORT, callback_url=f"http://127.0.0.1:{dead_port}/x")
        receiver.wait_for(lambda got: len(got) >= 1, timeout=15)  # the second attempt, after one 500

        def settled() -> tuple[Samples, str] | None:
            now = scrape(server)
            attempts = value(now[0], "cellplane_webhook_attempts_total", result="transport_error") - value(
                before, "cellplane_webhook_attempts_total", result="transport_error"
            )
            # The receiver has the request before the sender has read the answer and counted it: wait for both.
            delivered = value(now[0], "cellplane_webhook_deliveries_total", outcome="delivered") - value(
                before, "cellplane_webhook_deliveries_total", outcome="delivered"
            )
            pending = value(now[0], "cellplane_webhook_pending") >= 1
            return now if attempts >= 1 and delivered >= 1 and pending else None

        after, _ = eventually(settled, 15, "a delivered webhook, and a pending one after a refused attempt")
    finally:
        receiver.stop()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    failed_ip = {"kind": "ip", "direction": "to_sim", "outcome": "failed", "error_code": "83400"}
    assert delta("cellplane_commands_total", **failed_ip) == 2
    assert delta("cellplane_webhook_attempts_total", result="http_error", status_class="5xx") >= 1
    assert delta("cellplane_webhook_attempts_total", result="ok", status_class="2xx") >= 1
    assert delta("cellplane_webhook_deliveries_total", outcome="delivered") >= 1
    assert delta("cellplane_webhook_delivery_attempts_count", outcome="delivered") >= 1
    assert value(after, "cellplane_webhook_oldest_pending_age_seconds") > 0
    assert value(after, "cellplane_jobs_queued", kind="webhook") >= 1
    assert delta("cellplane_job_runs_total", kind="webhook", outcome="retry") >= 1


def test_gateway_sessions_packets_and_drops(account: Account, server: Server, radio: Radio) -> None:
    sim = active_sim(account)
    before, _ = scrape(server)
    radio.attach(sim.iccid, sim.imsi)
    socket = radio.bridge(sim.iccid, PORT)
    try:
        command = account.client().supersim.v1.ip_commands.create(sim=sim.sid, payload="down", device_port=PORT)
        assert socket.receive() == b"down"
        status_of(account, command.sid, "sent")
        assert radio.send(sim.iccid, 7000, "198.51.100.7", 53, b"to the internet")  # no route: dropped
    finally:
        socket.close()

    def grown() -> Samples | None:
        now, _ = scrape(server)
        up = value(now, "cellplane_gateway_packets_total", direction="up")
        return now if up > value(before, "cellplane_gateway_packets_total", direction="up") else None

    after = eventually(grown, 10, "an uplink packet counted")
    assert value(after, "cellplane_gateway_sessions") >= 1
    for direction in ("up", "down"):
        assert value(after, "cellplane_gateway_packets_total", direction=direction) > value(
            before, "cellplane_gateway_packets_total", direction=direction
        )
    grew = value(after, "cellplane_gateway_bytes_total", direction="down") - value(
        before, "cellplane_gateway_bytes_total", direction="down"
    )
    assert grew >= 28 + len(b"down")  # IPv4 + UDP headers and the payload
    dropped = {"cause": "no_route_uplink"}
    assert value(after, "cellplane_gateway_dropped_packets_total", **dropped) > value(
        before, "cellplane_gateway_dropped_packets_total", **dropped
    )


def test_sms_and_wireless_command_outcomes(account: Account, server: Server) -> None:
    """An SMS Command and Wireless Commands (over SMS and over IP) to SIMs with no device attached: each `failed`
    outcome counted under its kind with its error code."""
    client = account.client()
    supersim = active_sim(account)
    [wireless] = server.admin("provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid)
    with account.http() as http:
        wireless_sid = http.get("/wireless/v1/Sims", params={"Iccid": wireless["iccid"]}).json()["sims"][0]["sid"]
    plan = client.wireless.v1.rate_plans.create()
    client.wireless.v1.sims(wireless_sid).update(rate_plan=plan.sid, status="active")
    eventually(lambda: client.wireless.v1.sims(wireless_sid).fetch().status == "active", 10, "the SIM active")
    before, _ = scrape(server)
    sms = client.supersim.v1.sms_commands.create(sim=supersim.sid, payload="hello")
    over_sms = client.wireless.v1.commands.create(command="are you there?", sim=wireless_sid)
    over_ip = client.wireless.v1.commands.create(command="AAEC", command_mode="binary", sim=wireless_sid)
    eventually(lambda: client.supersim.v1.sms_commands(sms.sid).fetch().status == "failed", 10, "SMS failed")
    for command in (over_sms, over_ip):
        eventually(lambda c=command: client.wireless.v1.commands(c.sid).fetch().status == "failed", 10, "failed")
    after, _ = scrape(server)

    def failed(kind: str, **labels: str) -> float:
        wanted = {"kind": kind, "direction": "to_sim", "outcome": "failed", **labels}
        return value(after, "cellplane_commands_total", **wanted) - value(before, "cellplane_commands_total", **wanted)

    assert failed("sms", error_code="89100") == 1  # the SMS Command: not reachable
    assert failed("wireless", error_code="89100") == 1  # over SMS: not attached
    assert failed("wireless", error_code="83400") == 1  # over IP: not attached
