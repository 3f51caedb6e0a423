"""Callbacks cannot be aimed inside (issue 22, finding 4): every callback URL field refuses every internal target
form with a 400 naming the parameter; a name that resolves to loopback passes the API and is refused when the
sender connects, recorded as a neutral "refused target" with no timing; in a lab (the suite's own servers, which
allow private targets) the platform's own listeners, link-local and userinfo stay refused.

The strict server pins `receiver.test` to 127.0.0.1 (CELLPLANE_WEBHOOK_RESOLVE, an /etc/hosts-style override of
the sender's resolver), and a real receiver listens there: it must never be reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Account
from tests.support.server import Server, free_port, server_env
from tests.support.webhooks import WebhookReceiver

# Loopback in every spelling a resolver accepts, and every other kind of internal address.
REFUSED_HOSTS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "017700000001",
    "127.255.255.254",
    "localhost",
    "api.localhost",
    "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ",  # IDNA maps it to localhost, as the client would
    "１２７.０.０.１",  # fullwidth digits
    "127。0。0。1",  # ideographic full stops
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "0.0.0.0",
    "0",
    "0.1.2.3",
    "[::]",
    "169.254.169.254",
    "0xa9fea9fe",
    "[::ffff:169.254.169.254]",
    "[fe80::1]",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "[fd00::1]",
    "[::ffff:10.0.0.1]",
    "224.0.0.1",
    "239.255.255.250",
    "[ff02::1]",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
]


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver(auth_token="unused").start()
    try:
        yield hooks
    finally:
        hooks.stop()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Production defaults: no private targets; receiver.test is pinned to loopback."""
    data_dir = tmp_path_factory.mktemp("strict-callbacks")
    env = server_env(
        data_dir,
        None,
        CELLPLANE_WEBHOOK_ALLOW_PRIVATE="false",
        CELLPLANE_WEBHOOK_RESOLVE="receiver.test=127.0.0.1",
    )
    instance = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def new_account(server: Server) -> Account:
    created = server.admin("create-account", "--friendly-name", "callbacks")
    return Account(created["account_sid"], created["auth_token"], server)


Request = tuple[str, dict[str, str]]


def callback_fields(account: Account) -> dict[str, Callable[[str], Request]]:
    """Every field that takes a callback URL, each a request (path, form) that is otherwise valid."""
    client = account.client()
    [item] = account.inventory(1)
    sim = client.supersim.v1.sims.create(iccid=item["iccid"], registration_code=item["registration_code"]).sid
    profile = client.supersim.v1.network_access_profiles.create(networks=[]).sid
    fleet = client.supersim.v1.fleets.create(network_access_profile=profile).sid
    [wireless] = account.server.admin(
        "provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid
    )
    fields: dict[str, Callable[[str], Request]] = {
        "Sims CallbackUrl": lambda u: (f"/supersim/v1/Sims/{sim}", {"Status": "active", "CallbackUrl": u}),
        "IpCommands CallbackUrl": lambda u: (
            "/supersim/v1/IpCommands",
            {"Sim": sim, "Payload": "hi", "DevicePort": "1000", "CallbackUrl": u},
        ),
        "SmsCommands CallbackUrl": lambda u: (
            "/supersim/v1/SmsCommands",
            {"Sim": sim, "Payload": "hi", "CallbackUrl": u},
        ),
        "ESimProfiles CallbackUrl": lambda u: ("/supersim/v1/ESimProfiles", {"Eid": "8" * 32, "CallbackUrl": u}),
        "Fleets IpCommandsUrl": lambda u: (
            "/supersim/v1/Fleets",
            {"NetworkAccessProfile": profile, "IpCommandsUrl": u},
        ),
        "Fleets SmsCommandsUrl": lambda u: (
            "/supersim/v1/Fleets",
            {"NetworkAccessProfile": profile, "SmsCommandsUrl": u},
        ),
        "Fleet update IpCommandsUrl": lambda u: (f"/supersim/v1/Fleets/{fleet}", {"IpCommandsUrl": u}),
        "Fleet update SmsCommandsUrl": lambda u: (f"/supersim/v1/Fleets/{fleet}", {"SmsCommandsUrl": u}),
        "Wireless Commands CallbackUrl": lambda u: (
            "/wireless/v1/Commands",
            {"Sim": wireless["sid"], "Command": "hi", "CallbackUrl": u},
        ),
    }
    for name in ("CallbackUrl", "CommandsCallbackUrl", "SmsUrl", "SmsFallbackUrl", "VoiceUrl", "VoiceFallbackUrl"):
        fields[f"Wireless Sims {name}"] = lambda u, name=name: (f"/wireless/v1/Sims/{wireless['sid']}", {name: u})
    return fields


def parameter_of(field: str) -> str:
    return field.rsplit(" ", 1)[1]


def test_every_callback_field_refuses_every_internal_target(strict_server: Server) -> None:
    account = new_account(strict_server)
    fields = callback_fields(account)
    targets = [f"http://{host}:8000/hook" for host in REFUSED_HOSTS]
    targets += [f"https://{host}/hook" for host in ("127.1", "[::1]", "169.254.169.254")]
    targets += ["http://user:secret@receiver.test/hook", "http://token@example.com/hook", "http://:pw@example.com/"]
    accepted: list[str] = []
    with account.http() as http:
        for field, make in fields.items():
            parameter = parameter_of(field)
            for target in targets:
                path, data = make(target)
                response = http.post(path, data=data)
                body = response.json()
                if response.status_code != 400 or parameter not in body["message"]:
                    accepted.append(f"{field} {target}: {response.status_code} {body.get('message')}")
            # The same request with a public-looking name is not refused for its URL (the control).
            path, data = make("http://receiver.test:8000/hook")
            control = http.post(path, data=data)
            assert control.status_code != 400 or parameter not in control.json()["message"], (field, control.text)
    assert accepted == []


def test_a_refusal_names_the_parameter_and_the_reason(strict_server: Server) -> None:
    account = new_account(strict_server)
    with account.http() as http:
        profile = http.post("/supersim/v1/NetworkAccessProfiles", data={}).json()["sid"]
        response = http.post(
            "/supersim/v1/Fleets",
            data={"NetworkAccessProfile": profile, "IpCommandsUrl": "http://169.254.169.254/latest/meta-data/"},
        )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 20001
    assert body["message"] == (
        "IpCommandsUrl is not an allowed callback target: its host is not a public address (link-local)"
    )


def wait_for_delivery(account: Account, resource_sid: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with account.http() as http:
        while True:
            found = http.get("/cellplane/v1/WebhookDeliveries", params={"ResourceSid": resource_sid}).json()
            done = [d for d in found["webhook_deliveries"] if d["status"] in ("delivered", "failed")]
            if done or time.monotonic() > deadline:
                assert done, found
                return http.get(f"/cellplane/v1/WebhookDeliveries/{done[0]['sid']}").json()
            time.sleep(0.05)


def test_a_name_that_resolves_to_loopback_is_refused_when_the_sender_connects(
    strict_server: Server, receiver: WebhookReceiver
) -> None:
    account = new_account(strict_server)
    client = account.client()
    [item] = account.inventory(1)
    sim = client.supersim.v1.sims.create(iccid=item["iccid"], registration_code=item["registration_code"])
    # The API cannot see where a name points: accepted; the sender resolves it itself (pinned to 127.0.0.1).
    rebound = receiver.url.replace("127.0.0.1", "receiver.test") + "/status"
    client.supersim.v1.sims(sim.sid).update(status="active", callback_url=rebound)
    delivery = wait_for_delivery(account, sim.sid)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1  # final at once: trying again would only probe the target again
    assert delivery["last_status_code"] is None
    assert delivery["last_error"] == "refused target: the callback URL's host is not an allowed callback target"
    assert [(a["error"], a["duration_ms"]) for a in delivery["attempt_history"]] == [(delivery["last_error"], 0)]
    assert receiver.received == []


def test_in_a_lab_loopback_is_a_target_but_never_the_platforms_own_listeners(server: Server, account: Account) -> None:
    """The suite's servers allow private targets (CELLPLANE_WEBHOOK_ALLOW_PRIVATE=true, as `up --demo` does)."""
    own = [
        f"http://127.0.0.1:{server.port}/admin/v1/Accounts",
        f"http://localhost:{server.port}/healthz",
        f"http://127.1:{server.port}/",
        f"http://[::ffff:127.0.0.1]:{server.port}/",
        f"http://0.0.0.0:{server.port}/",
        f"http://127.0.0.1:{server.env['CELLPLANE_AAA_AUTH_PORT']}/",
    ]
    never = ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://admin:x@127.0.0.1:9/"]
    with account.http() as http:
        profile = http.post("/supersim/v1/NetworkAccessProfiles", data={}).json()["sid"]
        for target in own + never:
            response = http.post(
                "/supersim/v1/Fleets", data={"NetworkAccessProfile": profile, "SmsCommandsUrl": target}
            )
            assert response.status_code == 400, (target, response.text)
            assert "SmsCommandsUrl" in response.json()["message"]
        for target in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]:9/"):
            response = http.post(
                "/supersim/v1/Fleets", data={"NetworkAccessProfile": profile, "SmsCommandsUrl": target}
            )
            assert response.status_code == 201, (target, response.text)
