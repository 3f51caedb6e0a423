"""`cellplane admin provision-sims --from-csv`: an operator's SIM list, all or nothing."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import httpx

from cellplane.domain.iccid import make_iccid
from tests.conftest import Account
from tests.support.server import CLI, Server


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["iccid", "imsi", "registration_code"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def operator_rows(count: int, start: int) -> list[dict[str, str]]:
    return [
        {"iccid": make_iccid("88307", start + n), "imsi": f"90153{start + n:010d}", "registration_code": f"RC{n:06d}"}
        for n in range(count)
    ]


def run_import(server: Server, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "admin", "provision-sims", "--from-csv", str(path)],
        env=server.env,
        capture_output=True,
        text=True,
        cwd=server.data_dir,
    )


def test_csv_import_makes_claimable_sims(server: Server, account: Account, tmp_path: Path) -> None:
    rows = operator_rows(2000, start=770_000_000)
    result = run_import(server, write_csv(tmp_path / "sims.csv", rows))
    assert result.returncode == 0, result.stderr
    assert "provisioned 2000 supersim SIMs" in result.stdout
    sim = account.client().supersim.v1.sims.create(iccid=rows[1234]["iccid"], registration_code="RC001234")
    assert sim.iccid == rows[1234]["iccid"]


def test_a_bad_row_imports_nothing(server: Server, tmp_path: Path) -> None:
    rows = operator_rows(50, start=771_000_000)
    rows[30]["iccid"] = rows[30]["iccid"][:-1] + str((int(rows[30]["iccid"][-1]) + 1) % 10)  # breaks the Luhn digit
    result = run_import(server, write_csv(tmp_path / "bad.csv", rows))
    assert result.returncode == 2
    assert "line 32" in result.stderr and "not a valid ICCID" in result.stderr
    token = server.env["CELLPLANE_ADMIN_TOKEN"]
    first = httpx.get(f"{server.base_url}/admin/v1/Sims/{rows[0]['iccid']}", auth=("admin", token))
    assert first.status_code == 404


def test_duplicates_of_the_inventory_are_refused(server: Server, tmp_path: Path) -> None:
    rows = operator_rows(10, start=772_000_000)
    assert run_import(server, write_csv(tmp_path / "once.csv", rows)).returncode == 0
    again = run_import(server, write_csv(tmp_path / "twice.csv", operator_rows(5, start=772_000_008)))
    assert again.returncode == 2 and "already in the inventory" in again.stderr
