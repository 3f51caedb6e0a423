"""The data plane, end to end, as root: real programs run by `cellplane device shell` in a device namespace, their
packets carried in GTP-U by the emulated SGW to the platform's gateway, through the default routing domain's
namespace (nftables, masquerade) to an HTTP server on the host end of its uplink, and back. Usage, limits, throttling,
isolation, IP Commands and crash clean-up are checked on those real flows.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from cellplane.network.dataplane import conntrack
from tests.conftest import Account
from tests.e2e.test_wireless_enforcement import wireless_sim
from tests.support.dataplane import (
    data_plane_status,
    data_plane_unavailable,
    device_shell,
    http_server,
    shell_args,
)
from tests.support.network import USA, eventually, make_fleet, make_sim
from tests.support.server import CLI, Server, free_port, server_env

STARTUP = 90.0  # seconds: this shared machine is sometimes very busy (imports alone took 30 s at load 30)
THROTTLE_RATE = 4_000_000  # bit/s: 500 kB/s, slow enough to measure, fast enough to be quick

REASON = data_plane_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def start_server(data_dir: Path, **extra: str) -> Server:
    env = server_env(
        data_dir,
        None,
        CELLPLANE_DATA_PLANE="on",
        CELLPLANE_GATEWAY_INTERIM_INTERVAL="1",  # the AAA sees usage every second: limits act on live flows
        CELLPLANE_THROTTLE_RATE=str(THROTTLE_RATE),
        **extra,
    )
    server = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    server.start(timeout=STARTUP)
    return server


@pytest.fixture(scope="module")
def dp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("dataplane"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dp_account(dp_server: Server) -> Account:
    created = dp_server.admin("create-account", "--friendly-name", "dataplane")
    return Account(created["account_sid"], created["auth_token"], dp_server)


@pytest.fixture(scope="module")
def host_url(dp_server: Server) -> Iterator[str]:
    """An HTTP server on the host end of the default domain's uplink: all a device reaches by default."""
    status = data_plane_status(dp_server)
    with http_server(status["domains"]["default"]["host_address"]) as url:
        yield url


def super_sim(account: Account) -> Any:
    return make_sim(account, make_fleet(account, [USA]))


def test_curl_in_a_device_shell_reaches_the_host_and_its_bytes_are_usage(
    dp_account: Account, host_url: str, dp_server: Server
) -> None:
    sim = super_sim(dp_account)
    size = 250_000
    done = device_shell(
        dp_server, sim.iccid, "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", f"{host_url}/bytes/{size}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith(str(size)), done.stdout
    assert "wwan0 in cellplane-" in done.stdout

    def usage() -> tuple[int, int]:
        records = dp_account.client().supersim.v1.usage_records.list(sim=sim.sid, granularity="all")
        return sum(int(r.data_upload or 0) for r in records), sum(int(r.data_download or 0) for r in records)

    up, down = eventually(usage, lambda u: u[1] >= size, timeout=10)
    # Inner IP packets both ways: the body plus TCP/IP and HTTP headers, the request and the ACKs up.
    assert size < down < size * 1.1 and 0 < up < size * 0.1, (up, down)
    # A command's exit status is the shell's.
    failed = device_shell(dp_server, sim.iccid, "sh", "-c", "exit 7")
    assert failed.returncode == 7, failed.stdout + failed.stderr


def test_no_way_in_and_no_way_between_devices(dp_account: Account, host_url: str, dp_server: Server) -> None:
    listener, neighbour = super_sim(dp_account), super_sim(dp_account)
    port = 8000
    serving = subprocess.Popen(
        shell_args(dp_server, listener.iccid, sys.executable, "-m", "http.server", str(port)),
        env=dp_server.env,
        cwd=dp_server.data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert serving.stdout is not None
        line = serving.stdout.readline()
        assert " as " in line, line + (serving.stdout.read() if serving.poll() is not None else "")
        address = line.split(" as ")[1].split()[0]
        # From the host: even with a route to the device's address through the uplink, a new connection is refused.
        status = data_plane_status(dp_server)["domains"]["default"]
        inside = str(ipaddress.IPv4Address(status["host_address"]) + 1)
        with IPRoute() as ip:
            index = ip.link_lookup(ifname=status["host_link"])[0]
            ip.route("add", dst=f"{address}/32", gateway=inside, oif=index)  # on our link: goes with it
            try:
                inbound = subprocess.run(
                    ["curl", "-sS", "--max-time", "5", f"http://{address}:{port}/"], capture_output=True, text=True
                )
            finally:
                ip.route("del", dst=f"{address}/32", gateway=inside, oif=index)
        assert inbound.returncode == 7, inbound  # 7: connection refused (a TCP reset from the domain)
        # From another device of the default domain: refused too; its own flow to the host is answered.
        script = (
            f"curl -s -o /dev/null -w 'host=%{{http_code}}' {host_url}/bytes/1000; "
            f'curl -s --max-time 5 -o /dev/null http://{address}:{port}/; echo " peer=$?"'
        )
        done = device_shell(dp_server, neighbour.iccid, "sh", "-c", script)
        assert "host=200 peer=7" in done.stdout, done.stdout + done.stderr
    finally:
        serving.terminate()
        serving.wait(20)


def test_ip_commands_are_byte_exact_with_the_data_plane_on(dp_account: Account, dp_server: Server) -> None:
    sim = super_sim(dp_account)
    payload = bytes(range(256)) * 4
    # The firmware: a real UDP socket on the device's port 6000; it answers each IP Command to 100.64.0.1.
    firmware = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',6000));s.settimeout(20)\n"
        "print('ready',flush=True)\n"
        "data,peer=s.recvfrom(4096)\n"
        "s.sendto(bytes(reversed(data)),('100.64.0.1',6000))\n"
        "print('got',len(data),peer[0],flush=True)\n"
    )
    process = subprocess.Popen(
        shell_args(dp_server, sim.iccid, sys.executable, "-c", firmware),
        env=dp_server.env,
        cwd=dp_server.data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert "ready" in lines[1], lines
        client = dp_account.client()
        client.supersim.v1.ip_commands.create(
            sim=sim.sid, payload=base64.b64encode(payload).decode(), payload_type="binary", device_port=6000
        )
        assert process.wait(30) == 0
        assert "got 1024 100.64.0.1" in process.stdout.read()
        [answer] = eventually(
            lambda: list(client.supersim.v1.ip_commands.list(sim=sim.sid, direction="from_sim")), lambda f: len(f) == 1
        )
        assert base64.b64decode(answer.payload) == bytes(reversed(payload))
    finally:
        if process.poll() is None:
            process.kill()


def test_a_block_limit_stops_a_tcp_download(dp_account: Account, host_url: str, dp_server: Server) -> None:
    sim = wireless_sim(dp_account, "dp-block", data_limit=1, data_limit_strategy="block")  # 1 MB
    # 400 kB/s, paced by the server (curl's --limit-rate once let 2 MB through in one second to catch up): the AAA
    # hears of the usage every second (Interim-Update), so the download overshoots by about that.
    done = device_shell(
        dp_server,
        sim["iccid"],
        "curl",
        "-sS",
        "--speed-limit",
        "1",
        "--speed-time",
        "3",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}\n",
        f"{host_url}/paced/5000000/400000",
        network=USA,  # a Wireless SIM's home network
    )
    sizes = [int(line) for line in done.stdout.splitlines() if line.strip().isdigit()]
    assert done.returncode != 0 and sizes, done.stdout + done.stderr
    got = sizes[-1]
    # The limit, plus what flows until the Disconnect: an Interim-Update a second, the AAA's batch, the Disconnect
    # (seconds of 400 kB/s on a loaded machine, 3.5 s seen with the suite's two workers); far short of the 5 MB asked.
    # The limit counts IP packets both ways (headers, the device's ACKs) and curl the payload only: a Disconnect right
    # at the limit leaves curl about 96% of it (961,232 and 964,496 octets seen, main's code too, at load 8).
    assert 900_000 <= got < 3_000_000, got
    assert "no data session" in done.stdout  # the device saw the network end its session

    def sessions() -> list[dict[str, Any]]:
        response = dp_account.http().get(f"/wireless/v1/Sims/{sim['sid']}/DataSessions")
        return list(response.json()["data_sessions"])

    [session] = eventually(sessions, lambda found: len(found) == 1 and found[0]["end"] is not None, timeout=10)
    assert session["packets_downloaded"] > 0
    usage = dp_account.http().get(f"/wireless/v1/Sims/{sim['sid']}/UsageRecords").json()["usage_records"]
    total = sum(int(record["data"]["download"]) for record in usage)
    assert got <= total < got * 1.1, (got, total)


# A device program with one TCP flow both ways: it sends 1 KiB every 10 ms whatever happens, and says how much it has
# sent and received five times a second.
BOTH_WAYS = """
import socket, sys, threading, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.2)
got = 0
def receive():
    global got
    buffer = bytearray(65536)
    while True:
        try:
            n = s.recv_into(buffer)
        except TimeoutError:
            continue
        except OSError:
            return
        if not n:
            return
        got += n
threading.Thread(target=receive, daemon=True).start()
sent, chunk, said = 0, b"u" * 1024, 0.0
while True:
    try:
        sent += s.send(chunk)
    except TimeoutError:
        pass
    except OSError as error:
        print("error", error, flush=True)
    if time.monotonic() - said > 0.2:
        said = time.monotonic()
        print(f"sent={sent} got={got}", flush=True)
    time.sleep(0.01)
"""


class FlowServer:
    """A TCP server on the host end of the uplink: counts what each connection sends it, and sends 1 KiB every
    10 ms back until the connection fails."""

    def __init__(self, address: str) -> None:
        self.listener = socket.create_server((address, 0))
        self.port = self.listener.getsockname()[1]
        self.received = 0
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()
            threading.Thread(target=self._write, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        while True:
            try:
                data = connection.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received += len(data)

    def _write(self, connection: socket.socket) -> None:
        connection.settimeout(0.2)
        while True:
            try:
                connection.send(b"d" * 1024)
            except TimeoutError:
                pass
            except OSError:
                return
            time.sleep(0.01)

    def close(self) -> None:
        self.listener.close()


def test_a_disconnect_ends_the_sessions_tcp_flows(dp_account: Account, dp_server: Server) -> None:
    """A connectivity reset (a Disconnect-Request; the device attaches again, with the same address): the TCP flow
    of the old session passes no more bytes either way although both ends keep sending, and its conntrack entry is
    gone from the domain (the entry is what would carry it on: the address and masqueraded port are the same)."""
    domain = data_plane_status(dp_server)["domains"]["default"]
    server = FlowServer(domain["host_address"])
    sim = wireless_sim(dp_account, "dp-reset")
    peer = (domain["host_address"], str(server.port))
    process = subprocess.Popen(
        shell_args(dp_server, sim["iccid"], sys.executable, "-c", BOTH_WAYS, *peer, network=USA),
        env=dp_server.env,
        cwd=dp_server.data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.strip())

    threading.Thread(target=read, daemon=True).start()

    def device_got() -> int:
        counts = [line for line in lines if line.startswith("sent=")]
        return int(counts[-1].split("got=")[1]) if counts else 0

    try:
        eventually(lambda: (server.received, device_got()), lambda c: min(c) > 20_000, timeout=30)
        [attached] = [line for line in lines if " attached on " in line]
        address = attached.split(" as ")[1].split()[0]
        flows = conntrack.flows(domain["namespace"], address)
        assert any(flow[4] == server.port for flow in flows), flows

        client = dp_account.client()
        client.wireless.v1.sims(sim["sid"]).update(reset_status="resetting")
        eventually(lambda: list(lines), lambda seen: any("data session again" in line for line in seen), timeout=30)
        [again] = [line for line in lines if "data session again" in line]
        assert again.endswith(f"as {address}"), again  # the same address: only the flush stands in the old flow's way
        time.sleep(1.0)  # what was in flight when the session ended
        up, down = server.received, device_got()
        time.sleep(4.0)  # TCP retransmits meanwhile, and both programs keep writing
        assert (server.received, device_got()) == (up, down), lines[-3:]
        assert process.poll() is None, lines  # the device program is still running, and still sending
        assert not [flow for flow in conntrack.flows(domain["namespace"], address) if flow[4] == server.port]
    finally:
        process.terminate()
        process.wait(20)
        server.close()


MEASURE = """
import socket, sys, time
host, port = sys.argv[1].split("//")[1].split("/")[0].split(":")
s = socket.create_connection((host, int(port)))
s.sendall(b"GET /stream/9 HTTP/1.0\\r\\n\\r\\n")
buffer = bytearray(65536)
start = time.monotonic()
counted, marks = 0, {}
while True:
    n = s.recv_into(buffer)
    if not n:
        break
    counted += n
    second = int(time.monotonic() - start)
    marks[second] = counted
print(" ".join(f"{k}:{v}" for k, v in sorted(marks.items())))
"""


def test_a_throttle_plan_holds_a_tcp_flow_to_the_throttle_rate(
    dp_account: Account, host_url: str, dp_server: Server
) -> None:
    sim = wireless_sim(dp_account, "dp-throttle", data_limit=1, data_limit_strategy="throttle")  # 1 MB
    done = device_shell(dp_server, sim["iccid"], sys.executable, "-c", MEASURE, host_url, timeout=60, network=USA)
    assert done.returncode == 0, done.stdout + done.stderr
    marks = dict(
        tuple(map(int, pair.split(":"))) for pair in done.stdout.split() if pair.count(":") == 1 and pair[0].isdigit()
    )
    # Unthrottled at first (past 1 MB within a second or two); the CoA comes at the next Interim-Update; from then
    # on the policer holds it. Measured over the last five whole seconds, in payload octets (the policer counts IP
    # packets, 52 octets more per 1448 of TCP payload).
    last = max(marks)
    rate = (marks[last - 1] - marks[last - 6]) / 5 * 8
    expected = THROTTLE_RATE * 1448 / 1500
    assert marks[1] > 1_000_000, marks
    assert abs(rate - expected) / expected < 0.10, (rate, marks)


def host_state() -> dict[str, set[str]]:
    """The host's namespaces, links, addresses, routes and nftables tables that are cellplane's."""
    from pyroute2 import netns

    with IPRoute() as ip:
        links = {link.get("ifname") for link in ip.get_links() if str(link.get("ifname")).startswith("cellplane-")}
        addresses = {
            f"{a.get('address')}/{a['prefixlen']}"
            for a in ip.get_addr(family=2)
            if a.get("address", "").startswith("198.1")
        }
        routes = {
            f"{r.get('dst')}/{r['dst_len']}"
            for r in ip.get_routes(family=2)
            if str(r.get("dst", "")).startswith("198.1")
        }
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {
        "namespaces": {n for n in netns.listnetns() if n.startswith("cellplane-")},
        "links": links,
        "addresses": addresses,
        "routes": routes,
        "tables": {line for line in tables.splitlines() if "cellplane" in line},
    }


def test_a_killed_platform_leaves_nothing_behind_after_its_restart(
    tmp_path: Path, dp_account: Account, dp_server: Server
) -> None:
    server = start_server(tmp_path)
    try:
        old = data_plane_status(server)
        domain = old["domains"]["default"]
        before = host_state()
        assert domain["namespace"] in before["namespaces"] and domain["host_link"] in before["links"]
        assert f"{domain['host_address']}/30" in before["addresses"]
        server.stop(kill=True)  # kill -9: nothing of the stop runs
        left = host_state()
        assert domain["namespace"] in left["namespaces"] and domain["host_link"] in left["links"]

        server.start(timeout=STARTUP)
        new = data_plane_status(server)
        after = host_state()
        assert domain["namespace"] not in after["namespaces"]
        assert domain["host_link"] not in after["links"]
        old_link = ipaddress.IPv4Network(old["link_subnet"])
        mine = ipaddress.IPv4Network(new["link_subnet"])
        for address in after["addresses"] | after["routes"]:
            network = ipaddress.IPv4Network(address, strict=False)
            assert not network.overlaps(old_link) or network.overlaps(mine), (address, after)
        assert not any(old["instance"] in table for table in after["tables"])
        assert new["domains"]["default"]["namespace"] in after["namespaces"]

        # Sessions attach again, and carry traffic.
        created = server.admin("create-account", "--friendly-name", "restart")
        account = Account(created["account_sid"], created["auth_token"], server)
        sim = super_sim(account)
        with http_server(new["domains"]["default"]["host_address"]) as url:
            done = device_shell(
                server, sim.iccid, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"{url}/bytes/100"
            )
        assert done.returncode == 0 and done.stdout.strip().endswith("200"), done.stdout + done.stderr
    finally:
        server.stop()
    gone = host_state()
    assert new["domains"]["default"]["namespace"] not in gone["namespaces"]
    assert new["domains"]["default"]["host_link"] not in gone["links"]


def test_without_cap_net_admin_the_platform_runs_with_the_data_plane_off(tmp_path: Path) -> None:
    # auto, the default of `cellplane up` (test servers otherwise run without a data plane): it finds no CAP_NET_ADMIN.
    env = server_env(tmp_path, None, CELLPLANE_EMULATOR_ENABLED="true", CELLPLANE_DATA_PLANE="auto")
    server = Server(backend="sqlite", data_dir=tmp_path, port=free_port(), env=env)
    import tests.support.server as support

    original = support.CLI
    support.CLI = ["setpriv", "--bounding-set", "-net_admin", "--", *original]
    try:
        server.start(timeout=STARTUP)
    finally:
        support.CLI = original
    try:
        status = data_plane_status(server)
        assert status["status"] == "off" and "CAP_NET_ADMIN" in status["reason"], status
        assert "CAP_NET_ADMIN" in status["how_to_enable"]
        assert "data plane     off: the process lacks CAP_NET_ADMIN" in server.log()
        created = server.admin("create-account", "--friendly-name", "nocap")
        account = Account(created["account_sid"], created["auth_token"], server)
        sim = super_sim(account)
        from tests.support.network import EMULATOR, Devices

        devices = Devices(account)
        devices.attach(sim.iccid)
        opened = devices.http.post(f"{EMULATOR}/Devices/{sim.iccid}/Apps", data={"App": "log", "DevicePort": "6000"})
        assert opened.status_code == 201, opened.text
        payload = bytes(range(200))
        account.client().supersim.v1.ip_commands.create(
            sim=sim.sid, payload=base64.b64encode(payload).decode(), payload_type="binary", device_port=6000
        )

        def received() -> list[dict[str, Any]]:
            body = devices.http.get(f"{EMULATOR}/Devices/{sim.iccid}/Apps/6000/Datagrams").json()
            return list(body["datagrams"])

        [datagram] = eventually(received, lambda found: len(found) == 1)
        assert base64.b64decode(datagram["payload"]) == payload
    finally:
        server.stop()
    # CELLPLANE_DATA_PLANE=on insists: without the capability the platform does not start, and says why.
    insisted = subprocess.run(
        ["setpriv", "--bounding-set", "-net_admin", "--", *CLI, "up", "--port", str(free_port())],
        env={**env, "CELLPLANE_DATA_PLANE": "on"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=STARTUP,
    )
    assert insisted.returncode == 2, insisted.stdout + insisted.stderr
    assert "CELLPLANE_DATA_PLANE=on, but the process lacks CAP_NET_ADMIN" in insisted.stderr
