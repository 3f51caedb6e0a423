"""Prometheus counters of the AAA: what came in, what was dropped and why, attaches, accounting, disconnects.

Defined once per process (prometheus_client's default registry, served at /metrics); label children are bound
here so the per-packet path only calls `inc()`. The counters every packet moves (requests, attaches, accounting)
are plain integers read at scrape time (`Tallies`): a prometheus_client Counter takes a mutex on every `inc()`,
which cost the AAA a few percent of its CPU for counting. The AAA runs on one event loop, so nothing races them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class Tally:
    """One labelled counter of a Tallies family, as cheap to move as an integer."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Tallies(Collector):
    """A counter family exposed like a prometheus_client Counter, counted in plain integers."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._children: dict[tuple[str, ...], Tally] = {}
        REGISTRY.register(self)

    def labels(self, **labels: str) -> Tally:
        key = tuple(str(labels[name]) for name in self.labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = Tally()
        return child

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(list(key), child.value)
        yield family


_RECEIVED = Tallies("cellplane_aaa_requests_total", "RADIUS requests received by the AAA, by port", ("port",))
_DROPPED = Counter("cellplane_aaa_dropped_total", "RADIUS packets the AAA dropped, by reason", ["reason"])
_DUPLICATES = Counter("cellplane_aaa_duplicates_total", "Retransmitted requests answered from the duplicate cache")
_ATTACHES = Tallies("cellplane_aaa_attaches_total", "Access-Requests decided, by result and code", ("result", "code"))
_ACCOUNTING = Tallies("cellplane_aaa_accounting_total", "Accounting-Requests applied, by status type", ("kind",))
ACCOUNTING_IGNORED = Counter(
    "cellplane_aaa_accounting_unknown_sim_total", "Accounting-Requests of no known SIM, acknowledged and dropped"
)
BATCH_SIZE = Histogram(
    "cellplane_aaa_batch_requests",
    "Accounting-Requests applied per database transaction (group commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
BATCH_FAILURES = Counter("cellplane_aaa_batch_failures_total", "Accounting batches whose transaction failed")
_DISCONNECTS = Counter("cellplane_aaa_disconnects_total", "Disconnect-Requests sent, by outcome", ["outcome"])
_COAS = Counter("cellplane_aaa_coa_total", "CoA-Requests sent (a session's rate changed), by outcome", ["outcome"])
POLICY_RELOADS = Counter("cellplane_aaa_policy_reloads_total", "SIM policy snapshots reloaded into the cache")
POLICY_MISSES = Counter(
    "cellplane_aaa_policy_misses_total", "SIMs loaded from the database on demand (not in the bounded policy cache)"
)

RECEIVED_AUTH = _RECEIVED.labels(port="auth")
RECEIVED_ACCT = _RECEIVED.labels(port="acct")
DUPLICATES = _DUPLICATES

DROP_UNKNOWN_CLIENT = _DROPPED.labels(reason="unknown_client")
DROP_MALFORMED = _DROPPED.labels(reason="malformed")
DROP_BAD_AUTHENTICATOR = _DROPPED.labels(reason="bad_authenticator")
DROP_UNSUPPORTED = _DROPPED.labels(reason="unsupported_code")
DROP_INVALID = _DROPPED.labels(reason="invalid_request")
DROP_ERROR = _DROPPED.labels(reason="handler_error")
DROP_OVERLOAD = _DROPPED.labels(reason="overload")


ATTACH_ACCEPTED = _ATTACHES.labels(result="accepted", code="")


def attach_rejected(code: int | None) -> None:
    _ATTACHES.labels(result="rejected", code=str(code or "")).inc()


_ACCOUNTING_KINDS = {kind: _ACCOUNTING.labels(kind=kind) for kind in ("start", "interim", "stop", "nas_on", "nas_off")}


def accounting(kind: str, count: int = 1) -> None:
    child = _ACCOUNTING_KINDS.get(kind)
    (child if child is not None else _ACCOUNTING.labels(kind=kind)).inc(count)


def disconnect(outcome: str) -> None:
    _DISCONNECTS.labels(outcome=outcome).inc()


def coa(outcome: str) -> None:
    _COAS.labels(outcome=outcome).inc()


def dropped(reason: str) -> float:
    """Current value of one drop counter (tests compare before and after)."""
    return float(_DROPPED.labels(reason=reason)._value.get())
