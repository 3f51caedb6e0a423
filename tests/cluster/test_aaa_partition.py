"""A 10 s partition between an AAA node and PostgreSQL (issue 21): nothing acknowledged during it, everything
answered within 2 s after, nothing lost.

The AAA node (`cellplane up --role aaa`) runs in a network namespace of the test's own and reaches a PostgreSQL of
the test's own over a veth pair (tests/support/partition.py); an API + workers node on the host shares that
database. A NAS on the host (one UDP socket per SIM, as a PGW's accounting client) sends each SIM's Interim-Update
every second, with growing totals, and retransmits every unanswered request every second. For 10 s an nftables
table inside the AAA's namespace drops the PostgreSQL port both ways: the AAA's connections go half-open (no reset:
silence, which TCP alone would wait out with its retransmission backoff, seconds after the partition ends).

Asserted: no request sent during the partition is answered before it ends, and nothing at all is answered in it
(a batch needs the database: the AAA must not acknowledge what it could not write); every request is answered
within 2 s of the partition's end (or of being sent, after it); the sessions' and the usage's bytes in the database
equal the totals the NAS sent, exactly.
"""

from __future__ import annotations

import os
import select
import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyrad import packet as pyrad_packet

from tests.support import partition
from tests.support.cluster import fetch, make_active_sims
from tests.support.server import Server, free_port, server_env
from tests.unit.network.peers import USA as USA_PLMN
from tests.unit.network.peers import Pgw

SIMS = 20
BEFORE, PARTITION, AFTER = 3.0, 10.0, 5.0  # seconds of traffic before, during and after the partition
INTERIM, RETRANSMIT = 1.0, 1.0  # each SIM's Interim-Update pace, and the NAS's retransmission interval
ANSWERED_WITHIN = 2.0


@dataclass
class Sent:
    packet: pyrad_packet.Packet
    raw: bytes
    first: float
    last: float
    up: int
    answered: float | None = None


@dataclass
class Sim:
    imsi: str
    session_id: str
    sock: socket.socket
    address: str = ""
    up: int = 0
    next_id: int = 0
    pending: dict[int, Sent] = field(default_factory=dict)
    done: list[Sent] = field(default_factory=list)


class Nas:
    """A NAS's RADIUS client over UDP from the veth's host end: new requests, retransmissions, answers by Identifier."""

    def __init__(self, sims: list[str], ns: partition.Namespace, node: Server) -> None:
        self.pgw = Pgw(
            int(node.env["CELLPLANE_AAA_AUTH_PORT"]), int(node.env["CELLPLANE_AAA_ACCT_PORT"]), nas_identifier="pgw-p"
        )
        self.target = ns.ns_ip
        self.selector = selectors.DefaultSelector()
        self.sims = []
        for imsi in sims:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ns.host_ip, 0))
            sock.setblocking(False)
            sim = Sim(imsi, f"part-{imsi}", sock)
            self.selector.register(sock, selectors.EVENT_READ, sim)
            self.sims.append(sim)

    def close(self) -> None:
        for sim in self.sims:
            self.selector.unregister(sim.sock)
            sim.sock.close()
        self.selector.close()

    def attach(self, sim: Sim) -> None:
        """Access-Request (the address to report), before the partition: a SIM the AAA's bounded cache does not
        hold yet is read from the database first, so the answer may take a round trip. Waited for by time on this
        SIM's own socket (the other SIMs' sockets hold unread Accounting-Responses, which would end a wait counted in
        turns of the shared selector at once)."""
        request = self.pgw.access_request(sim.imsi, USA_PLMN)
        request.id = self._id(sim)
        sim.sock.sendto(request.RequestPacket(), (self.target, self.pgw.auth_port))
        readable, _, _ = select.select([sim.sock], [], [], 5.0)
        if not readable:
            raise AssertionError(f"{sim.imsi}: no Access-Accept within 5 s")
        reply = request.CreateReply(packet=sim.sock.recv(4096))
        assert reply.code == pyrad_packet.AccessAccept, reply.code
        sim.address = str(reply["Framed-IP-Address"][0])

    def _id(self, sim: Sim) -> int:
        while sim.next_id in sim.pending:
            sim.next_id = (sim.next_id + 1) % 256
        chosen, sim.next_id = sim.next_id, (sim.next_id + 1) % 256
        return chosen

    def send(self, sim: Sim, status: int, now: float) -> None:
        """Start (1), Interim-Update (3: 1,000 more bytes up, 2,000 down) or Stop (2), as a new request."""
        if status == 3:
            sim.up += 1000
        request = self.pgw.accounting_request(
            status, sim.imsi, sim.session_id, up=sim.up, down=2 * sim.up, plmn=USA_PLMN, address=sim.address
        )
        request.id = self._id(sim)
        raw = request.RequestPacket()
        sim.pending[request.id] = Sent(request, raw, now, now, sim.up)
        sim.sock.sendto(raw, (self.target, self.pgw.acct_port))

    def pump(self, until: float) -> None:
        """Retransmit what is unanswered every RETRANSMIT seconds and take the answers, until `until`."""
        while True:
            now = time.monotonic()
            for sim in self.sims:
                for sent in sim.pending.values():
                    if now - sent.last >= RETRANSMIT:
                        sim.sock.sendto(sent.raw, (self.target, self.pgw.acct_port))
                        sent.last = now
            if now >= until:
                return
            for key, _ in self.selector.select(min(0.05, until - now)):
                sim = key.data
                while True:
                    try:
                        data = sim.sock.recv(4096)
                    except BlockingIOError:
                        break
                    sent = sim.pending.get(data[1])
                    if sent is None or data[0] != pyrad_packet.AccountingResponse:
                        continue
                    if sent.packet.VerifyReply(sent.packet.CreateReply(packet=data), data):
                        sent.answered = time.monotonic()
                        sim.done.append(sim.pending.pop(data[1]))

    def unanswered(self) -> int:
        return sum(len(sim.pending) for sim in self.sims)

    def all_sent(self) -> list[Sent]:
        return [sent for sim in self.sims for sent in [*sim.done, *sim.pending.values()]]


@pytest.fixture
def namespace() -> Iterator[partition.Namespace]:
    reason = partition.available()
    if reason:
        pytest.skip(reason)
    ns = partition.Namespace()
    try:
        ns.create()
        yield ns
    finally:
        ns.delete()


@pytest.fixture
def database(namespace: partition.Namespace) -> Iterator[partition.Postgres]:
    postgres = partition.Postgres(namespace.host_ip)
    try:
        postgres.start(trusted=f"{namespace.host_ip.rsplit('.', 1)[0]}.0/24")
        yield postgres
    finally:
        print(f"--- PostgreSQL's log (shown when the test fails)\n{postgres.log()}")
        postgres.stop()


@pytest.mark.timeout(300)
def test_partition_between_aaa_and_postgres(
    namespace: partition.Namespace, database: partition.Postgres, tmp_path: Path
) -> None:
    started = time.monotonic()
    token = os.urandom(16).hex()
    (tmp_path / "api").mkdir()
    api = Server(
        backend="postgres",
        data_dir=tmp_path / "api",
        port=free_port(),
        env=server_env(tmp_path / "api", database.url, CELLPLANE_ADMIN_TOKEN=token),
        extra_args=["--role", "api,workers"],
    )
    (tmp_path / "aaa").mkdir()
    aaa = Server(
        backend="postgres",
        data_dir=tmp_path / "aaa",
        port=free_port(),
        env=server_env(
            tmp_path / "aaa",
            database.url,
            CELLPLANE_ADMIN_TOKEN=token,
            CELLPLANE_HOST=namespace.ns_ip,
            CELLPLANE_AAA_HOST=namespace.ns_ip,
            CELLPLANE_RADIUS_CLIENTS=namespace.host_ip,
        ),
        extra_args=["--role", "aaa"],
        host=namespace.ns_ip,
        command_prefix=namespace.command(),
    )
    nas: Nas | None = None
    try:
        api.start()
        _, made = make_active_sims(api, SIMS)
        aaa.start()
        nas = Nas([imsi for _, _, imsi in made], namespace, aaa)
        now = time.monotonic()
        for sim in nas.sims:
            nas.attach(sim)
            nas.send(sim, 1, now)
        nas.pump(time.monotonic() + 2)
        assert nas.unanswered() == 0, "the Starts were not all answered before the partition"

        begin = time.monotonic()
        cut = healed = float("inf")
        next_interim = begin
        while True:
            now = time.monotonic()
            if cut == float("inf") and now >= begin + BEFORE:
                namespace.partition(namespace.host_ip, database.port)
                cut = time.monotonic()
            if healed == float("inf") and now >= cut + PARTITION:
                namespace.heal()
                healed = time.monotonic()
            if now >= healed + AFTER:
                break
            if now >= next_interim:
                for sim in nas.sims:
                    nas.send(sim, 3, now)
                next_interim += INTERIM
            nas.pump(min(next_interim, time.monotonic() + 0.05))
        nas.pump(time.monotonic() + 3)
        sent = nas.all_sent()
        assert nas.unanswered() == 0, f"{nas.unanswered()} requests never answered:\n{aaa.log()}"

        # Nothing answered during the partition (a little after the cut, for answers already on the wire).
        during = [s for s in sent if s.answered is not None and cut + 0.2 <= s.answered < healed]
        assert not during, f"{len(during)} requests acknowledged while the AAA could not reach its database"
        sent_in = [s for s in sent if cut <= s.first < healed]
        assert sent_in and all(s.answered is not None and s.answered >= healed for s in sent_in)
        # Everything answered within 2 s of the end of the partition (or of its sending, after it).
        late = [(s.answered or 0) - max(healed, s.first) for s in sent]
        worst = max(late)
        assert worst <= ANSWERED_WITHIN, f"answered {worst:.2f} s after the partition ended"

        # Then every session ends; the database has exactly what the NAS sent.
        now = time.monotonic()
        for sim in nas.sims:
            nas.send(sim, 2, now)
        nas.pump(time.monotonic() + 3)
        assert nas.unanswered() == 0
        rows = fetch(
            database.url,
            "SELECT acct_session_id, status, bytes_up, bytes_down FROM data_sessions WHERE nas_id = 'pgw-p'",
        )
        expected = {sim.session_id: sim.up for sim in nas.sims}
        assert {r["acct_session_id"]: (r["status"], r["bytes_up"], r["bytes_down"]) for r in rows} == {
            sid: ("closed", up, 2 * up) for sid, up in expected.items()
        }
        usage = fetch(
            database.url,
            "SELECT coalesce(sum(bytes_up), 0) AS up, coalesce(sum(bytes_down), 0) AS down FROM usage_buckets "
            "WHERE sim_sid = ANY($1::text[])",
            [sid for sid, _, _ in made],
        )[0]
        assert (usage["up"], usage["down"]) == (sum(expected.values()), 2 * sum(expected.values()))
        print(
            f"\n{len(sent)} accounting requests, {len(sent_in)} sent during the {PARTITION:.0f} s partition; "
            f"worst answer {worst:.2f} s after it ended; test {time.monotonic() - started:.0f} s"
        )
    finally:
        if nas is not None:
            nas.close()
        aaa.stop()
        api.stop()
