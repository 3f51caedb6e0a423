"""Micro-benchmark of the GTP and IPv4/UDP codecs: G-PDUs/s through what the gateway does per packet.

No sockets. Each line is one per-packet step of the gateway, timed over N packets:
  gpdu encode        encode_gpdu(teid, ip_packet)                       (downlink tunnelling)
  gpdu parse         parse_gtpu(datagram)                               (uplink untunnelling, zero-copy)
  gpdu round trip    both of the above
  uplink             parse_gtpu + parse_udp (addresses, ports, checksums verified)
  downlink           build_udp (both checksums) + encode_gpdu
and, at N/200, the control plane per attach: Create Session Request decode + Response encode (gateway)
and Request encode + Response decode (emulated SGW). The target is >= 50k G-PDUs/s through the gateway.

    .venv/bin/python bench/gtpu_codec.py [-n 200000] [--size 100]

Not run by the tests; the numbers go to bench/RESULTS.md with the network benchmarks.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    Fteid,
    InterfaceType,
    Plmn,
    RatType,
    UserLocation,
    decode,
)
from cellplane.protocols.gtp.gtpu import encode_gpdu, parse_gtpu
from cellplane.protocols.ipv4 import build_udp, parse_udp

UE, COMMANDS = "10.64.0.7", "100.64.0.1"
TEID = 0x0A0B0C0D


def rate(label: str, count: int, step: Callable[[], object]) -> float:
    """Run `step` `count` times; print and return the rate per second of CPU time.

    CPU time (process_time), not wall time: on a shared machine other processes stretch the wall clock,
    while what the gateway can carry is bounded by the CPU each packet costs. Wall time is shown too.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        step()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_second = count / cpu
    each, each_wall = cpu / count * 1e6, wall / count * 1e6
    print(f"{label:<34} {per_second:>12,.0f} /s CPU  {each:>8.2f} us each  (wall {each_wall:.2f} us)")
    return per_second


def control_plane_messages() -> tuple[CreateSessionRequest, CreateSessionResponse]:
    network = Plmn("310", "410")
    request = CreateSessionRequest(
        seq=1,
        imsi="310410123456789",
        msisdn="15551234567",
        mei="3534900698733190",
        apn="super",
        serving_network=network,
        uli=UserLocation(network, 0x1234, 0xABCDEF1),
        rat_type=RatType.LTE_M,
        sender_fteid=Fteid(InterfaceType.S5S8_SGW_GTPC, 1, "127.0.0.1"),
        bearer_fteid=Fteid(InterfaceType.S5S8_SGW_GTPU, 2, "127.0.0.1"),
    )
    response = CreateSessionResponse(
        seq=1,
        teid=1,
        cause=Cause.REQUEST_ACCEPTED,
        pgw_fteid=Fteid(InterfaceType.S5S8_PGW_GTPC, 3, "127.0.0.1"),
        bearer_fteid=Fteid(InterfaceType.S5S8_PGW_GTPU, 4, "127.0.0.1"),
        paa_ipv4=UE,
    )
    return request, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=200_000, help="G-PDUs per measurement")
    parser.add_argument("--size", type=int, default=100, help="UDP payload octets per packet")
    args = parser.parse_args()
    count, payload = args.count, bytes(range(256)) * (args.size // 256) + bytes(args.size % 256)

    packet = build_udp(UE, COMMANDS, 40000, 4000, payload)
    datagram = encode_gpdu(TEID, packet)
    assert bytes(parse_udp(parse_gtpu(datagram)[2]).payload) == payload

    print(f"{count:,} packets of {len(packet)} octets ({args.size} of UDP payload)")
    rate("gpdu encode", count, lambda: encode_gpdu(TEID, packet))
    rate("gpdu parse", count, lambda: parse_gtpu(datagram))
    rate("gpdu round trip", count, lambda: parse_gtpu(encode_gpdu(TEID, packet)))
    rate("uplink: parse_gtpu + parse_udp", count, lambda: parse_udp(parse_gtpu(datagram)[2]))
    rate(
        "downlink: build_udp + encode_gpdu",
        count,
        lambda: encode_gpdu(TEID, build_udp(COMMANDS, UE, 4000, 40000, payload)),
    )

    request, response = control_plane_messages()
    request_bytes, response_bytes = request.encode(), response.encode()
    attaches = max(count // 200, 10)
    print(f"{attaches:,} attaches (GTPv2-C Create Session, {len(request_bytes)} + {len(response_bytes)} octets)")
    rate("gateway: decode req + encode resp", attaches, lambda: (decode(request_bytes), response.encode()))
    rate("sgw: encode req + decode resp", attaches, lambda: (request.encode(), decode(response_bytes)))


if __name__ == "__main__":
    main()
