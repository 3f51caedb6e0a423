"""Wire conventions every surface shares: error body, bad input named, paging parameters, rate limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Account
from tests.support.server import Server, free_port, server_env


def assert_error(response: httpx.Response, status: int, code: int | None = None, names: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    if names is not None:
        assert names in body["message"], body["message"]


def test_unknown_route_and_method(account: Account) -> None:
    with account.http() as http:
        assert_error(http.get("/supersim/v1/Nope"), 404, 20404)
        assert_error(http.delete("/supersim/v1/Sims"), 405)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("PageSize=0", "PageSize"),
        ("PageSize=1001", "PageSize"),
        ("PageSize=ten", "PageSize"),
        ("Page=-1", "Page"),
        ("Status=sleeping", "Status"),
    ],
)
def test_bad_list_parameters_are_named(account: Account, query: str, parameter: str) -> None:
    with account.http() as http:
        assert_error(http.get(f"/supersim/v1/Sims?{query}"), 400, names=parameter)


def test_bad_page_token(account: Account) -> None:
    with account.http() as http:
        assert_error(http.get("/supersim/v1/Sims?PageToken=garbage"), 400, 21481)
        assert_error(http.get("/supersim/v1/Sims?PageToken=PA%%%"), 400, 21481)


def test_bad_update_parameters_write_nothing(account: Account) -> None:
    [sim] = account.claim(1)
    with account.http() as http:
        url = f"/supersim/v1/Sims/{sim.sid}"
        assert_error(http.post(url, data={"Status": "new"}), 400, names="Status")
        assert_error(http.post(url, data={"UniqueName": "x" * 65}), 400, names="UniqueName")
        assert_error(http.post(url, data={"CallbackUrl": "ftp://example"}), 400, names="CallbackUrl")
        assert_error(http.post(url, data={"CallbackMethod": "TRACE"}), 400, names="CallbackMethod")
        assert_error(http.post(url, data={"UniqueName": "ok", "Fleet": "HFnope"}), 400, names="Fleet")
        assert_error(http.post(url, data={"AccountSid": "nope"}), 400, names="AccountSid")
        assert_error(http.post(url, data={"UniqueName": "a\x00b"}), 400, names="UniqueName")
        assert_error(
            http.post(url, content=b'{"UniqueName": "x"}', headers={"Content-Type": "application/json"}),
            400,
            names="Content-Type",
        )
        after = http.get(url).json()
    assert after["unique_name"] is None and after["status"] == "new"


def test_missing_claim_parameters(account: Account) -> None:
    with account.http() as http:
        assert_error(
            http.post("/supersim/v1/Sims", data={"Iccid": "8988307000000000001"}), 400, 83001, "RegistrationCode"
        )
        assert_error(http.post("/supersim/v1/Sims", data={}), 400, 83001, "Iccid")


def test_unique_name_clash(account: Account) -> None:
    first, second = account.claim(2)
    with account.http() as http:
        assert http.post(f"/supersim/v1/Sims/{first.sid}", data={"UniqueName": "same"}).status_code == 200
        assert_error(http.post(f"/supersim/v1/Sims/{second.sid}", data={"UniqueName": "same"}), 409, names="same")


def test_malformed_credentials(server: Server) -> None:
    for header in ("Basic !!!", "Bearer abc", "Basic " + "QUM6"):
        response = httpx.get(f"{server.base_url}/supersim/v1/Sims", headers={"Authorization": header})
        assert_error(response, 401, 20003)


def test_api_key_authenticates(account: Account) -> None:
    key = account.server.admin("create-api-key", "--account", account.sid)
    response = httpx.get(f"{account.server.base_url}/supersim/v1/Sims", auth=(key["sid"], key["secret"]))
    assert response.status_code == 200
    assert_error(httpx.get(f"{account.server.base_url}/supersim/v1/Sims", auth=(key["sid"], "wrong")), 401, 20003)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limited")
    env = server_env(data_dir, None, CELLPLANE_RATE_LIMIT="1", CELLPLANE_RATE_BURST="3")
    instance = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    instance.start()
    yield instance
    instance.stop()


def test_rate_limit_answers_429_with_retry_after(limited_server: Server) -> None:
    created = limited_server.admin("create-account")
    auth = (created["account_sid"], created["auth_token"])
    statuses = [httpx.get(f"{limited_server.base_url}/supersim/v1/Sims", auth=auth) for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert_error(limited[0], 429, 20429)
    assert int(limited[0].headers["Retry-After"]) >= 1
