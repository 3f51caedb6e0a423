"""The AAA inside the real platform (`cellplane up` subprocess), driven as a user and a third-party PGW would:
the world set up with the official twilio SDK, RADIUS from pyrad and FreeRADIUS's radclient, results read back
through the API (UsageRecords, ConnectionEvents, IpAddresses), Disconnect-Requests caught by a test NAS.

The platform runs without its own gateway here: the test is the gateway, and its NAS listener takes the
gateway's Dynamic Authorization port.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest
from pyrad import packet as pyrad_packet

from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.network import eventually, make_fleet, make_sim
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)
from tests.unit.network.peers import (
    FRANCE,
    FRANCE_SID,
    UK,
    USA,
    USA_SID,
    Pgw,
    ThreadedNas,
    framed_ip,
    radclient,
    radclient_path,
    reply_message,
)

T = TypeVar("T")
START, STOP, INTERIM = 1, 2, 3


@dataclass
class Platform:
    server: Server
    nas: ThreadedNas
    pgw: Pgw

    def account(self) -> Account:
        created = self.server.admin("create-account", "--friendly-name", "aaa")
        return Account(created["account_sid"], created["auth_token"], self.server)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    database_url = None
    if request.param == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        database_url = create_postgres_database()
    nas = ThreadedNas()
    data_dir = tmp_path_factory.mktemp(f"aaa-{request.param}")
    env = server_env(
        data_dir,
        database_url,
        CELLPLANE_GATEWAY_ENABLED="false",
        CELLPLANE_EMULATOR_ENABLED="false",
        CELLPLANE_GATEWAY_DAE_PORT=str(nas.port),
    )
    server = Server(backend=request.param, data_dir=data_dir, port=free_port(), env=env)
    server.start()
    try:
        pgw = Pgw(int(env["CELLPLANE_AAA_AUTH_PORT"]), int(env["CELLPLANE_AAA_ACCT_PORT"]))
        yield Platform(server, nas, pgw)
    finally:
        server.stop()
        nas.close()
        if database_url:
            drop_postgres_database(database_url)


def access_code(platform: Platform, imsi: str, plmn: tuple[str, str] = FRANCE) -> str:
    reply = platform.pgw.access(imsi, plmn)
    return "accept" if reply.code == pyrad_packet.AccessAccept else reply_message(reply).split(" ", 1)[0]


def test_attach_is_decided_by_every_rule_set_through_the_api(platform: Platform) -> None:
    account = platform.account()
    fleet = make_fleet(account, [FRANCE_SID, USA_SID])
    data_off = make_fleet(account, [FRANCE_SID], data_enabled=False)
    active = make_sim(account, fleet)
    inactive = make_sim(account, fleet, "inactive")
    no_data = make_sim(account, data_off)

    expectations = [
        (active.imsi, FRANCE, "accept"),
        (active.imsi, USA, "accept"),
        (active.imsi, UK, "83706"),
        (inactive.imsi, FRANCE, "83705"),
        (no_data.imsi, FRANCE, "83704"),
        ("901539999999999", FRANCE, "83701"),
    ]
    for imsi, plmn, expected in expectations:
        code = eventually(lambda i=imsi, p=plmn: access_code(platform, i, p), lambda c, e=expected: c == e)
        assert code == expected, (imsi, plmn)
    metrics = httpx.get(f"{platform.server.base_url}/metrics").text
    assert 'cellplane_aaa_attaches_total{code="83705",result="rejected"}' in metrics


def test_radclient_is_answered_by_the_platform(platform: Platform) -> None:
    binary = radclient_path()
    if binary is None:
        pytest.skip("FreeRADIUS radclient is not installed and could not be installed (apt-get freeradius-utils)")
    account = platform.account()
    sim = make_sim(account, make_fleet(account, [FRANCE_SID]))
    body = (
        f'User-Name = "{sim.imsi}"\nUser-Password = "{sim.imsi}"\n3GPP-SGSN-MCC-MNC = "20801"\n'
        "Message-Authenticator = 0x00\n"
    )

    done = eventually(
        lambda: radclient(binary, platform.pgw.auth_port, "auth", body),
        lambda result: "Access-Accept" in result.stdout,
    )

    assert "Received Access-Accept" in done.stdout, done.stdout + done.stderr
    assert "Framed-IP-Address = 10." in done.stdout


def test_accounting_becomes_exact_usage_records_sessions_and_events(platform: Platform) -> None:
    account = platform.account()
    sim = make_sim(account, make_fleet(account, [FRANCE_SID, USA_SID]))
    pgw = platform.pgw
    address = framed_ip(eventually(lambda: pgw.access(sim.imsi), lambda r: r.code == pyrad_packet.AccessAccept))
    http = account.http()

    pgw.send(pgw.accounting_request(START, sim.imsi, "e2e-1", address=address))
    ips = http.get(f"/supersim/v1/Sims/{sim.sid}/IpAddresses").json()["ip_addresses"]
    assert [ip["ip_address"] for ip in ips] == [address]
    interim = pgw.accounting_request(INTERIM, sim.imsi, "e2e-1", up=123_456, down=654_321, address=address)
    raw = interim.RequestPacket()
    answers = send_raw((pgw_host(), pgw.acct_port), raw, times=3)  # a NAS retransmitting the same octets
    assert len(answers) == 3 and len(set(answers)) == 1
    pgw.send(pgw.accounting_request(STOP, sim.imsi, "e2e-1", up=200_000, down=700_000, address=address))

    [record] = http.get("/supersim/v1/UsageRecords", params={"Sim": sim.sid}).json()["usage_records"]
    assert (record["data_upload"], record["data_download"], record["data_total"]) == (200_000, 700_000, 900_000)
    by_network = http.get("/supersim/v1/UsageRecords", params={"Sim": sim.sid, "Group": "network"}).json()
    assert [r["network_sid"] for r in by_network["usage_records"]] == [FRANCE_SID]
    assert http.get(f"/supersim/v1/Sims/{sim.sid}/IpAddresses").json()["ip_addresses"] == []
    events = http.get("/cellplane/v1/ConnectionEvents", params={"Sim": sim.sid}).json()["connection_events"]
    types = [e["event_type"] for e in reversed(events)]  # newest first on the wire
    # Attaches tried before the AAA heard of the new SIM (within a poll) were rejected; then:
    assert types[types.index("attach_accepted") :] == [
        "attach_accepted",
        "session_started",
        "session_updated",
        "session_ended",
    ]
    assert events[0]["bytes_up"] == 200_000 and events[0]["ip_address"] == address


def test_a_ready_sim_becomes_active_after_250_kb(platform: Platform) -> None:
    account = platform.account()
    sim = make_sim(account, make_fleet(account, [FRANCE_SID]), "ready")
    pgw = platform.pgw
    eventually(lambda: pgw.access(sim.imsi), lambda r: r.code == pyrad_packet.AccessAccept)

    pgw.send(pgw.accounting_request(INTERIM, sim.imsi, "e2e-2", up=50_000, down=200_000))

    assert wait_for_status(account.client(), sim.sid, "active").status == "active"
    periods = account.http().get(f"/supersim/v1/Sims/{sim.sid}/BillingPeriods").json()["billing_periods"]
    assert [p["period_type"] for p in periods] == ["ready", "active"]


def test_the_data_limit_is_enforced_by_disconnect_and_reject(platform: Platform) -> None:
    account = platform.account()
    sim = make_sim(account, make_fleet(account, [FRANCE_SID], data_limit=1))
    pgw = platform.pgw
    address = framed_ip(eventually(lambda: pgw.access(sim.imsi), lambda r: r.code == pyrad_packet.AccessAccept))
    pgw.send(pgw.accounting_request(START, sim.imsi, "e2e-3", address=address))
    seen = len(platform.nas.received)

    pgw.send(pgw.accounting_request(INTERIM, sim.imsi, "e2e-3", up=500_000, down=500_000, address=address))

    received = platform.nas.wait_for(seen + 1)
    assert received[seen]["Acct-Session-Id"] == "e2e-3"
    assert access_code(platform, sim.imsi) == "83707"


def test_deactivating_a_sim_through_the_api_disconnects_its_session(platform: Platform) -> None:
    account = platform.account()
    sim = make_sim(account, make_fleet(account, [FRANCE_SID]))
    pgw = platform.pgw
    address = framed_ip(eventually(lambda: pgw.access(sim.imsi), lambda r: r.code == pyrad_packet.AccessAccept))
    pgw.send(pgw.accounting_request(START, sim.imsi, "e2e-4", address=address))
    seen = len(platform.nas.received)

    account.client().supersim.v1.sims(sim.sid).update(status="inactive")

    received = platform.nas.wait_for(seen + 1)
    request = received[seen]
    assert (request["User-Name"], request["Acct-Session-Id"], request["Framed-IP-Address"]) == (
        sim.imsi,
        "e2e-4",
        address,
    )
    events = eventually(
        lambda: account.http().get("/cellplane/v1/ConnectionEvents", params={"Sim": sim.sid}).json(),
        lambda body: any(e["event_type"] == "disconnect_acked" for e in body["connection_events"]),
    )["connection_events"]
    [disconnect] = [e for e in events if e["event_type"] == "disconnect_acked"]
    assert disconnect["error_code"] == 83705


def pgw_host() -> str:
    return "127.0.0.1"


def send_raw(address: tuple[str, int], data: bytes, times: int) -> list[bytes]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        answers = []
        for _ in range(times):
            sock.sendto(data, address)
            answers.append(sock.recv(4096))
        return answers
