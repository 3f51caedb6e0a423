"""Prometheus view of the gateways in this process: live sessions, packets and bytes each way, drops by cause.

Read at scrape time from what the user plane already counts (per-session integers and UserPlaneStats), plus what
ended sessions counted (SessionTable.retired): nothing is added to the per-packet path.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .sessions import session_counts

if TYPE_CHECKING:
    from .gateway import Gateway

# Drop causes: UserPlaneStats field (or session count) -> label.
STATS_DROPS = {
    "malformed": "malformed",
    "unknown_teid": "unknown_teid",
    "spoofed": "spoofed_source",
    "dropped_uplink": "no_route_uplink",
}


class GatewayCollector(Collector):
    def __init__(self) -> None:
        self.gateways: weakref.WeakSet[Gateway] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        sessions = GaugeMetricFamily("cellplane_gateway_sessions", "Live PDN sessions held by the gateway")
        packets = CounterMetricFamily(
            "cellplane_gateway_packets_total",
            "User packets carried, by direction (up: from devices)",
            labels=["direction"],
        )
        octets = CounterMetricFamily(
            "cellplane_gateway_bytes_total", "Octets of user packets carried, by direction", labels=["direction"]
        )
        drops = CounterMetricFamily(
            "cellplane_gateway_dropped_packets_total", "Packets the gateway dropped, by cause", labels=["cause"]
        )
        commands = CounterMetricFamily(
            "cellplane_gateway_mo_datagrams_total", "Datagrams from devices to 100.64.0.1 (IP Commands from SIMs)"
        )
        totals: dict[str, int] = {}
        live = mo = 0
        drop_counts: dict[str, int] = dict.fromkeys((*STATS_DROPS.values(), "policed_up", "policed_down"), 0)
        for gateway in list(self.gateways):
            table = gateway.sessions
            live += len(table)
            for name, value in table.retired.items():
                totals[name] = totals.get(name, 0) + value
            for session in table:
                for name, value in session_counts(session).items():
                    totals[name] = totals.get(name, 0) + value
            stats = gateway.user_plane.stats
            for field, cause in STATS_DROPS.items():
                drop_counts[cause] += int(getattr(stats, field))
            mo += stats.mo_datagrams
        drop_counts["policed_up"] += totals.get("dropped_up_packets", 0)
        drop_counts["policed_down"] += totals.get("dropped_down_packets", 0)
        sessions.add_metric([], live)
        for direction in ("up", "down"):
            packets.add_metric([direction], totals.get(f"{direction}_packets", 0))
            octets.add_metric([direction], totals.get(f"{direction}_octets", 0))
        for cause, value in drop_counts.items():
            drops.add_metric([cause], value)
        commands.add_metric([], mo)
        yield from (sessions, packets, octets, drops, commands)


COLLECTOR = GatewayCollector()
REGISTRY.register(COLLECTOR)


def watch(gateway: Gateway) -> None:
    COLLECTOR.gateways.add(gateway)
