"""PostgreSQL failover under cellplane (issue 21), on the cluster of conftest.py: a primary and a synchronous standby
managed by Patroni with etcd, every node on a multi-host URL (`?host=a&host=b&target_session_attrs=read-write`: each
new connection finds the node that takes writes). The primary's machine is lost (Patroni and PostgreSQL killed -9)
while a PGW sends Interim-Updates to an AAA node: accounting is answered again within 15 s of the new primary taking
writes, no acknowledged record is lost (synchronous replication: an Accounting-Response follows a commit the standby
has too), and both API nodes take writes again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
from pyrad import packet as pyrad_packet
from pyrad.client import Timeout
from sqlalchemy import select

from cellplane.store.db import make_engine
from cellplane.store.models import DataSession
from tests.conftest import Account
from tests.support.cluster import Cluster
from tests.support.network import USA, make_fleet, make_sim
from tests.unit.network.peers import USA as USA_PLMN
from tests.unit.network.peers import Pgw

INTERIM = 3


class Interims:
    """A PGW sending one session's Interim-Updates (cumulative counters) as fast as they are answered."""

    def __init__(self, pgw: Pgw, imsi: str) -> None:
        self.pgw, self.imsi = pgw, imsi
        self.acked: list[tuple[float, int]] = []  # (when answered, bytes up it carried)
        self.session = f"failover-{time.monotonic_ns()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sent = 0
        while not self._stop.is_set():
            sent += 1000
            request = self.pgw.accounting_request(
                INTERIM, self.imsi, self.session, up=sent, down=sent // 2, plmn=USA_PLMN
            )
            try:
                reply = self.pgw.send(request)
            except Timeout:
                continue  # not acknowledged: it may or may not be stored, and the next carries more anyway
            if reply.code == pyrad_packet.AccountingResponse:
                self.acked.append((time.monotonic(), sent))
            time.sleep(0.05)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def answered_after(self, moment: float) -> float | None:
        return next((when for when, _ in self.acked if when > moment), None)


def test_accounting_survives_the_loss_of_the_primary(cluster: Cluster) -> None:
    """Run last (conftest.py orders it so): the cluster has no standby afterwards."""
    api, aaa = cluster["api-b"], cluster["aaa-a"]
    created = api.admin("create-account", "--friendly-name", "failover")
    account = Account(created["account_sid"], created["auth_token"], api)
    sim = make_sim(account, make_fleet(account, [USA]))
    pgw = Pgw(int(aaa.env["CELLPLANE_AAA_AUTH_PORT"]), int(aaa.env["CELLPLANE_AAA_ACCT_PORT"]), timeout=1.0, retries=1)
    deadline = time.monotonic() + 15
    while pgw.send(pgw.access_request(sim.imsi, USA_PLMN)).code != pyrad_packet.AccessAccept:
        assert time.monotonic() < deadline, "the AAA never learned of the SIM"
        time.sleep(0.5)
    interims = Interims(pgw, sim.imsi)
    interims.start()
    try:
        while len(interims.acked) < 20:
            time.sleep(0.05)
        database = cluster.database
        old = database.primary()
        assert old is not None and database.sync_standby() is not None
        killed = time.monotonic()
        database.kill(old)
        promoted = None
        while promoted is None:
            assert time.monotonic() - killed < 60, f"no promotion:\n{database.logs()}"
            new = database.primary()
            if new is not None and new is not old:
                promoted = time.monotonic()
            time.sleep(0.1)
        while (answered := interims.answered_after(promoted)) is None:
            assert time.monotonic() - promoted < 30, f"accounting not answered again:\n{aaa.log()}"
            time.sleep(0.1)
        time.sleep(1)  # a few more records on the new primary
    finally:
        interims.stop()
    print(
        f"\nprimary lost: standby promoted {promoted - killed:.1f} s later, accounting answered again"
        f" {answered - promoted:.1f} s after that; {len(interims.acked)} records acknowledged"
    )
    assert answered - promoted < 15

    async def stored() -> Any:
        engine = make_engine(cluster.url)
        try:
            async with engine.connect() as connection:
                query = select(DataSession.bytes_up).where(DataSession.acct_session_id == interims.session)
                return (await connection.execute(query)).scalar_one()
        finally:
            await engine.dispose()

    # Counters are cumulative: the stored one is at least the last acknowledged (nothing acknowledged was lost).
    assert asyncio.run(stored()) >= max(sent for _, sent in interims.acked)
    # Both API nodes take writes again on their connection pools.
    for node in (cluster["api-a"], api):
        fleet = httpx.post(
            f"{node.base_url}/supersim/v1/Fleets",
            data={"NetworkAccessProfile": make_fleet(account, [USA]).profile_sid},
            auth=(account.sid, account.token),
            timeout=10,
        )
        assert fleet.status_code == 201, (node.port, fleet.text)
