"""Prometheus families an operator alerts on, counted cheaply enough for the hot paths.

prometheus_client's Counter and Histogram take a mutex on every change; the request path and the gateway move
their numbers on one event loop, so plain integers read at scrape time (`Tallies`, `Latencies`) do the same job
for a fraction of the cost (the AAA does the same: network/aaa/metrics.py). Labels are bounded by construction:
route templates, statuses, outcomes and error codes, never sids, URLs or addresses.

Here (not in api/, jobs/ or network/) because every entry point counts into the same families and services is
the layer they all may import.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services.outbox import WEBHOOK_JOB
from cellplane.store.repositories import queues


class Tally:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Tallies(Collector):
    """A labelled counter family counted in plain integers."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._children: dict[tuple[str, ...], Tally] = {}
        REGISTRY.register(self)

    def child(self, *key: str) -> Tally:
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = Tally()
        return found

    def labels(self, **labels: str) -> Tally:
        return self.child(*(str(labels[name]) for name in self.labelnames))

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            family.add_metric(list(key), child.value)
        yield family


class Latencies(Collector):
    """A labelled histogram family of seconds: per label set, one count per bucket, a sum and a total."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.buckets = buckets
        self._children: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., +Inf count, sum
        REGISTRY.register(self)

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = [0.0] * (len(self.buckets) + 2)
        child[bisect_left(self.buckets, seconds)] += 1
        child[-1] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            cumulative, running = [], 0.0
            for bound, count in zip((*map(str, self.buckets), "+Inf"), child[:-1], strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric(list(key), cumulative, child[-1])
        yield family


class Readings(Collector):
    """Gauges whose values something else keeps (the gateway's session table, a snapshot taken at scrape time)."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.values: dict[tuple[str, ...], float] = {}
        self.source: Callable[[], dict[tuple[str, ...], float]] | None = None
        REGISTRY.register(self)

    def set(self, value: float, *key: str) -> None:
        self.values[key] = value

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        values = self.source() if self.source is not None else self.values
        for key, value in list(values.items()):
            family.add_metric(list(key), value)
        yield family


class RequestMetrics(Collector):
    """HTTP requests: a counter by surface, route template, method and status, and a latency histogram by surface,
    route and method, both kept in one list per label set so that a request costs one dict lookup (the hot
    routes' budget is a few microseconds; bench/http_metrics.py)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self._children: dict[tuple[str, str, str, int], list[float]] = {}  # bucket counts..., +Inf count, sum
        REGISTRY.register(self)

    def observe(self, surface: str, route: str, method: str, status: int, seconds: float) -> None:
        key = (surface, route, method, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = [0.0] * (len(self.buckets) + 2)
        child[bisect_left(self.buckets, seconds)] += 1
        child[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "cellplane_http_requests_total",
            "HTTP requests answered, by surface, route template, method and status",
            labels=("surface", "route", "method", "status"),
        )
        latency = HistogramMetricFamily(
            "cellplane_http_request_duration_seconds",
            "Time from a request's arrival to its response handed to the server, by surface, route and method",
            labels=("surface", "route", "method"),
        )
        merged: dict[tuple[str, str, str], list[float]] = {}
        for (surface, route, method, status), child in list(self._children.items()):
            requests.add_metric([surface, route, method, str(status)], sum(child[:-1]))
            into = merged.setdefault((surface, route, method), [0.0] * len(child))
            for index, count in enumerate(child):
                into[index] += count
        for key, child in merged.items():
            cumulative, running = [], 0.0
            for bound, count in zip((*map(str, self.buckets), "+Inf"), child[:-1], strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric(list(key), cumulative, child[-1])
        yield requests
        yield latency


HTTP = RequestMetrics((0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

# Commands: every terminal outcome, with its error code ("" when none). `kind` is ip, sms or wireless.
COMMANDS = Tallies(
    "cellplane_commands_total",
    "IP, SMS and Wireless commands by kind, direction, outcome (status reached) and error code",
    ("kind", "direction", "outcome", "error_code"),
)


def command_outcome(kind: str, direction: str, outcome: str, error_code: int | None = None) -> None:
    COMMANDS.child(kind, direction, outcome, str(error_code or "")).inc()


# Webhooks: one count per attempt and per final outcome; the pending backlog is read at scrape time.
WEBHOOK_ATTEMPTS = Tallies(
    "cellplane_webhook_attempts_total",
    "Webhook delivery attempts, by result (ok, http_error, transport_error) and HTTP status class",
    ("result", "status_class"),
)
WEBHOOK_DELIVERIES = Tallies(
    "cellplane_webhook_deliveries_total",
    "Webhook deliveries that reached a final state: delivered or failed (every retry spent)",
    ("outcome",),
)
WEBHOOK_ATTEMPTS_PER_DELIVERY = Latencies(
    "cellplane_webhook_delivery_attempts",
    "Attempts a webhook delivery took to reach its final state, by outcome",
    ("outcome",),
    (1, 2, 3, 4, 5, 6, 7, 8, 10, 15),
)
WEBHOOK_PENDING = Readings("cellplane_webhook_pending", "Webhook deliveries not yet delivered nor failed")
WEBHOOK_OLDEST_PENDING = Readings(
    "cellplane_webhook_oldest_pending_age_seconds", "Age of the oldest webhook delivery still pending (0 when none)"
)

# Jobs (the durable outbox): depth by kind and status, age of the oldest due job; runs by outcome.
JOBS_QUEUED = Readings("cellplane_jobs_queued", "Jobs waiting or running, by kind and status", ("kind", "status"))
JOBS_OLDEST_DUE = Readings(
    "cellplane_jobs_oldest_due_age_seconds", "How long the oldest due, unfinished job has waited, by kind", ("kind",)
)
JOBS_DEAD = Readings("cellplane_jobs_dead", "Jobs that spent every attempt (dead letters) kept in the table", ("kind",))
JOB_RUNS = Tallies(
    "cellplane_job_runs_total", "Job handler runs, by kind and outcome (done, retry, dead)", ("kind", "outcome")
)
STALE_WRITES = Tallies(
    "cellplane_stale_writes_total",
    "Writes refused by fencing: a job claim or singleton lease that lapsed and was taken over (issue 21)",
    ("holder", "name"),
)


async def read_backlog(session: AsyncSession, now: datetime) -> None:
    """Refresh the queue gauges from the job table (at scrape time: a query per scrape, none per job)."""
    queued: dict[tuple[str, ...], float] = {}
    oldest: dict[tuple[str, ...], float] = {}
    dead: dict[tuple[str, ...], float] = {}
    webhook_pending, webhook_oldest = 0.0, 0.0
    for row in await queues.backlog(session):
        if row.status == "dead":
            dead[(row.kind,)] = row.count
            continue
        queued[(row.kind, row.status)] = row.count
        due_since = row.oldest_due if row.oldest_due is not None and row.oldest_due <= now else None
        if due_since is not None:
            waited = (now - due_since).total_seconds()
            oldest[(row.kind,)] = max(oldest.get((row.kind,), 0.0), waited)
        if row.kind == WEBHOOK_JOB:
            webhook_pending += row.count
            if row.oldest_created is not None:
                webhook_oldest = max(webhook_oldest, (now - row.oldest_created).total_seconds())
    JOBS_QUEUED.values, JOBS_OLDEST_DUE.values, JOBS_DEAD.values = queued, oldest, dead
    WEBHOOK_PENDING.set(webhook_pending)
    WEBHOOK_OLDEST_PENDING.set(webhook_oldest)
