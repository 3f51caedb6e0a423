"""On a server of their own (rate limits on, every log at debug): the IETF RateLimit headers on every authenticated
response, Basic or Bearer, hot route or not; the token endpoints' own limits (429, Retry-After); and no secret,
password or token anywhere in what the platform logged while the identity flows ran."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.identity import HOSTED_TOKEN, bearer, create_client, issue_token
from tests.support.server import Server, free_port, server_env

POLICY = re.compile(r'^"credential";q=(\d+);w=(\d+)$')
STATE = re.compile(r'^"credential";r=(\d+);t=(\d+)$')


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("cellplane-limited")
    env = server_env(
        data_dir,
        None,
        CELLPLANE_RATE_LIMIT="1",
        CELLPLANE_RATE_BURST="40",
        CELLPLANE_TOKEN_RATE_LIMIT="0.1",
        CELLPLANE_TOKEN_RATE_BURST="6",
    )
    instance = Server(
        backend="sqlite", data_dir=data_dir, port=free_port(), env=env, extra_args=["--log-level", "debug"]
    )
    instance.start(timeout=90)  # a loaded shared machine can take half a minute to start one
    try:
        yield instance
    finally:
        instance.stop()


def test_every_authenticated_response_announces_the_credentials_quota(limited: Server) -> None:
    account = limited.admin("create-account")
    auth = (account["account_sid"], account["auth_token"])
    client = create_client(limited, auth, "viewer")
    token = issue_token(limited, client["client_id"], client["client_secret"])
    sim = f"{limited.base_url}/supersim/v1/Sims/HS{'0' * 32}"  # the hot route: a 404, still counted
    remaining = []
    for url, credentials in (
        (f"{limited.base_url}/supersim/v1/Sims", {"auth": auth}),
        (sim, {"auth": auth}),
        (f"{limited.base_url}/wireless/v1/Sims", {"headers": bearer(token)}),
        (sim, {"headers": bearer(token)}),
    ):
        response = httpx.get(url, **credentials)  # type: ignore[arg-type]
        assert response.status_code in (200, 404)
        policy = POLICY.match(response.headers["ratelimit-policy"])
        state = STATE.match(response.headers["ratelimit"])
        assert policy and state, response.headers
        assert (int(policy[1]), int(policy[2])) == (40, 40)
        remaining.append(int(state[1]))
    # One bucket per credential: the AuthToken's and the client's each go down from the burst.
    assert remaining[0] > remaining[1] and remaining[2] > remaining[3] and remaining[2] >= 38


def test_no_secret_password_or_token_is_ever_logged(limited: Server) -> None:
    account = limited.admin("create-account")
    auth = (account["account_sid"], account["auth_token"])
    key = limited.admin("create-api-key", "--account", account["account_sid"])
    client = create_client(limited, auth, "admin")
    password = "never-log-this-passphrase"
    secrets = [account["auth_token"], key["secret"], client["client_secret"], password]
    with httpx.Client(base_url=limited.base_url, timeout=10) as http:
        grant = {"grant_type": "client_credentials", "client_id": client["client_id"]}
        token = http.post(HOSTED_TOKEN, data={**grant, "client_secret": client["client_secret"]}).json()
        secrets.append(token["access_token"])
        assert http.post(HOSTED_TOKEN, data={**grant, "client_secret": password}).status_code in (401, 429)
        user = http.post(
            "/cellplane/v1/Users",
            data={"Email": "log@example.com", "Role": "viewer", "Password": password},
            headers=bearer(token["access_token"]),
        )
        assert user.status_code == 201
        http.post(f"/cellplane/v1/Users/{user.json()['sid']}", data={"Password": password + "2"}, auth=auth)
        http.get("/supersim/v1/Sims", auth=(key["sid"], key["secret"]))
        http.get("/supersim/v1/Sims", headers=bearer(token["access_token"] + "x"))
        http.delete(f"/cellplane/v1/ApiClients/{client['client_id']}", auth=auth)
        http.get("/supersim/v1/Sims", headers=bearer(token["access_token"]))
        audit = http.get("/cellplane/v1/AuditEvents", auth=auth, params={"PageSize": 1000}).text
    limited.stop()  # flushes everything it had to say
    limited.start(timeout=90)
    assert limited.log_path is not None
    logged = "\n".join(path.read_text(errors="replace") for path in limited.data_dir.glob("*.log"))
    assert "Application startup complete" in logged  # the server's log, at debug, is what is searched
    for secret in secrets:
        assert secret not in logged
        assert secret not in audit


def test_token_endpoints_are_limited_per_client_and_address(limited: Server) -> None:
    """Last in this module: it empties the address's bucket."""
    account = limited.admin("create-account")
    client = create_client(limited, (account["account_sid"], account["auth_token"]), "viewer")
    form = {"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": "wrong"}
    statuses = []
    for _ in range(10):
        response = httpx.post(f"{limited.base_url}{HOSTED_TOKEN}", data=form)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"] == "too_many_requests"
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) <= {401}, statuses
