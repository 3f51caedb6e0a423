"""A real browser for the console's tests: Debian's Chromium (installed with apt-get when root), driven by
Playwright for Python against that binary (Playwright's own browser downloads are never used), and axe-core from
npm for accessibility checks. Each piece skips the test with its reason when it cannot be had."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.support.system_packages import install as install_packages

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts" / "console"
AXE_VERSION = "4"


def chromium_path() -> str:
    """Debian's chromium, installed on the spot when we are root; otherwise the test is skipped visibly."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and we are not root to apt-get install chromium chromium-driver")
    install_packages("chromium", "chromium-driver")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium could not be installed (apt-get install chromium chromium-driver failed)")
    return CHROMIUM


def axe_source() -> str:
    """axe.min.js of the npm package axe-core, fetched with `npm pack` into a temporary folder."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: axe-core cannot be fetched")
    with tempfile.TemporaryDirectory(prefix="cellplane-axe-") as folder:
        result = subprocess.run(
            [npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        packed = [name for name in os.listdir(folder) if name.endswith(".tgz")]
        if result.returncode != 0 or not packed:
            pytest.skip(f"npm pack axe-core failed: {result.stderr.strip()[:300]}")
        with tarfile.open(Path(folder) / packed[0]) as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None, "axe-core's package has no axe.min.js"
            return member.read().decode()
