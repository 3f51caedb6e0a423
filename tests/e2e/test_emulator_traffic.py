"""`cellplane emulator run --traffic URL`, as root: each emulated device runs a real client (HTTP, UDP, MQTT) from a
network namespace of its own, its packets in GTP-U through the platform's gateway and default routing domain to
servers on the host end of the uplink, and the bytes are the SIMs' usage."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Account
from tests.e2e.test_data_plane import start_server
from tests.support.dataplane import data_plane_status, data_plane_unavailable, http_server
from tests.support.network import USA, Process, Sim, eventually, make_fleet, make_sim
from tests.support.server import CLI, Server, free_port

REASON = data_plane_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def tp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("traffic"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tp_account(tp_server: Server) -> Account:
    created = tp_server.admin("create-account", "--friendly-name", "traffic")
    return Account(created["account_sid"], created["auth_token"], tp_server)


def host_address(server: Server) -> str:
    return str(data_plane_status(server)["domains"]["default"]["host_address"])


def sims_file(tmp_path: Path, sims: list[tuple[Sim, str]]) -> Path:
    path = tmp_path / "sims.csv"
    path.write_text("iccid,imsi,imei,kind\n" + "".join(f"{s.iccid},{s.imsi},,{kind}\n" for s, kind in sims))
    return path


def usage(account: Account, sim: Sim) -> tuple[int, int]:
    params = {"Sim": sim.sid, "Granularity": "all"}
    records = account.http().get("/supersim/v1/UsageRecords", params=params).json()["usage_records"]
    return sum(r["data_upload"] for r in records), sum(r["data_download"] for r in records)


class UdpEcho:
    """A UDP echo server on the host end of the uplink that notes who sent what."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[tuple[str, int]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            self.received.append((peer[0], len(data)))
            self.sock.sendto(data, peer)

    def close(self) -> None:
        self.sock.close()


def run_once(server: Server, sims: Path, *traffic: str) -> Process:
    args = ["emulator", "run", "--sims", str(sims), "--network", USA, "--once"]
    for spec in traffic:
        args += ["--traffic", spec]
    run = Process(args, server)
    try:
        status = run.popen.wait(120)
    finally:
        run.close()
    run._reader.join(5)
    assert status == 0, run.output
    return run


def test_http_and_udp_models_run_from_each_devices_namespace_and_count_as_usage(
    tp_account: Account, tp_server: Server, tmp_path: Path
) -> None:
    fleet = make_fleet(tp_account, [USA])
    web, meter, plain = (make_sim(tp_account, fleet) for _ in range(3))
    sims = sims_file(tmp_path, [(web, "web"), (meter, "meter"), (plain, "")])
    address = host_address(tp_server)
    echo = UdpEcho(address)
    try:
        with http_server(address) as url:
            run = run_once(
                tp_server,
                sims,
                f"web={url}/bytes/40000",
                f"meter=udp://{address}:{echo.port}?size=500&count=10",
                "3000:0",  # every device: synthetic uplink octets, as before
            )
    finally:
        echo.close()
    assert f"traffic {url}/bytes/40000: 1/1 devices, 40,000 payload bytes" in run.output, run.output
    assert f"traffic udp://{address}:{echo.port}?size=500&count=10: 1/1 devices, 10,000 payload bytes" in run.output
    # The datagrams came from the routing domain's side of the uplink (the device's address masqueraded), 500 octets.
    inside = str(ipaddress.IPv4Address(address) + 1)
    assert echo.received == [(inside, 500)] * 10, echo.received

    def settled(sim: Sim, expected: Any) -> tuple[int, int]:
        return eventually(lambda: usage(tp_account, sim), expected, timeout=20)

    up, down = settled(web, lambda u: u[1] >= 40_000)
    assert 40_000 < down < 44_000 and 3000 < up < 6000, (up, down)  # TCP/IP and HTTP headers, the ACKs up
    up, down = settled(meter, lambda u: u[0] >= 3000 + 5280)
    assert (up, down) == (3000 + 10 * 528, 10 * 528), (up, down)  # 500 octets + 8 UDP + 20 IP, each way
    assert settled(plain, lambda u: u[0] >= 3000) == (3000, 0)


MQTT_CONFIG = "listener {port} {address}\nallow_anonymous true\npersistence false\nlog_dest stdout\nlog_type all\n"


@pytest.fixture
def broker(tp_server: Server, tmp_path: Path) -> Iterator[tuple[str, int, subprocess.Popen[str]]]:
    """A Mosquitto broker of the test's own on the host end of the uplink (the host's, if any, is on 127.0.0.1)."""
    program = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if program is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto): the MQTT model is not exercised")
    address, port = host_address(tp_server), free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(MQTT_CONFIG.format(port=port, address=address))
    argv = [program, "-c", str(config)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((address, port)) == 0:
                    break
            time.sleep(0.1)
        yield address, port, process
    finally:
        process.terminate()
        process.wait(10)


def test_an_mqtt_model_publishes_through_the_data_plane(
    tp_account: Account, tp_server: Server, tmp_path: Path, broker: tuple[str, int, subprocess.Popen[str]]
) -> None:
    address, port, process = broker
    sim = make_sim(tp_account, make_fleet(tp_account, [USA]))
    run = run_once(
        tp_server, sims_file(tmp_path, [(sim, "sensor")]), f"sensor=mqtt://{address}:{port}/fleet/t1?size=300&count=5"
    )
    assert f"traffic mqtt://{address}:{port}/fleet/t1?size=300&count=5: 1/1 devices, 1,500 payload bytes" in run.output
    process.terminate()
    log = process.communicate(timeout=10)[0]
    assert log.count("Received PUBLISH") >= 5 and "fleet/t1" in log, log
    up, _down = eventually(lambda: usage(tp_account, sim), lambda u: u[0] >= 1500, timeout=20)
    assert 1500 < up < 4000, up


def test_url_traffic_without_cap_net_admin_says_what_it_needs(tp_server: Server, tmp_path: Path) -> None:
    sims = tmp_path / "sims.csv"
    sims.write_text("8988307000000000061,310260000000061\n")
    args = ["emulator", "run", "--sims", str(sims), "--once", "--traffic", "udp://198.18.0.1:9000"]
    done = subprocess.run(
        ["setpriv", "--bounding-set", "-net_admin", "--", *CLI, *args],
        env=tp_server.env,
        cwd=tp_server.data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 77, done.stdout + done.stderr
    assert "--traffic URL needs root (CAP_NET_ADMIN)" in done.stderr
    bad = subprocess.run(
        [*CLI, *args[:-1], "gopher://198.18.0.1:70/"],
        env={**tp_server.env, "COLUMNS": "300"},  # rich wraps the error box at the terminal's width
        cwd=tp_server.data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--traffic" in bad.stderr and "the scheme must be one of" in bad.stderr, bad.stderr
