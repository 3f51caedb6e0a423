"""Reporting for bench/api.py: the machine, per-scenario summaries, ratios vs references, RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench/api.py: generated results begin -->"
END = "<!-- bench/api.py: generated results end -->"
# Targets from issue 2: GET one SIM >= 4x Prism and >= 70% of the bare handler; a deep page's
# latency within 20% of the first page's.
TARGET_VS_PRISM, TARGET_VS_BARE, TARGET_DEEP_SLOWDOWN = 4.0, 0.70, 1.20
LABELS = {
    "prism_logged_get": "Prism mock, default logging: GET /v1/Sims/{Sid} (reference)",
    "prism_get": "Prism mock, `-v error`: GET /v1/Sims/{Sid} (reference)",
    "bare_get": "bare FastAPI: one row (reference)",
    "get": "cellplane GET /Sims/{Sid}",
    "list_first": "cellplane GET /Sims first page (50)",
    "list_deep": "cellplane GET /Sims page 1000 (~50,000 in)",
    "claim": "cellplane POST /Sims (claim)",
}


def machine(prism_package: Path) -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    prism = json.loads(prism_package.read_text())["version"] if prism_package.exists() else "?"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout or wrk.stderr).split(" [")[0].strip(),
        "prism": prism,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over repeats (and the spread of throughput); latencies in milliseconds."""
    rps = [r["rps"] for r in runs]
    return {
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
        "p99_ms": statistics.median(r["p99_us"] for r in runs) / 1000,
        "cpu_us": statistics.median(r["cpu_us_per_request"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "repeats": len(runs),
    }


def _ratio(runs: dict[str, list[dict[str, Any]]], a: str, b: str, metric: str = "rps") -> float:
    """Median over repeats of a/b taken within each repeat: runs of one repeat ran back to back, so
    a change in the machine's other load (it is shared) moves both sides together."""
    return statistics.median(x[metric] / y[metric] for x, y in zip(runs[a], runs[b], strict=True))


def verdicts(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    vs_prism, vs_bare = _ratio(runs, "get", "prism_get"), _ratio(runs, "get", "bare_get")
    vs_logged = _ratio(runs, "get", "prism_logged_get")
    deep = _ratio(runs, "list_deep", "list_first", "p50_us")
    return {
        "get_vs_prism": vs_prism,
        "get_vs_prism_logged": vs_logged,
        "met_vs_prism_logged": vs_logged >= TARGET_VS_PRISM,
        "get_vs_bare": vs_bare,
        "get_vs_bare_cpu": _ratio(runs, "bare_get", "get", "cpu_us_per_request"),
        "deep_vs_first_p50": deep,
        "deep_vs_first_rps": _ratio(runs, "list_deep", "list_first"),
        "met_vs_prism": vs_prism >= TARGET_VS_PRISM,
        "met_vs_bare": vs_bare >= TARGET_VS_BARE,
        "met_deep": deep <= TARGET_DEEP_SLOWDOWN,
    }


def _ok(met: bool) -> str:
    return "met" if met else "**missed**"


def markdown(result: dict[str, Any]) -> str:
    m, opts = result["machine"], result["options"]
    lines = [
        f"### Last run: {m['date']}",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}, {result.get('postgres', 'PostgreSQL not run')}, "
        f"{m['wrk']}, Prism {m['prism']}.",
        f"Load: wrk -t1 -c{opts['connections']}, {opts['repeats']} x {opts['duration']:g} s per scenario "
        f"(interleaved, after a {opts['warmup']:g} s warm-up); "
        + ("no CPU pinning. " if opts.get("no_pin") else "servers pinned to CPU 0, wrk to CPU 1. ")
        + f"{opts['sims']:,} SIMs claimed by the account.",
        "",
        f"Load average (1/5/15 min) at start {result['load_start']}, at end {result['load_end']}: "
        "the machine is shared, so compare ratios (taken within each repeat) more than absolute req/s.",
        "",
        "| scenario | backend | req/s (median) | req/s range | p50 ms | p99 ms | server CPU us/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, data in result["backends"].items():
        for key, s in data["summary"].items():
            lines.append(
                f"| {LABELS[key]} | {backend} | {s['rps']:,.0f} | {s['rps_min']:,.0f}-{s['rps_max']:,.0f} "
                f"| {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['cpu_us']:,.0f} | {s['errors']} |"
            )
    lines += [
        "",
        "| backend | GET vs Prism `-v error` (target >= 4x) | GET vs Prism default logging (target >= 4x) "
        "| GET vs bare (target >= 70%) | GET vs bare, CPU per request "
        "| deep page p50 / first page p50 (target <= 1.20) |",
        "|---|---|---|---|---|---|",
    ]
    for backend, data in result["backends"].items():
        v = data["verdicts"]
        lines.append(
            f"| {backend} | {v['get_vs_prism']:.1f}x ({_ok(v['met_vs_prism'])}) "
            f"| {v['get_vs_prism_logged']:.1f}x ({_ok(v['met_vs_prism_logged'])}) "
            f"| {100 * v['get_vs_bare']:.0f}% ({_ok(v['met_vs_bare'])}) | {100 * v['get_vs_bare_cpu']:.0f}% "
            f"| {v['deep_vs_first_p50']:.2f} ({_ok(v['met_deep'])}; req/s ratio {v['deep_vs_first_rps']:.2f}) |"
        )
    for backend, data in result["backends"].items():
        for key, prof in data.get("profiles", {}).items():
            lines += [
                "",
                f"Profile {backend} / {LABELS[key]}: py-spy --gil, {prof['samples']} samples over "
                f"{prof['requests']} requests = {prof['gil_us_per_request']} us of GIL time per request "
                f"(`{prof['file']}`).",
                "By layer (us/request): " + ", ".join(f"{k} {v}" for k, v in prof["layers_us"].items()) + ".",
                "Inclusive (us/request): " + ", ".join(f"{k} {v}" for k, v in prof["inclusive_us"].items() if v) + ".",
            ]
    return "\n".join(lines)


def record(path: Path, block: str) -> None:
    """Replace the generated block of the API section of RESULTS.md (the prose around it stays)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    generated = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        text = head + generated + rest.partition(END)[2]
    else:
        text = text.rstrip("\n") + f"\n\n## API (bench/api.py)\n\n{generated}\n"
    path.write_text(text)


# Where a sample's time goes: the leaf-most frame that belongs to one of these (stdlib frames count
# for the layer that called them). Order matters: the more specific path first.
LAYERS = [
    ("auth (api/wire/auth.py)", ("cellplane/api/wire/auth",)),
    ("cellplane wire (forms, paging, render, urls)", ("cellplane/api/wire/",)),
    ("cellplane handlers (api/supersim_v1)", ("cellplane/api/supersim_v1/",)),
    ("cellplane services + repositories", ("cellplane/services/", "cellplane/store/", "cellplane/domain/")),
    ("SQLAlchemy ORM (session, hydration)", ("sqlalchemy/orm/",)),
    ("SQLAlchemy Core (compile, engine, pool)", ("sqlalchemy/",)),
    ("DB driver (aiosqlite thread / asyncpg)", ("aiosqlite/", "asyncpg/")),
    ("FastAPI", ("fastapi/",)),
    ("Starlette (routing, middleware, response)", ("starlette/",)),
    ("uvicorn + httptools (HTTP parsing, writes)", ("uvicorn/",)),
    ("asyncio / event loop", ("asyncio/", "uvloop/")),
]
# Inclusive cost of these (a frame's text contains the marker). SQLAlchemy's async layer runs its sync
# code in greenlets, which py-spy shows as their own stacks: markers name frames found in either.
MARKERS = {
    "authenticate()": "authenticate (cellplane/api/wire/auth.py",
    "route matching (nested routers)": "_IncludedRouter._match (",
    "ORM Session.execute": "Session.execute (sqlalchemy/orm/session.py",
    "ORM hydration (orm/loading.py)": "sqlalchemy/orm/loading.py",
    "Core Connection.execute": "Connection.execute (sqlalchemy/engine/base.py",
    "Session close (rollbacks)": "Session.close (sqlalchemy/orm/session.py",
    "aiosqlite (queue to its thread)": "aiosqlite/",
    "keyset_page() (query build + fetch)": "keyset_page (",
    "render() of a Sim": "render (cellplane/api/supersim_v1/sims.py",
    "list_body() meta URLs": "list_body (",
    "json_response / orjson": "cellplane/api/wire/render.py",
    "services.sims.claim()": "claim (cellplane/services/sims.py",
    "ORM flush (unit of work)": "Session._flush (sqlalchemy/orm/session.py",
    "commit": "SessionTransaction.commit (sqlalchemy/orm/session.py",
    "job runner polling (JobRunner.claim)": "JobRunner.claim (",
}


def analyze_profile(out: Path, repo: Path, *, requests: int, rate: int) -> dict[str, Any]:
    """py-spy raw stacks to shares of samples: by layer (leaf-most known frame), inclusive, top leaves."""
    samples: list[tuple[list[str], int]] = []
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    total = sum(n for _, n in samples) or 1
    layers: dict[str, int] = {}
    leaves: dict[str, int] = {}
    for frames, n in samples:
        layer = next(
            (name for frame in reversed(frames) for name, paths in LAYERS if any(p in frame for p in paths)), "other"
        )
        layers[layer] = layers.get(layer, 0) + n
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
    per_request = 1e6 / rate / max(requests, 1)
    inclusive = {
        name: round(per_request * sum(n for frames, n in samples if any(marker in f for f in frames)))
        for name, marker in MARKERS.items()
    }
    return {
        "samples": total,
        "requests": requests,
        "gil_us_per_request": round(per_request * total),
        "file": str(out.relative_to(repo)),
        "layers_us": {k: round(per_request * v) for k, v in sorted(layers.items(), key=lambda kv: -kv[1])},
        "inclusive_us": inclusive,
        "top_leaves": {k: round(100 * v / total, 1) for k, v in sorted(leaves.items(), key=lambda kv: -kv[1])[:15]},
    }
