"""IP Command callbacks as a receiver sees them, beyond the happy path of test_ip_commands.py.

1. A subaccount's callbacks are signed with the subaccount's own auth token, not its parent's.
2. The fleet's `ip_commands_method=GET`: a command from the SIM arrives as a GET with its parameters in the query
   string, signed as Twilio signs a GET (the full URL, no parameters).
3. A receiver slower than CELLPLANE_WEBHOOK_TIMEOUT: each attempt is given up at the timeout, recorded, and retried
   until acknowledged; while the webhook workers are all held by it, other commands still reach `sent` promptly.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import Account
from tests.e2e.test_ip_commands import PORT, active_sim, eventually, status_of
from tests.e2e.test_ip_commands_durability import own_server
from tests.support.radio import Radio
from tests.support.server import Server
from tests.support.webhooks import WebhookReceiver

# 3: the platform gives up an attempt after TIMEOUT s; the receiver answers only after STALL s (far later); the
# other commands must be `sent` within PROMPT s, while the stalled attempts still hold every webhook worker.
TIMEOUT, STALL, PROMPT = 3.0, 10.0, 2.0


@pytest.fixture(scope="module")
def radio(server: Server) -> Iterator[Radio]:
    radio = Radio(server).start()
    yield radio
    radio.close()


def test_a_subaccounts_callbacks_are_signed_with_its_own_token(account: Account, server: Server) -> None:
    created = server.admin("create-account", "--friendly-name", "child", "--parent", account.sid)
    child = Account(created["account_sid"], created["auth_token"], server)
    assert child.token != account.token
    receiver = WebhookReceiver(auth_token=child.token).start()
    try:
        sim = active_sim(child)
        command = child.client().supersim.v1.ip_commands.create(
            sim=sim.sid, payload="from the child", device_port=PORT, callback_url=f"{receiver.url}/child"
        )
        [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    finally:
        receiver.stop()
    assert (hook.params["AccountSid"], hook.params["CommandSid"]) == (child.sid, command.sid)
    assert hook.twilio_signature_valid and hook.kore_signature_valid  # with the child's token
    signature = hook.headers["x-twilio-signature"]
    assert not RequestValidator(account.token).validate(hook.url, hook.params, signature)  # not the parent's
    parents_kore = hashlib.sha256(account.token.encode() + b"POST" + hook.url.encode() + hook.body).hexdigest()
    assert hook.headers["kore-signature"] != parents_kore


def test_commands_from_the_sim_reach_the_fleet_url_by_get(account: Account, radio: Radio) -> None:
    receiver = WebhookReceiver(auth_token=account.token).start()
    try:
        # The fleet's URL has a query of its own: it is kept, and signed with the rest.
        sim = active_sim(account, ip_commands_url=f"{receiver.url}/mo?site=berlin", ip_commands_method="GET")
        attached = radio.attach(sim.iccid, sim.imsi)
        assert radio.send(sim.iccid, 7000, "100.64.0.1", 9999, b"\x00by GET\xff")
        [hook] = receiver.wait_for(lambda got: len(got) >= 1)
    finally:
        receiver.stop()
    assert (hook.method, hook.path, hook.body) == ("GET", "/mo", b"")
    assert hook.twilio_signature_valid and hook.kore_signature_valid
    assert RequestValidator(account.token).validate(hook.url, {}, hook.headers["x-twilio-signature"])
    params = hook.params
    assert params["site"] == "berlin"
    assert (params["Status"], params["Direction"], params["PayloadType"]) == ("received", "from_sim", "binary")
    assert base64.b64decode(params["Payload"]) == b"\x00by GET\xff"
    assert (params["SimSid"], params["AccountSid"], params["DevicePort"]) == (sim.sid, account.sid, "7000")
    assert params["DeviceIp"] == (attached.session or {}).get("ip_address")
    command = account.client().supersim.v1.ip_commands(params["CommandSid"]).fetch()
    assert (command.status, command.direction, command.sim_sid) == ("received", "from_sim", sim.sid)


@pytest.fixture
def impatient_server(server: Server, tmp_path: Path) -> Iterator[Server]:
    """A platform that waits TIMEOUT s for a receiver, with a single webhook worker (the hardest case: one slow
    receiver holds all webhook delivery)."""
    env = {"CELLPLANE_WEBHOOK_TIMEOUT": str(TIMEOUT), "CELLPLANE_WEBHOOK_CONCURRENCY": "1"}
    with own_server(server.backend, tmp_path, **env) as instance:
        yield instance


def sent_within(account: Account, sid: str, socket: Any, payload: bytes, started: float) -> float:
    """Seconds from `started` until command `sid` arrived at the device's socket and reads `sent`."""
    assert socket.receive(timeout=PROMPT) == payload
    status_of(account, sid, "sent", timeout=PROMPT)
    return time.monotonic() - started


def test_a_receiver_slower_than_the_timeout_is_retried_and_never_slows_commands(impatient_server: Server) -> None:
    created = impatient_server.admin("create-account", "--friendly-name", "slow receiver")
    account = Account(created["account_sid"], created["auth_token"], impatient_server)
    client = account.client()
    slow = WebhookReceiver(auth_token=account.token, stall_first=2, stall_seconds=STALL).start()
    radio = Radio(impatient_server).start()
    sockets = []
    try:
        first, second = active_sim(account), active_sim(account)
        for sim in (first, second):
            radio.attach(sim.iccid, sim.imsi)
        sockets = [radio.bridge(first.iccid, PORT), radio.bridge(second.iccid, PORT)]
        stalled = client.supersim.v1.ip_commands.create(
            sim=first.sid, payload="one", device_port=PORT, callback_url=f"{slow.url}/cb"
        )
        assert sockets[0].receive() == b"one"
        eventually(lambda: slow.attempts >= 1, 10, "the slow receiver's first request")  # now it stalls

        started = time.monotonic()
        with_callback = client.supersim.v1.ip_commands.create(
            sim=first.sid, payload="two", device_port=PORT, callback_url=f"{slow.url}/cb"
        )
        without_callback = client.supersim.v1.ip_commands.create(sim=second.sid, payload="three", device_port=PORT)
        elapsed = [
            sent_within(account, with_callback.sid, sockets[0], b"two", started),
            sent_within(account, without_callback.sid, sockets[1], b"three", started),
        ]
        assert max(elapsed) < PROMPT, elapsed
        assert slow.received == []  # all the while, no callback had been acknowledged

        hooks = slow.wait_for(lambda got: len(got) >= 2, timeout=4 * TIMEOUT + 10)
    finally:
        for socket in sockets:
            socket.close()
        radio.close()
        slow.stop()
    assert sorted(h.params["CommandSid"] for h in hooks) == sorted([stalled.sid, with_callback.sid])
    assert all(h.twilio_signature_valid and h.params["Status"] == "sent" for h in hooks)
    http = account.http()
    listed = http.get("/cellplane/v1/WebhookDeliveries").json()["webhook_deliveries"]
    assert {d["parameters"]["CommandSid"]: d["status"] for d in listed} == {
        stalled.sid: "delivered",
        with_callback.sid: "delivered",
    }
    history = {
        d["parameters"]["CommandSid"]: http.get(f"/cellplane/v1/WebhookDeliveries/{d['sid']}").json()["attempt_history"]
        for d in listed
    }
    timed_out = [a for attempts in history.values() for a in attempts if a["status_code"] is None]
    assert len(timed_out) == 2, history  # the two stalled requests, whichever deliveries they were
    for attempt in timed_out:
        assert "timeout" in attempt["error"].lower(), attempt
        # Given up at the platform's timeout, long before the receiver would have answered.
        assert TIMEOUT * 1000 * 0.9 <= attempt["duration_ms"] < STALL * 1000, attempt
    first_attempts = history[stalled.sid]
    assert first_attempts[0]["status_code"] is None  # the very first request stalled
    assert first_attempts[-1]["status_code"] == 200 and len(first_attempts) >= 2  # and a later retry succeeded
    assert all(attempts[-1]["status_code"] == 200 for attempts in history.values())
