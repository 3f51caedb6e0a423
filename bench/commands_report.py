"""Markdown for bench/commands.py: the machine, the throughput and latency tables, verdicts, the dispatch profile;
and the generated block of the "Commands" section of bench/RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import api_report as report

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- bench/commands.py: generated results start -->", "<!-- bench/commands.py: generated results end -->"


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Run {m['date']}; {m['nproc']} vCPUs ({m['cpu']}), {m['ram_gib']} GiB, Linux {m['kernel']}, Python "
        f"{m['python']}, SQLite {m['sqlite']}, {result['postgres']}, {m['wrk']}, Prism {m['prism']}. Load average "
        f"{result['load_start']} at the start, {result['load_end']} at the end (shared machine: other benchmarks and "
        f"test suites run at the same time). Options: `{json.dumps(result['options'])}`.",
        "",
        "| backend | server | req/s (median) | min-max | p50 ms | p99 ms | server CPU us/req | non-201 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, data in result["backends"].items():
        for key, label in (("prism", "Prism mock POST /v1/IpCommands"), ("cellplane", "cellplane POST IpCommands")):
            s = data["summary"][key]
            bad = sum(sum((r.get("unexpected_statuses") or {}).values()) for r in data["runs"][key])
            lines.append(
                f"| {backend} | {label} | {s['rps']:,.0f} | {s['rps_min']:,.0f}-{s['rps_max']:,.0f} | "
                f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['cpu_us']:,.0f} | {bad + s['errors']} |"
            )
    lines += [
        "",
        "| backend | cellplane / Prism | target >= 4x | backlog drain after each run (s) |",
        "|---|---:|---|---|",
    ]
    for backend, data in result["backends"].items():
        ratio = data["summary"]["cellplane"]["rps"] / data["summary"]["prism"]["rps"]
        drains = ", ".join(f"{d:.1f}" for d in data["drain_seconds"][1:])
        lines.append(f"| {backend} | {ratio:.2f}x | {report._ok(ratio >= 4)} | {drains} |")
    lines += [
        "",
        "| backend | rate | posted | 201 | received | lost | POST->datagram p50 / p95 / p99 / max ms | POST answer "
        "p50 / p99 | answer->datagram p50 / p99 | target p99 < 20 ms |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for backend, data in result["backends"].items():
        runs = (("", data["latency"]), ("", data["latency"]["low_rate_run"]))
        for label, lat in (*runs, (" (under py-spy)", data["latency"].get("profiled_run"))):
            if not lat:
                continue
            t, p, a = lat["post_to_datagram_ms"], lat["post_answer_ms"], lat["answer_to_datagram_ms"]
            if not t:
                lines.append(f"| {backend}{label} | {lat['rate']}/s | {lat['posted']} | - | 0 | all | - | - | - | - |")
                continue
            lines.append(
                f"| {backend}{label} | {lat['rate']}/s | {lat['posted']} | {lat['statuses'].get('201', 0)} | "
                f"{lat['received']} | {lat['lost']} | {t['p50']:.1f} / {t['p95']:.1f} / {t['p99']:.1f} / "
                f"{t['max']:.1f} | {p['p50']:.1f} / {p['p99']:.1f} | {a['p50']:.1f} / {a['p99']:.1f} | "
                f"{verdict(label, lat['rate'], result['options']['rate'], t['p99'])} |"
            )
    for backend, data in result["backends"].items():
        if data["profile"]:
            parts = ", ".join(f"{k.strip()} {v}" for k, v in data["profile"]["us_per_command"].items())
            lines += [
                "",
                f"Profile {backend} (py-spy --gil during the second latency run, inclusive us of GIL time "
                f"per command, `{Path(data['profile']['file']).relative_to(HERE.parent)}`): {parts}.",
            ]
    return "\n".join(lines)


def verdict(label: str, rate: float, target_rate: float, p99: float) -> str:
    if label:
        return "(not a measurement)"
    return report._ok(p99 < 20) if rate == target_rate else "(below the target's rate: a reference)"


def record(path: Path, block: str) -> None:
    """Replace this script's generated block in RESULTS.md; the first time, append the section."""
    text = path.read_text()
    generated = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        text = head + generated + rest.partition(END)[2]
    else:
        text = text.rstrip("\n") + f"\n\n## Commands (bench/commands.py)\n\n{generated}\n"
    path.write_text(text)
