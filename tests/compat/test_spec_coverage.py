"""Every Super SIM operation in scope is routed; the rest of both specs is listed as not yet implemented."""

from __future__ import annotations

from scripts.spec_coverage import SURFACES, coverage, render

from tests.compat.scope import DEFERRED, in_scope, unrouted


def test_every_operation_in_scope_is_routed() -> None:
    missing = sorted(op.label + f" ({op.operation_id})" for op in in_scope() if op.operation_id in unrouted())
    assert not missing, "Super SIM operations without a route:\n  " + "\n  ".join(missing)


def test_scope_is_the_super_sim_spec_minus_the_deferred_resources() -> None:
    resources = {op.resource for op in in_scope()}
    assert {"Sims", "Fleets", "NetworkAccessProfiles", "Networks", "ESimProfiles", "SettingsUpdates"} <= resources
    assert not resources & DEFERRED


def test_coverage_table_lists_both_surfaces_and_reports_the_rest() -> None:
    rows = coverage()
    text = render(rows)
    for surface in SURFACES:
        assert f"## {surface.title}" in text
    assert "| POST | `/v1/Sims` | CreateSim | yes |" in text
    scoped = set(in_scope())
    later = [f"{op.surface.title}: {op.label}" for op, routed in rows if not routed and op not in scoped]
    # Not a failure: the operations of later issues, printed so a run shows what is left (`pytest -s`).
    print(f"\n{len(later)} operations not yet implemented:\n  " + "\n  ".join(later))
