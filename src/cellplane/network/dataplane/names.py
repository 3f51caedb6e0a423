"""Names of what the data plane makes on the host, who owns them, and removing what a dead owner left.

Every namespace is `cellplane-<instance>-<what>`; host links (15 characters at most, IFNAMSIZ) are `cellplane-` and
five random characters, with the full `cellplane-<instance>-<what>` in their alias (IFLA_IFALIAS), so they are
found by instance too. An instance writes `/run/cellplane/<instance>.pid` before it makes anything: a namespace or
link whose instance has no such file, or whose process is gone, is a crash's leftover and any instance removes it.
Addresses and routes live on those links and go with them; nftables tables live in the namespaces.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import string
import subprocess
from pathlib import Path

from .netlink import IPRoute, netns

log = logging.getLogger("cellplane.dataplane")

PREFIX = "cellplane-"
RUN_DIR = Path("/run/cellplane")
_ALPHABET = string.ascii_lowercase + string.digits


def netns_name(instance: str, what: str) -> str:
    return f"{PREFIX}{instance}-{what}"


def link_name() -> str:
    """A host link name that fits IFNAMSIZ: `cellplane-` and five random characters."""
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(5))


def instance_of(name: str) -> str | None:
    """The instance in `cellplane-<instance>-...`, or None for a name that is not ours."""
    if not name.startswith(PREFIX):
        return None
    rest = name[len(PREFIX) :]
    instance, sep, _ = rest.partition("-")
    return instance if sep and instance else None


def _owner_file(instance: str) -> Path:
    return RUN_DIR / f"{instance}.pid"


def claim(instance: str) -> None:
    """Say this process owns `instance` (before anything of it exists)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    _owner_file(instance).write_text(f"{os.getpid()}\n")


def release(instance: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _owner_file(instance).unlink()


def owner_alive(instance: str) -> bool:
    """Whether the process that claimed `instance` still runs (a missing or unreadable file: it does not)."""
    try:
        pid = int(_owner_file(instance).read_text().strip())
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(name: str | None, instance: str) -> bool:
    return (
        name is not None
        and instance_of(name) is not None
        and (instance_of(name) == instance or not owner_alive(instance_of(name) or ""))
    )


def sweep(instance: str) -> list[str]:
    """Remove the namespaces and links of `instance` and of every instance whose owner is gone; returns their names.
    Live instances of other processes are never touched."""
    removed: list[str] = []
    for name in netns.listnetns():
        if _ours(name, instance):
            with contextlib.suppress(OSError):
                netns.remove(name)
                removed.append(name)
    with IPRoute() as ip:
        for link in ip.get_links():
            ifname = link.get("ifname") or ""
            alias = link.get("ifalias")
            if ifname.startswith(PREFIX) and _ours(alias, instance):
                with contextlib.suppress(Exception):
                    ip.link("del", index=link["index"])
                    removed.append(ifname)
    removed += _sweep_host_tables(instance)
    for path in RUN_DIR.glob("*.pid") if RUN_DIR.exists() else []:
        if path.stem != instance and not owner_alive(path.stem):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if removed:
        log.warning("removed data plane leftovers: %s", ", ".join(removed))
    return removed


def _sweep_host_tables(instance: str) -> list[str]:
    """The host's nftables tables `cellplane-<instance>` (made only with CELLPLANE_DATA_PLANE_INTERNET) of dead or
    own instances."""
    try:
        listed = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, check=True, timeout=10).stdout
        tables = [item["table"] for item in json.loads(listed)["nftables"] if "table" in item]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return []
    removed = []
    for table in tables:
        name = table.get("name", "")
        if name.startswith(PREFIX) and _ours(name + "-", instance):
            done = subprocess.run(["nft", "delete", "table", table["family"], name], capture_output=True, timeout=10)
            if done.returncode == 0:
                removed.append(f"nft table {name}")
    return removed
