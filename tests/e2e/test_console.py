"""The web console over plain HTTP (no browser): session expiry and sign-out, search by the IP address and IMEI
a device was given, connection events on the live stream, a failed webhook retried from the console, and clear
4xx answers to bad filters. The browser scenarios are in test_console_browser.py."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)

SESSION_SECONDS = 5  # short, for the expiry test: the other tests sign in again right before they need it


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def lab_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database_url = None
    if request.param == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        database_url = create_postgres_database()
    data_dir = tmp_path_factory.mktemp(f"cellplane-console-http-{request.param}")
    env = server_env(
        data_dir,
        database_url,
        CELLPLANE_EMULATOR_ENABLED="true",
        CELLPLANE_CONSOLE_SESSION_SECONDS=str(SESSION_SECONDS),
        CELLPLANE_WEBHOOK_MAX_ATTEMPTS="1",
    )
    server = Server(backend=request.param, data_dir=data_dir, port=free_port(), env=env)
    server.start(timeout=90)  # a shared machine: a start may wait for CPU
    try:
        yield server
    finally:
        server.stop()
        if database_url:
            drop_postgres_database(database_url)


@pytest.fixture(scope="module")
def attached(lab_server: Server) -> dict[str, Any]:
    """An account whose one active SIM's device is attached on 310-260 (a fleet allowing that network)."""
    account = lab_server.admin("create-account", "--friendly-name", "console-http")
    sim = lab_server.admin("provision-sims", "--count", "3", "--account", account["account_sid"])[0]
    auth = (account["account_sid"], account["auth_token"])
    with httpx.Client(base_url=lab_server.base_url, auth=auth, timeout=10) as api:
        nap = api.post("/supersim/v1/NetworkAccessProfiles", data={"Networks": "310-260"}).json()
        fleet = api.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": nap["sid"]}).json()
        api.post(f"/supersim/v1/Sims/{sim['sid']}", data={"Fleet": fleet["sid"], "Status": "active"})
        deadline = time.monotonic() + 30
        while api.get(f"/supersim/v1/Sims/{sim['sid']}").json()["status"] != "active":
            assert time.monotonic() < deadline, "the SIM never became active"
            time.sleep(0.1)
    return {"account": account, "sim": sim, "auth": auth}


def signed_in(server: Server, account: dict[str, str]) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=10)
    answer = client.post(
        "/console/sign-in", data={"username": account["account_sid"], "password": account["auth_token"]}
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/sims").text).group(1)


def test_connection_events_arrive_on_the_live_stream_and_the_device_is_found_by_ip_and_imei(
    lab_server: Server, attached: dict[str, Any]
) -> None:
    sim = attached["sim"]
    received: list[dict[str, Any]] = []
    client = signed_in(lab_server, attached["account"])

    page = client.get(f"/console/sims/{sim['sid']}").text
    live_url = re.search(r'data-live="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "since=" in live_url

    def listen() -> None:
        with client.stream("GET", live_url, timeout=40) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if any("attach_accepted" in m["html"] for m in received):
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    # No wait for the stream to open: what happens after the page was rendered reaches it either way.
    with httpx.Client(base_url=lab_server.base_url, auth=attached["auth"], timeout=10) as api:
        device = api.post("/cellplane/v1/Emulator/Devices", data={"Iccid": sim["iccid"], "Network": "310-260"})
        assert device.status_code == 201 and device.json()["state"] == "attached", device.text
    listener.join(30)
    events = [m for m in received if m["target"] == "events"]
    assert any("attach_accepted" in m["html"] for m in events), received
    assert all(m["mode"] == "prepend" for m in events)

    view = device.json()
    address, imei = view["session"]["ip_address"], view["imei"]
    client = signed_in(lab_server, attached["account"])
    for text in (address, imei, sim["iccid"][:12]):
        page = client.get("/console/sims", params={"q": text})
        assert page.status_code == 200
        assert sim["iccid"] in page.text, f"searching {text} did not find the SIM"
    other = client.get("/console/sims", params={"q": "10.255.255.254"})
    assert sim["iccid"] not in other.text and "No SIM matches." in other.text


def test_a_failed_webhook_is_retried_from_the_console(lab_server: Server, attached: dict[str, Any]) -> None:
    with httpx.Client(base_url=lab_server.base_url, auth=attached["auth"], timeout=10) as api:
        made = api.post(
            "/supersim/v1/IpCommands",
            data={
                "Sim": attached["sim"]["sid"],
                "Payload": "x",
                "DevicePort": "6655",
                "CallbackUrl": f"http://127.0.0.1:{free_port()}/nobody-listens",
            },
        )
        assert made.status_code == 201, made.text

        def failed() -> dict[str, Any] | None:
            found = api.get("/cellplane/v1/WebhookDeliveries", params={"Status": "failed"}).json()
            return found["webhook_deliveries"][0] if found["webhook_deliveries"] else None

        deadline = time.monotonic() + 30
        while (delivery := failed()) is None:
            assert time.monotonic() < deadline, "the callback never failed"
            time.sleep(0.2)
        client = signed_in(lab_server, attached["account"])
        page = client.get(f"/console/webhooks/{delivery['sid']}")
        assert "Retry" in page.text and 'data-action="retry"' in page.text
        retried = client.post(
            f"/console/webhooks/{delivery['sid']}/retry",
            data={"csrf_token": csrf_of(client)},
            headers={"HX-Request": "true"},
        )
        assert retried.status_code == 200 and "pending" in retried.text, retried.text
        deadline = time.monotonic() + 30
        while (again := api.get(f"/cellplane/v1/WebhookDeliveries/{delivery['sid']}").json())["attempts"] < 2:
            assert time.monotonic() < deadline, "the retry never made an attempt"
            time.sleep(0.2)
        assert again["status"] == "failed"  # nobody listens still: one more attempt, recorded, failed again
        twice = client.post(f"/console/webhooks/{delivery['sid']}/retry", data={"csrf_token": csrf_of(client)})
        assert twice.status_code == 200  # failed again, so it may be retried again


def test_bad_filters_are_answered_with_a_4xx_that_names_the_parameter(
    lab_server: Server, attached: dict[str, Any]
) -> None:
    client = signed_in(lab_server, attached["account"])
    for query, parameter in (
        ({"status": "flying"}, "status"),
        ({"product": "pager"}, "product"),
        ({"fleet": "nope"}, "fleet"),
        ({"after": "x"}, "after"),
    ):
        answer = client.get("/console/sims", params=query)
        assert answer.status_code == 400, (query, answer.status_code)
        assert f"({parameter})" in answer.text
    assert client.get("/console/sims/HS" + "0" * 32).status_code == 404
    port = client.post(
        f"/console/sims/{attached['sim']['sid']}/ip-commands",
        data={"csrf_token": csrf_of(client), "payload": "x", "device_port": "port", "payload_type": "text"},
    )
    assert port.status_code == 400 and "device_port" in port.text


def test_a_session_ends_at_sign_out_and_by_expiry(lab_server: Server, attached: dict[str, Any]) -> None:
    client = signed_in(lab_server, attached["account"])
    assert client.get("/console").status_code == 200
    cookie = client.cookies["cellplane_console"]
    client.post("/console/sign-out", data={"csrf_token": csrf_of(client)})
    # The old cookie, sent again, names no session: it ended on the server, not only in this browser.
    with httpx.Client(base_url=lab_server.base_url, cookies={"cellplane_console": cookie}) as replay:
        assert replay.get("/console").status_code == 303

    client = signed_in(lab_server, attached["account"])
    assert client.get("/console").status_code == 200
    time.sleep(SESSION_SECONDS + 0.5)
    expired = client.get("/console/sims")
    assert expired.status_code == 303 and "/console/sign-in" in expired.headers["location"]


def test_a_user_signs_in_with_email_and_password_and_acts_with_its_role(
    lab_server: Server, attached: dict[str, Any]
) -> None:
    """The identity layer's users (/cellplane/v1/Users) sign in to the console with email and password and act
    with the user's role: a viewer's forced change is refused, the same user made an operator may make it."""
    sim, password = attached["sim"], "a long console passphrase"
    email = f"viewer.{attached['account']['account_sid'].lower()}@example.com"
    with httpx.Client(base_url=lab_server.base_url, auth=attached["auth"], timeout=10) as api:
        made = api.post("/cellplane/v1/Users", data={"Email": email, "Role": "viewer", "Password": password})
        assert made.status_code == 201, made.text
        user_sid = made.json()["sid"]
    client = httpx.Client(base_url=lab_server.base_url, timeout=10)
    wrong = client.post("/console/sign-in", data={"username": email, "password": "not the passphrase"})
    assert wrong.status_code == 401
    answer = client.post("/console/sign-in", data={"username": email, "password": password})
    assert answer.status_code == 303, answer.text
    page = client.get(f"/console/sims/{sim['sid']}")
    assert page.status_code == 200 and sim["iccid"] in page.text
    refused = client.post(
        f"/console/sims/{sim['sid']}/status", data={"csrf_token": csrf_of(client), "status": "inactive"}
    )
    assert refused.status_code == 403
    with httpx.Client(base_url=lab_server.base_url, auth=attached["auth"], timeout=10) as api:
        assert api.post(f"/cellplane/v1/Users/{user_sid}", data={"Role": "operator"}).status_code == 200
        assert api.get(f"/supersim/v1/Sims/{sim['sid']}").json()["status"] == "active"
    # This module's sessions last SESSION_SECONDS: sign in again, now as an operator.
    client = httpx.Client(base_url=lab_server.base_url, timeout=10)
    assert client.post("/console/sign-in", data={"username": email, "password": password}).status_code == 303
    allowed = client.post(
        f"/console/sims/{sim['sid']}/status", data={"csrf_token": csrf_of(client), "status": "active"}
    )
    assert allowed.status_code == 200, allowed.text


def test_an_operator_runs_the_private_network_but_not_the_security_settings(
    lab_server: Server, attached: dict[str, Any]
) -> None:
    """The pages of the Things issue and of the identity issue, on both databases: an operator edits the firewall
    and is refused users, API clients and the audit log whatever it sends; bad input is a 4xx naming the parameter
    with nothing written; the admin's audit log shows the operator's console change."""
    password = "an operator's passphrase"
    email = f"operator.{attached['account']['account_sid'].lower()}@example.com"
    api = httpx.Client(base_url=lab_server.base_url, auth=attached["auth"], timeout=10)
    made = api.post("/cellplane/v1/Users", data={"Email": email, "Role": "operator", "Password": password})
    assert made.status_code == 201, made.text
    clients_before = api.get("/cellplane/v1/ApiClients").json()

    def operator() -> tuple[httpx.Client, str]:
        """A fresh session (this module's last SESSION_SECONDS) and its CSRF token."""
        client = httpx.Client(base_url=lab_server.base_url, timeout=10)
        assert client.post("/console/sign-in", data={"username": email, "password": password}).status_code == 303
        return client, csrf_of(client)

    client, token = operator()
    for path in ("/console/users", "/console/api-clients", "/console/audit"):
        answer = client.get(path)
        assert answer.status_code == 403 and "does not allow" in answer.text, path
    forced = client.post("/console/api-clients", data={"csrf_token": token, "role": "admin", "lifetime": "24h"})
    assert forced.status_code == 403 and "does not allow api_clients:write" in forced.text
    assert api.get("/cellplane/v1/ApiClients").json() == clients_before

    client, token = operator()
    assert client.get("/console/networks").status_code == 200
    profiles = client.get("/console/ip-profiles")
    assert profiles.status_code == 200
    profile = re.search(r"/console/ip-profiles/(PF\w+)", profiles.text).group(1)
    rules_before = api.get(f"/things/v1/ipProfiles/{profile}").json()["inbound"]
    edit = f"/console/ip-profiles/{profile}/rules"
    rule = {"csrf_token": token, "direction": "inbound", "action": "deny", "protocol": "udp"}
    for form, parameter in (
        ({**rule, "op": "add", "remote_cidr": "10.0.0.0/33"}, f"inbound[{len(rules_before)}].remoteCidr"),
        ({**rule, "op": "save", "index": "99"}, "index"),
        ({**rule, "op": "rename"}, "op"),
        ({**rule, "op": "add", "direction": "sideways"}, "direction"),
    ):
        answer = client.post(edit, data=form)
        assert answer.status_code == 400 and f"({parameter})" in answer.text, (form, answer.text[-400:])
    assert api.get(f"/things/v1/ipProfiles/{profile}").json()["inbound"] == rules_before
    added = client.post(edit, data={**rule, "op": "add", "remote_cidr": "192.0.2.0/24", "remote_ports": "53"})
    assert added.status_code == 200, added.text
    assert api.get(f"/things/v1/ipProfiles/{profile}").json()["inbound"][-1]["remoteCidr"] == "192.0.2.0/24"

    client, token = operator()
    for form, parameter in (
        ({"action": "explode", "selection": "tag", "tag": "x"}, "action"),
        ({"action": "activate", "selection": "everything"}, "selection"),
        ({"action": "activate", "selection": "thingIds", "things": "TH" + "0" * 32}, "selection.thingIds"),
    ):
        answer = client.post("/console/bulk-actions", data={**form, "csrf_token": token})
        assert answer.status_code == 400 and f"({parameter})" in answer.text, (form, answer.text[-400:])
    assert api.get("/things/v1/bulkActions").json()["items"] == []
    none = client.post("/console/sims/selection", data={"csrf_token": token, "op": "activate"})
    assert none.status_code == 400 and "(sim)" in none.text

    # A Thing has its page in the SIM list like any SIM, and its state changes there through the Things service.
    thing = lab_server.admin(
        "provision-sims", "--count", "1", "--product", "things", "--account", attached["account"]["account_sid"]
    )[0]
    client, token = operator()
    listed = client.get("/console/sims", params={"product": "things"})
    assert listed.status_code == 200 and thing["iccid"] in listed.text
    assert client.get("/console/sims", params={"q": thing["sid"]}).text.count(thing["iccid"]) >= 1
    page = client.get(f"/console/sims/{thing['sid']}")
    assert page.status_code == 200 and thing["iccid"] in page.text and "Things Group" in page.text
    wrong = client.post(f"/console/sims/{thing['sid']}/status", data={"csrf_token": token, "status": "deactivated"})
    assert wrong.status_code == 400 and "(status)" in wrong.text
    active = client.post(f"/console/sims/{thing['sid']}/status", data={"csrf_token": token, "status": "active"})
    assert active.status_code == 200, active.text
    deadline = time.monotonic() + 30
    while api.get(f"/things/v1/things/{thing['sid']}").json()["state"] != "ACTIVE":
        assert time.monotonic() < deadline, "the Thing never became ACTIVE"
        time.sleep(0.2)

    admin = signed_in(lab_server, attached["account"])
    deadline = time.monotonic() + 10  # the audit log is written in batches, off the request's path
    while f"POST {edit}" not in (log := admin.get("/console/audit", params={"resource": "networks"}).text):
        assert time.monotonic() < deadline, log[-2000:]
        time.sleep(0.2)
    assert made.json()["sid"] in log
