"""`cellplane emulator run`: the emulated network as its own process against the running platform's gateway (GTP
only), attaching every SIM of a CSV file, making traffic, serving the control API with a token, and detaching every
device on Ctrl-C so that the platform sees the sessions end with their exact usage.
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path

import httpx

from tests.conftest import Account
from tests.support.network import EMULATOR, USA, Process, Sim, eventually, make_fleet, make_sim
from tests.support.server import Server, free_port


def sims_file(tmp_path: Path, sims: list[Sim]) -> Path:
    path = tmp_path / "sims.csv"
    path.write_text("iccid,imsi\n" + "".join(f"{sim.iccid},{sim.imsi}\n" for sim in sims))
    return path


def uploaded(account: Account, sim: Sim) -> int:
    params = {"Sim": sim.sid, "Granularity": "all"}
    records = account.http().get("/supersim/v1/UsageRecords", params=params).json()["usage_records"]
    return sum(record["data_upload"] for record in records)


def test_run_once_attaches_every_sim_sends_and_detaches(account: Account, server: Server, tmp_path: Path) -> None:
    fleet = make_fleet(account, [USA])
    sims = [make_sim(account, fleet) for _ in range(3)]
    run = Process(
        ["emulator", "run", "--sims", str(sims_file(tmp_path, sims)), "--traffic", "4000:0", "--once"], server
    )
    try:
        status = run.popen.wait(90)
    finally:
        run.close()
    run._reader.join(5)

    assert status == 0, run.output
    assert "attached" in run.output and "detaching" in run.output
    for sim in sims:  # detached at exit: the Accounting Stop carries each device's usage
        assert eventually(functools.partial(uploaded, account, sim), lambda total: total == 4000) == 4000


def test_run_serves_the_control_api_until_ctrl_c(account: Account, server: Server, tmp_path: Path) -> None:
    sim = make_sim(account, make_fleet(account, [USA]))
    port = free_port(socket.SOCK_STREAM)
    args = ["emulator", "run", "--sims", str(sims_file(tmp_path, [sim])), "--api", f"127.0.0.1:{port}"]
    run = Process([*args, "--token", "s3cret", "--retries", "5"], server)
    try:
        run.wait_for("Ctrl-C")
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}{EMULATOR}", headers={"Authorization": "Bearer s3cret"})

        [device] = api.get("/Devices").json()["devices"]
        made = api.post(f"/Devices/{sim.iccid}/Traffic", data={"UploadBytes": "3000"}).json()
        no_downlink = api.post(f"/Devices/{sim.iccid}/Traffic", data={"DownloadBytes": "3000"})
        basic = httpx.get(f"http://127.0.0.1:{port}{EMULATOR}/Devices/{sim.iccid}", auth=("anyone", "s3cret"))
        anonymous = httpx.get(f"http://127.0.0.1:{port}{EMULATOR}/Devices")
        unknown = api.get("/Devices/89000000000000000000")

        assert (device["iccid"], device["state"], device["network"]) == (sim.iccid, "attached", USA)
        assert made["upload_bytes"] == 3000
        assert no_downlink.status_code == 409 and "downlink" in no_downlink.json()["message"]
        assert basic.status_code == 200 and basic.json()["usage"]["up_bytes"] == 3000
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
        assert (unknown.status_code, unknown.json()["code"]) == (404, 20404)
        assert run.interrupt() == 0
        assert eventually(lambda: uploaded(account, sim), lambda total: total == 3000) == 3000
    finally:
        run.close()
