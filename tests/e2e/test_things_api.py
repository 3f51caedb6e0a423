"""The /things/v1 surface on the real server: its wire conventions (headers, error envelope, ETag/If-Match 412, keyset
pages), the defaults an account starts with, and every bad input refused with a 400 naming the field, with nothing
written (the stored configuration is read back unchanged)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.support.server import Server, free_port, server_env

THINGS = "/things/v1"
SEED_HEADERS = (
    "api-version",
    "sunset",
    "quota-interval",
    "quota-time-unit",
    "quota-limit",
    "quota-used",
    "quota-reset-UTC",
    "strict-transport-security",
)


def things_of(account: Account, count: int) -> list[dict[str, Any]]:
    """`cellplane admin provision-sims --product things --account AC...`: Things handed to the account."""
    sims: list[dict[str, Any]] = account.server.admin(
        "provision-sims", "--count", str(count), "--product", "things", "--account", account.sid
    )
    return sims


def http(account: Account) -> httpx.Client:
    return httpx.Client(base_url=account.server.base_url + THINGS, auth=(account.sid, account.token), timeout=10)


def defaults(client: httpx.Client) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    [group] = client.get("/thingsGroups").json()["items"]
    network = client.get(f"/networks/{group['networkId']}").json()
    profile = client.get(f"/ipProfiles/{group['ipProfileId']}").json()
    return group, network, profile


def assert_refused(response: httpx.Response, field: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"transactionId", "status", "name", "message", "info"}
    assert body["status"] == status and body["info"] == field, body
    assert body["transactionId"] and body["message"]


def test_a_new_account_has_its_default_group_network_pool_and_empty_profile(account: Account) -> None:
    with http(account) as client:
        group, network, profile = defaults(client)
        [pool] = client.get(f"/networks/{network['id']}/ipPools").json()["items"]
    assert group["default"] is True and group["name"] == "default" and group["thingCount"] == 0
    assert group["id"].startswith("TG") and network["id"].startswith("PN") and profile["id"].startswith("PF")
    assert network["deviceIsolation"] is False and network["apn"].endswith(".things.cellplane")
    assert network["ipPools"] == [{"id": pool["id"], "cidr": pool["cidr"], "size": 4094, "available": 4094}]
    assert (pool["size"], pool["used"], pool["available"]) == (4094, 0, 4094)
    # The seed: "the default configuration of the firewall is empty, meaning all traffic ... is allowed".
    assert (profile["inbound"], profile["outbound"], profile["defaultAction"]) == ([], [], "allow")
    for resource in (group, network, profile, pool):
        assert resource["createdAt"].endswith("Z") and resource["updatedAt"].endswith("Z")


def test_things_start_provisioned_in_the_default_group_and_page_by_keyset(account: Account) -> None:
    provisioned = things_of(account, 5)
    assert all(item["sid"].startswith("TH") and item["product"] == "things" for item in provisioned)
    with http(account) as client:
        group, _, _ = defaults(client)
        assert group["thingCount"] == 5
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            params = {"pageSize": "2", **({"pageToken": token} if token else {})}
            response = client.get("/things", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert set(page) == {"items", "nextPageToken"}
            seen += [thing["id"] for thing in page["items"]]
            pages += 1
            token = page["nextPageToken"]
            if token is None:
                break
        assert pages == 3 and sorted(seen) == sorted(item["sid"] for item in provisioned) and len(set(seen)) == 5
        thing = client.get(f"/things/{provisioned[0]['iccid']}").json()
        assert thing["id"] == provisioned[0]["sid"] and thing["state"] == "PROVISIONED"
        assert thing["thingsGroupId"] == group["id"] and thing["services"] == {"data": True, "sms": True}
        assert thing["ipAddress"] is None and thing["lockedIp"] is None and thing["session"] is None
        assert_refused(client.get("/things", params={"pageSize": "0"}), "pageSize")
        assert_refused(client.get("/things", params={"pageToken": "bm90LWEtc2lk"}), "pageToken")
        assert_refused(client.get("/things", params={"state": "SLEEPING"}), "state")
        assert client.get("/things", params={"state": "PROVISIONED", "pageSize": "1000"}).json()["items"]


def test_every_response_carries_the_seed_headers_and_errors_the_envelope(server: Server, account: Account) -> None:
    with http(account) as client:
        ok = client.get("/things")
        missing = client.get("/things/TH00000000000000000000000000000000")
    anonymous = httpx.get(f"{server.base_url}{THINGS}/things")
    for response in (ok, missing, anonymous):
        for header in SEED_HEADERS:
            assert header in response.headers, (header, response.status_code)
        assert response.headers["sunset"] == "n/a"
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert_refused(missing, None, 404)  # type: ignore[arg-type]
    assert missing.json()["name"] == "NotFound"
    assert anonymous.status_code == 401 and anonymous.json()["name"] == "Unauthorized"
    # Other surfaces keep their own error body.
    other = httpx.get(f"{server.base_url}/supersim/v1/Sims", auth=(account.sid, account.token + "x"))
    assert other.status_code == 401 and other.json()["code"] == 20003 and "api-version" not in other.headers


def test_the_etag_guards_every_change(account: Account) -> None:
    with http(account) as client:
        _, network, _ = defaults(client)
        url = f"/networks/{network['id']}"
        first = client.get(url)
        etag = first.headers["ETag"]
        changed = client.patch(url, json={"name": "plant-a"}, headers={"If-Match": etag})
        assert changed.status_code == 200 and changed.json()["name"] == "plant-a"
        assert changed.headers["ETag"] != etag
        stale = client.patch(url, json={"name": "plant-b", "deviceIsolation": True}, headers={"If-Match": etag})
        assert_refused(stale, "If-Match", 412)
        assert stale.json()["name"] == "PreconditionFailed"
        after = client.get(url).json()
        assert (after["name"], after["deviceIsolation"]) == ("plant-a", False)
        current = client.get(url).headers["ETag"]
        assert client.patch(url, json={"deviceIsolation": True}, headers={"If-Match": current}).status_code == 200
        things = things_of(account, 1)
        thing_url = f"/things/{things[0]['sid']}"
        old = client.get(thing_url).headers["ETag"]
        assert client.patch(thing_url, json={"services": {"sms": False}}).status_code == 200
        assert_refused(client.patch(thing_url, json={"state": "ACTIVE"}, headers={"If-Match": old}), "If-Match", 412)
        assert client.get(thing_url).json()["state"] == "PROVISIONED"


def config_of(client: httpx.Client, network_id: str, profile_id: str) -> dict[str, Any]:
    """Everything stored about a network and a profile, to compare before and after a refused change."""
    return {
        "network": client.get(f"/networks/{network_id}").json(),
        "pools": client.get(f"/networks/{network_id}/ipPools").json(),
        "routes": client.get(f"/networks/{network_id}/routes").json(),
        "nat": client.get(f"/networks/{network_id}/natRules").json(),
        "profile": client.get(f"/ipProfiles/{profile_id}").json(),
        "things": client.get("/things").json(),
        "groups": client.get("/thingsGroups").json(),
    }


BAD = [
    ("post", "/networks/{n}/ipPools", {"cidr": "10.300.0.0/24"}, "cidr"),
    ("post", "/networks/{n}/ipPools", {"cidr": "10.5.0.1/24"}, "cidr"),
    ("post", "/networks/{n}/ipPools", {"cidr": "10.200.8.0/24"}, "cidr"),  # inside the default 10.200.0.0/20
    ("post", "/networks/{n}/ipPools", {"cidr": "10.0.0.0/8"}, "cidr"),
    ("post", "/networks/{n}/ipPools", {"size": 24}, "size"),
    ("patch", "/networks/{n}", {"deviceIsolation": "yes"}, "deviceIsolation"),
    ("patch", "/networks/{n}", {"name": ""}, "name"),
    ("patch", "/networks/{n}", {"apn": "mine"}, "apn"),
    ("post", "/networks/{n}/routes", {"destination": "192.168.1.0/33"}, "destination"),
    ("post", "/networks/{n}/routes", {"destination": "192.168.1.0/24", "target": "PT0000"}, "target"),
    (
        "post",
        "/networks/{n}/natRules",
        {"protocol": "sctp", "publicPort": 8080, "privateIp": "10.200.0.9", "privatePort": 80},
        "protocol",
    ),
    (
        "post",
        "/networks/{n}/natRules",
        {"protocol": "tcp", "publicPort": 70000, "privateIp": "10.200.0.9", "privatePort": 80},
        "publicPort",
    ),
    (
        "post",
        "/networks/{n}/natRules",
        {"protocol": "tcp", "publicPort": 8080, "privateIp": "10.9.9.9", "privatePort": 80},
        "privateIp",
    ),
    (
        "post",
        "/networks/{n}/natRules",
        {"protocol": "tcp", "publicPort": 8080, "thingId": "{t}", "privatePort": 80},
        "thingId",
    ),
    (
        "post",
        "/networks/{n}/natRules",
        {"protocol": "tcp", "publicPort": 8080, "privatePort": 0, "privateIp": "10.200.0.9"},
        "privatePort",
    ),
    (
        "patch",
        "/ipProfiles/{p}",
        {
            "outbound": [
                {"action": "deny", "protocol": "tcp", "remotePorts": "80"},
                {"action": "deny", "protocol": "tcp", "remotePorts": "90-80"},
            ]
        },
        "outbound[1].remotePorts",
    ),
    (
        "patch",
        "/ipProfiles/{p}",
        {"inbound": [{"action": "allow", "remoteCidr": "1.2.3.4/40"}]},
        "inbound[0].remoteCidr",
    ),
    ("patch", "/ipProfiles/{p}", {"inbound": [{"action": "maybe"}]}, "inbound[0].action"),
    (
        "patch",
        "/ipProfiles/{p}",
        {"inbound": [{"action": "deny", "protocol": "icmp", "remotePorts": "7"}]},
        "inbound[0].remotePorts",
    ),
    ("patch", "/ipProfiles/{p}", {"outbound": [{"action": "deny", "port": "80"}]}, "outbound[0].port"),
    ("patch", "/ipProfiles/{p}", {"defaultAction": "drop"}, "defaultAction"),
    ("patch", "/ipProfiles/{p}", {"name": "x", "inbound": "all"}, "inbound"),
    ("patch", "/things/{t}", {"state": "RETIRED", "lockedIp": "10.9.9.9"}, "lockedIp"),
    ("patch", "/things/{t}", {"state": "SUSPENDED"}, "state"),
    ("patch", "/things/{t}", {"services": {"data": "no"}}, "services.data"),
    ("patch", "/things/{t}", {"services": {"voice": True}}, "services.voice"),
    ("patch", "/things/{t}", {"thingsGroupId": "TG0000"}, "thingsGroupId"),
    ("patch", "/thingsGroups/{g}", {"networkId": "PN0000"}, "networkId"),
    ("delete", "/thingsGroups/{g}", None, "id"),
    ("delete", "/ipProfiles/{p}", None, "id"),
    ("delete", "/networks/{n}", None, "id"),
]


def test_bad_input_is_refused_naming_the_field_and_changes_nothing(account: Account) -> None:
    [thing] = things_of(account, 1)
    with http(account) as client:
        group, network, profile = defaults(client)
        keys = {"n": network["id"], "p": profile["id"], "t": thing["sid"], "g": group["id"]}
        before = config_of(client, network["id"], profile["id"])
        for method, path, payload, field in BAD:
            url = path.format(**keys)
            content = (
                None
                if payload is None
                else {k: (v.format(**keys) if isinstance(v, str) else v) for k, v in payload.items()}
            )
            response = client.request(method.upper(), url, json=content)
            assert response.status_code == 400, (method, url, content, response.text)
            assert response.json()["info"] == field, (method, url, response.json())
        assert_refused(client.post("/ipProfiles", content=b"{not json"), "body")
        assert config_of(client, network["id"], profile["id"]) == before


def test_pools_networks_profiles_and_nat_rules_round_trip(account: Account) -> None:
    [thing] = things_of(account, 1)
    with http(account) as client:
        group, default_network, _ = defaults(client)
        network = client.post("/networks", json={"name": "plant", "deviceIsolation": True})
        assert network.status_code == 201, network.text
        net = network.json()
        assert net["publicAddress"] != default_network["publicAddress"] and net["ipPools"] == []
        pool = client.post(f"/networks/{net['id']}/ipPools", json={"cidr": "10.30.0.0/29"}).json()
        assert (pool["size"], pool["used"], pool["available"]) == (6, 0, 6)
        assert_refused(client.post(f"/networks/{net['id']}/ipPools", json={"cidr": "10.30.0.4/30"}), "cidr")
        profile = client.post(
            "/ipProfiles",
            json={"name": "web", "outbound": [{"action": "deny", "protocol": "tcp", "remotePorts": "80"}]},
        ).json()
        assert profile["outbound"] == [
            {"action": "deny", "protocol": "tcp", "remoteCidr": "0.0.0.0/0", "remotePorts": "80"}
        ]
        made = client.post(
            "/thingsGroups", json={"name": "plant", "networkId": net["id"], "ipProfileId": profile["id"]}
        )
        assert made.status_code == 201 and made.json()["default"] is False
        moved = client.patch(
            f"/things/{thing['sid']}", json={"thingsGroupId": made.json()["id"], "lockedIp": "10.30.0.5"}
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["lockedIp"] == "10.30.0.5"
        assert client.get(f"/networks/{net['id']}/ipPools/{pool['id']}").json()["used"] == 1
        rule = client.post(
            f"/networks/{net['id']}/natRules",
            json={"protocol": "tcp", "publicPort": 8080, "thingId": thing["sid"], "privatePort": 80},
        )
        assert rule.status_code == 201, rule.text
        assert rule.json()["endpoint"] == f"{net['publicAddress']}:8080"
        assert_refused(
            client.post(
                f"/networks/{net['id']}/natRules",
                json={"protocol": "tcp", "publicPort": 8080, "privateIp": "10.30.0.2", "privatePort": 22},
            ),
            "publicPort",
        )
        # The locked address holds the pool: it may not shrink away from it, and the Thing may not unlock it
        # while a NAT rule forwards to it.
        assert_refused(
            client.patch(f"/networks/{net['id']}/ipPools/{pool['id']}", json={"cidr": "10.30.0.0/30"}), "cidr"
        )
        assert_refused(client.delete(f"/networks/{net['id']}/ipPools/{pool['id']}"), "id")
        assert_refused(client.patch(f"/things/{thing['sid']}", json={"lockedIp": None}), "lockedIp")
        default_group_move = client.patch(f"/things/{thing['sid']}", json={"thingsGroupId": group["id"]})
        assert_refused(default_group_move, "thingsGroupId")
        assert client.delete(f"/networks/{net['id']}/natRules/{rule.json()['id']}").status_code == 204
        assert client.patch(f"/things/{thing['sid']}", json={"lockedIp": None}).json()["lockedIp"] is None
        # Deleting the group moves its Thing back to the default group.
        assert client.delete(f"/thingsGroups/{made.json()['id']}").status_code == 204
        assert client.get(f"/things/{thing['sid']}").json()["thingsGroupId"] == group["id"]
        # A network no group uses can go, with its pools.
        spare = client.post("/networks", json={"name": "spare"}).json()
        client.post(f"/networks/{spare['id']}/ipPools", json={"cidr": "10.31.0.0/24"})
        assert client.delete(f"/networks/{spare['id']}").status_code == 204
        assert client.get(f"/networks/{spare['id']}/ipPools").status_code == 404


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose operator allows one browser origin (CELLPLANE_THINGS_CORS_ORIGINS), with rate limits on."""
    data_dir = tmp_path_factory.mktemp("things-cors")
    env = server_env(
        data_dir,
        None,
        CELLPLANE_THINGS_CORS_ORIGINS="https://console.example",
        CELLPLANE_RATE_LIMIT="10",
        CELLPLANE_RATE_BURST="50",
    )
    instance = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    instance.start()
    yield instance
    instance.stop()


@pytest.mark.parametrize("origin,allowed", [("https://console.example", True), ("https://evil.example", False)])
def test_cors_answers_the_allowed_origins_only(cors_server: Server, origin: str, allowed: bool) -> None:
    created = cors_server.admin("create-account", "--friendly-name", "cors")
    url = f"{cors_server.base_url}{THINGS}/things"
    preflight = httpx.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "PATCH"})
    assert preflight.status_code == (204 if allowed else 403)
    assert "api-version" in preflight.headers
    response = httpx.get(url, headers={"Origin": origin}, auth=(created["account_sid"], created["auth_token"]))
    assert response.status_code == 200
    # The quota headers are the rate limiter's: a bucket of 50 requests per credential, this request taken from it.
    assert response.headers["quota-limit"] == "50" and int(response.headers["quota-used"]) >= 1
    assert response.headers["quota-reset-UTC"].endswith("Z")
    if allowed:
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        assert "If-Match" in preflight.headers["access-control-allow-headers"]
        assert preflight.headers["access-control-max-age"] == "600"
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
    else:
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in response.headers
