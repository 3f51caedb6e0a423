"""docs/alerts.yml (issue 14, finding 8): promtool accepts it (installed on the fly as root: Debian's
`prometheus` package ships it), and every rule is well formed and alerts on metrics cellplane really serves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import cellplane.network.aaa.metrics
import cellplane.network.gateway.metrics
import cellplane.services.metrics  # noqa: F401  (registers the families)
from tests.support.system_packages import install as install_packages

RULES = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"
SEVERITIES = {"info", "warning", "critical"}


def promtool() -> str | None:
    found = shutil.which("promtool")
    if found or os.geteuid() != 0:
        return found
    install_packages("prometheus", recommends=False)
    return shutil.which("promtool")


def test_promtool_accepts_the_rules() -> None:
    binary = promtool()
    if binary is None:
        pytest.skip("promtool is not installed and could not be (apt-get install prometheus needs root)")
    checked = subprocess.run([binary, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def served_names() -> set[str]:
    """Every sample name the process's registry can expose (histograms with _bucket/_sum/_count)."""
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ())
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_every_rule_is_well_formed_and_uses_served_metrics() -> None:
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    alerts = {rule["alert"] for rule in rules}
    # What the issue asks to alert on: callbacks failing, commands failing, queues backing up.
    assert {"CellplaneCallbacksFailing", "CellplaneCommandsFailing", "CellplaneJobsBackingUp"} <= alerts
    served = served_names()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        used = set(re.findall(r"\b(cellplane_[a-z_]+)", rule["expr"]))
        assert used, rule["alert"]
        assert used <= served, f"{rule['alert']} names metrics cellplane does not serve: {used - served}"
