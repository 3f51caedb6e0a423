"""nftables through its own JSON interface (libnftables-json(5)): each change is one `nft -j -f -` transaction, run in
the namespace it is for, so a ruleset is applied whole or not at all.

The Debian binding (python3-nftables) is not installable into a virtual environment; the `nft` program reads the
same JSON, so it is given the document on its standard input (`nsenter --net` puts it in the namespace).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from typing import Any

from pyroute2.netns import NETNS_RUN_DIR  # type: ignore[import-untyped]

Command = dict[str, Any]


class NftError(RuntimeError):
    """nft refused a transaction: nothing of it was applied."""


def nft_available() -> bool:
    return shutil.which("nft") is not None and shutil.which("nsenter") is not None


async def run_in(namespace: str, argv: list[str], stdin: bytes | None = None) -> bytes:
    """Run a program in the network namespace `namespace`; its output, or NftError with what it said."""
    # A thread with subprocess.run, not the loop's subprocess API: uvloop hands a child a socketpair as its stdin,
    # and `nft -f -` opens /dev/stdin, which a socket cannot be (ENXIO).
    done = await asyncio.to_thread(
        subprocess.run,
        ["nsenter", f"--net={NETNS_RUN_DIR}/{namespace}", "--", *argv],
        input=stdin,
        capture_output=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise NftError(f"{' '.join(argv)} in {namespace}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


async def transaction(namespace: str, commands: list[Command]) -> None:
    """Apply `commands` (libnftables-json objects: add, delete, flush ...) atomically in `namespace`."""
    document = json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}, *commands]}).encode()
    await run_in(namespace, ["nft", "-j", "-f", "-"], document)


async def ruleset(namespace: str) -> dict[str, Any]:
    """The namespace's whole ruleset, as nft lists it in JSON."""
    listed: dict[str, Any] = json.loads(await run_in(namespace, ["nft", "-j", "list", "ruleset"]))
    return listed


# --- expression builders (libnftables-json(5)) ---------------------------------------------------------------


def match(left: Any, right: Any, op: str = "==") -> Command:
    return {"match": {"op": op, "left": left, "right": right}}


def meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


def payload(protocol: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": protocol, "field": field}}


def ct_state(*states: str) -> Command:
    return match({"ct": {"key": "state"}}, {"set": list(states)} if len(states) > 1 else states[0], "in")


def prefix(network: str) -> dict[str, Any]:
    address, _, length = network.partition("/")
    return {"prefix": {"addr": address, "len": int(length or 32)}}


def rule(family: str, table: str, chain: str, *expr: Command, comment: str | None = None) -> Command:
    body: dict[str, Any] = {"family": family, "table": table, "chain": chain, "expr": list(expr)}
    if comment:
        body["comment"] = comment
    return {"add": {"rule": body}}
