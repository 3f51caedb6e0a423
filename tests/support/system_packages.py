"""Debian packages the tests need (radclient, nft, chromium, patroni, ...), installed on the spot when we may.

One function for every test that needs a system tool, so that tests running side by side (pytest-xdist workers,
two checkouts) never race for dpkg's lock: installs are serialised by a file lock, and apt itself waits for a
lock held by anything else. A failed install is not an error here: the caller checks for its tool and skips with
a visible reason.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

LOCK = Path("/tmp/cellplane-tests-apt.lock")
APT = ["apt-get", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600"]


def may_install() -> bool:
    """Root may; so may CI with password-less sudo (the radclient tests have always done so)."""
    return os.geteuid() == 0 or os.environ.get("CI") == "true"


def install(*packages: str, recommends: bool = True, timeout: float = 900) -> bool:
    """apt-get install `packages` (an update first only when the plain install fails); True when apt succeeded."""
    if not may_install():
        return False
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_command = [*prefix, *APT, "install", *([] if recommends else ["--no-install-recommends"]), *packages]
    try:
        with LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _run(install_command, env, timeout):
                return True
            _run([*prefix, *APT, "update"], env, timeout)
            return _run(install_command, env, timeout)
    except OSError:
        return False


def _run(command: list[str], env: dict[str, str], timeout: float) -> bool:
    try:
        return subprocess.run(command, env=env, capture_output=True, timeout=timeout, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
