"""What would stop a move to Citus (issue 21), counted, so that it can only go down.

Distribution column: the account (`account_sid`; the `accounts` table by its own `sid`), since nearly every request
and every network lookup is one account's. In Citus a distributed table's primary key and unique constraints must
include the distribution column, `FOR UPDATE SKIP LOCKED` should name one shard (an equality on it) to stay on one
worker, and a trigger's NOTIFY would be sent from a worker node that no client listens on.

Reference tables (small, global, replicated to every worker; any key is fine there): REFERENCE_TABLES below.
Tables with neither the distribution column nor reference-table size are blockers of their own (they need an
`account_sid`, or to be co-located through their parent's key).

Known beyond these counts (not measurable from the schema alone): a SIM changes account on a transfer
(services/sims.py `_check_transfer`), and Citus cannot update a distribution column; the retention purge, the
IP Command recovery sweep and the AAA's policy poll read across all accounts (multi-shard queries, allowed but
fanned out to every worker).

Run with `-s` to see the lists. The BASELINE is today's count: a change that adds a blocker fails here; one that
removes some lowers the number in the same commit.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import PrimaryKeyConstraint, Table, UniqueConstraint

from cellplane.store.models import Base

SRC = Path(__file__).resolve().parents[2] / "src" / "cellplane"
DISTRIBUTION = "account_sid"
# Distributed by another column that is the account's id.
DISTRIBUTED_BY = {"accounts": "sid"}
# A few rows each, the same for every account: replicated to every worker.
REFERENCE_TABLES = {"singleton_leases"}

BASELINE = {
    "unique constraints without the distribution column": 45,
    "tables without a distribution column (not reference tables)": 4,
    "SKIP LOCKED without an equality on the distribution column": 3,
    "notifications from triggers": 0,
}


def distribution_column(table: Table) -> str | None:
    if table.name in DISTRIBUTED_BY:
        return DISTRIBUTED_BY[table.name]
    return DISTRIBUTION if DISTRIBUTION in table.columns else None


def unique_keys(table: Table) -> list[tuple[str, list[str]]]:
    """(kind, columns) of every primary key, unique constraint and unique index."""
    keys = []
    for constraint in table.constraints:
        if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint) and constraint.columns:
            kind = "primary key" if isinstance(constraint, PrimaryKeyConstraint) else "unique"
            keys.append((kind, [column.name for column in constraint.columns]))
    keys += [("unique index", [column.name for column in index.columns]) for index in table.indexes if index.unique]
    return keys


def schema_blockers() -> tuple[list[str], list[str]]:
    unique, homeless = [], []
    for table in Base.metadata.sorted_tables:
        if table.name in REFERENCE_TABLES:
            continue
        column = distribution_column(table)
        if column is None:
            homeless.append(table.name)
            continue
        unique += [
            f"{table.name}: {kind} ({', '.join(columns)})"
            for kind, columns in unique_keys(table)
            if column not in columns
        ]
    return unique, homeless


_EQUALITY = re.compile(r"account_sid\s*==|account_sid\s*=\s*[:?$%]")


def skip_locked_sites() -> list[str]:
    """Each SKIP LOCKED in the source (SQLAlchemy's skip_locked=True or SQL text), with the statement it belongs to
    and the module-level statements it builds on, and whether any of that has an equality on the account."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        if "skip_locked" not in source and "SKIP LOCKED" not in source:
            continue
        tree = ast.parse(source)
        defined = {
            target.id: node
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        # Docstrings and other bare strings (prose that mentions SKIP LOCKED) are not SQL.
        prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if id(node) in prose:
                continue
            is_site = (
                isinstance(node, ast.keyword)
                and node.arg == "skip_locked"
                and isinstance(node.value, ast.Constant)
                and node.value.value is True
            ) or (isinstance(node, ast.Constant) and isinstance(node.value, str) and "SKIP LOCKED" in node.value)
            if not is_site:
                continue
            statement = _enclosing(tree, node)
            text = _with_definitions(source, statement, defined)
            where = f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', statement.lineno)}"
            if not _EQUALITY.search(text):
                found.append(where)
    return found


def _enclosing(tree: ast.Module, target: ast.AST) -> ast.stmt:
    """The top-level statement (function, class or assignment) that holds `target`."""
    for statement in tree.body:
        if any(node is target for node in ast.walk(statement)):
            return statement
    raise LookupError(target)


def _with_definitions(source: str, statement: ast.stmt, defined: dict[str, ast.Assign], depth: int = 3) -> str:
    text = ast.get_source_segment(source, statement) or ""
    if depth == 0:
        return text
    names = {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)} & set(defined)
    return text + "".join(
        _with_definitions(source, defined[name], defined, depth - 1) for name in names if defined[name] is not statement
    )


def trigger_notifications() -> list[str]:
    """Migrations or SQL in the source that create a trigger whose function sends NOTIFY / pg_notify."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        source = path.read_text()
        if re.search(r"CREATE\s+(OR\s+REPLACE\s+)?TRIGGER", source, re.I) and re.search(
            r"NOTIFY|pg_notify", source, re.I
        ):
            found.append(str(path.relative_to(SRC.parent)))
    return found


def test_citus_blockers_do_not_grow() -> None:
    unique, homeless = schema_blockers()
    skip_locked = skip_locked_sites()
    triggers = trigger_notifications()
    counts = {
        "unique constraints without the distribution column": len(unique),
        "tables without a distribution column (not reference tables)": len(homeless),
        "SKIP LOCKED without an equality on the distribution column": len(skip_locked),
        "notifications from triggers": len(triggers),
    }
    reference = ", ".join(sorted(REFERENCE_TABLES))
    print(f"\nCitus readiness, distribution column {DISTRIBUTION}; reference tables: {reference}")
    for (name, count), items in zip(counts.items(), (unique, homeless, skip_locked, triggers), strict=True):
        print(f"  {name}: {count} (baseline {BASELINE[name]})")
        for item in items:
            print(f"    {item}")
    grown = {name: (count, BASELINE[name]) for name, count in counts.items() if count > BASELINE[name]}
    assert not grown, f"new Citus blockers (count, baseline): {grown}"


def test_the_checks_see_what_they_look_for() -> None:
    """The scanners are not blind: the known sites are found (a check that finds nothing would always pass)."""
    assert "cellplane/jobs/runner.py" in " ".join(skip_locked_sites())
    unique, homeless = schema_blockers()
    assert "sims: unique (imsi)" in unique and "jobs" in homeless
    assert not any(item.startswith("fleets: unique") for item in unique)  # (account_sid, unique_name) includes it
