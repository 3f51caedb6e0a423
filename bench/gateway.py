"""GTP-U packets/s through the gateway, against a bare asyncio + uvloop UDP echo measured in the same run.

Each scenario is one server process (uvloop) and one load process blasting pre-built datagrams at it from a
blocking socket as fast as Python sends them; the server counts what it handled and the rate is that count
over a fixed window after a warm-up, so it measures the server, not the sender. Packets are 136 octets on the
wire in every scenario (a G-PDU: 8 octets of GTP-U header around a 128-octet IPv4/UDP packet; the echo gets
datagrams of the same size).

  echo        bare asyncio DatagramProtocol: receive, send the datagram back            (the reference)
  uplink      gateway: G-PDU in, TEID lookup, usage counted, packet for the internet dropped
  through     gateway: G-PDU in carrying an IP Command to 100.64.0.1 (inner IPv4 + UDP checksums verified),
              the on_mo_datagram hook answers it with send_to_device: an IPv4/UDP packet built with both
              checksums, tunnelled in a G-PDU and sent back; the same receive + send as the echo
  downlink    gateway.send_to_device in a loop (an IP Command to the SIM): IPv4/UDP packet built with both
              checksums, tunnelled and sent; no load process

The gateway is the real one, attached through GTPv2-C with a RADIUS server (our codec, accept-all) in its
process. Targets (issue 3): gateway >= 50% of the echo's packets/s.

    .venv/bin/python bench/gateway.py [--seconds 4] [--warmup 1]

Not run by the tests; results go to bench/RESULTS.md ("Network: gateway").
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import socket
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

PAYLOAD = bytes(100)  # inner UDP data: 20 + 8 + 100 = 128-octet IP packet, 136 octets with GTP-U
UE_SOURCE_PORT, COMMAND_PORT = 40000, 6655
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- servers (each in its own process) ----------------------------------------------------------------------------


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.count = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.count += 1
        self.transport.sendto(data, addr)


async def radius_accept_all(secret: bytes) -> tuple[int, int]:
    """Auth and accounting servers that accept every request (our codec): the gateway needs an AAA to attach."""
    from cellplane.protocols import radius

    class Server(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            request = radius.decode(data)
            if request.code == radius.Code.ACCESS_REQUEST:
                answer = radius.build_response(
                    request, radius.Code.ACCESS_ACCEPT, [("Framed-IP-Address", "10.64.0.7")], secret
                )
            else:
                answer = radius.build_response(request, radius.Code.ACCOUNTING_RESPONSE, [], secret)
            self.transport.sendto(answer, addr)

    loop = asyncio.get_running_loop()
    ports = []
    for _ in range(2):
        transport, _ = await loop.create_datagram_endpoint(Server, local_addr=(HOST, 0))
        ports.append(transport.get_extra_info("sockname")[1])
    return ports[0], ports[1]


async def attach(gateway: Any, sgw_u_port: int) -> Any:
    """One Create Session over GTPv2-C naming the load process's socket as the SGW's GTP-U endpoint."""
    from cellplane.protocols.gtp import CreateSessionRequest, Fteid, InterfaceType, decode
    from cellplane.protocols.gtp import private as gtp_private

    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class Sgw(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not answer.done():
                answer.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Sgw, local_addr=(HOST, 0))
    request = CreateSessionRequest(
        seq=1,
        imsi="001010000000007",
        apn="super",
        sender_fteid=Fteid(InterfaceType.S5S8_SGW_GTPC, 1, HOST),
        bearer_fteid=Fteid(InterfaceType.S5S8_SGW_GTPU, 2, HOST),
        private_extension=gtp_private.gtpu_port_extension(sgw_u_port),
    )
    transport.sendto(request.encode(), gateway.gtpc_address)
    response = decode(await asyncio.wait_for(answer, 5))
    transport.close()
    return response


async def serve(kind: str, pipe: Connection, sgw_u_port: int) -> None:
    if kind == "echo":
        protocol = Echo()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(HOST, 0))
        pipe.send({"port": transport.get_extra_info("sockname")[1]})
        count = lambda: protocol.count  # noqa: E731
    else:
        from cellplane.network.gateway import Gateway, GatewayConfig

        secret = b"bench"
        auth, acct = await radius_accept_all(secret)
        gateway = Gateway(
            GatewayConfig(
                gtpc_port=0,
                gtpu_port=0,
                dae_port=0,
                aaa_auth_port=auth,
                aaa_acct_port=acct,
                radius_secret=secret.decode(),
                interim_interval=0,
            )
        )
        await gateway.start()
        response = await attach(gateway, sgw_u_port)
        session = gateway.session("001010000000007")
        if kind == "through":

            def answer(live: Any, src_port: int, dst_port: int, payload: bytes) -> None:
                gateway.send_to_device(live.ue_ip, dst_port, src_port, payload)

            gateway.on_mo_datagram = answer
        pipe.send({"port": gateway.gtpu_address[1], "teid": response.bearer_fteid.teid, "ue_ip": response.paa_ipv4})
        if kind == "downlink":

            async def generate() -> None:
                # What an IP Command to the SIM costs: send_to_device builds the IPv4/UDP packet and tunnels it.
                while True:
                    for _ in range(64):
                        gateway.send_to_device(session.ue_ip, 4000, 5683, PAYLOAD)
                    await asyncio.sleep(0)

            asyncio.ensure_future(generate())  # noqa: RUF006 - runs until the process ends
            count = lambda: session.down_packets  # noqa: E731
        elif kind == "through":
            count = lambda: gateway.user_plane.stats.mo_datagrams  # noqa: E731
        else:
            count = lambda: session.up_packets  # noqa: E731
    while True:  # answer "count?" with (packets handled, CPU seconds) until told to stop
        await asyncio.sleep(0.05)
        if pipe.poll():
            if pipe.recv() == "stop":
                return
            pipe.send((count(), time.process_time()))


def pin(cpu: int) -> None:
    """Server on CPU 0, load on CPU 1 (when there are two), so they do not take turns on one core."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def server_main(kind: str, pipe: Connection, sgw_u_port: int) -> None:
    import uvloop

    pin(0)
    uvloop.run(serve(kind, pipe, sgw_u_port))


# --- load ---------------------------------------------------------------------------------------------------------


def load_main(datagram: bytes, port: int, bind_port: int, stop: Any) -> None:
    pin(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, bind_port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # answers are not read: let the kernel drop them
    sock.connect((HOST, port))  # send() on a connected socket skips the address lookup of sendto()
    send = sock.send
    while not stop.is_set():
        for _ in range(1000):
            try:
                send(datagram)
            except OSError:  # ECONNREFUSED from an ICMP error while the server starts: keep going
                pass


def datagram_for(kind: str, info: dict[str, Any]) -> bytes:
    if kind == "echo":
        return bytes(136)
    from cellplane.protocols.gtp.gtpu import encode_gpdu
    from cellplane.protocols.ipv4 import build_udp

    destination = "100.64.0.1" if kind == "through" else "198.51.100.1"
    return encode_gpdu(info["teid"], build_udp(info["ue_ip"], destination, UE_SOURCE_PORT, COMMAND_PORT, PAYLOAD))


def run(kind: str, seconds: float, warmup: float) -> tuple[float, float]:
    """(packets/s handled by the server, the CPU it used per wall second) for one scenario."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    sgw_u_port = free_port()
    server = context.Process(target=server_main, args=(kind, theirs, sgw_u_port), daemon=True)
    server.start()
    info = ours.recv()
    stop = context.Event()
    load = None
    if kind != "downlink":
        load = context.Process(
            target=load_main, args=(datagram_for(kind, info), info["port"], sgw_u_port, stop), daemon=True
        )
        load.start()
    time.sleep(warmup)
    ours.send("count?")
    count0, cpu0 = ours.recv()
    wall0 = time.perf_counter()
    time.sleep(seconds)
    ours.send("count?")
    count1, cpu1 = ours.recv()
    wall = time.perf_counter() - wall0
    stop.set()
    ours.send("stop")
    if load is not None:
        load.join(5)
    server.join(5)
    return (count1 - count0) / wall, (cpu1 - cpu0) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="scenarios are interleaved; the median round counts")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"# Python {platform.python_version()}, uvloop; {args.seconds:.0f} s windows, median of {args.rounds} rounds")
    kinds = ("echo", "uplink", "through", "downlink")
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    capacities: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind in kinds:
            rate, cpu = run(kind, args.seconds, args.warmup)
            rates[kind].append(rate)
            capacities[kind].append(rate / cpu if cpu else 0.0)
    print(f"{'':<10} {'packets/s':>10} {'vs echo':>8}   {'packets/CPU-s':>13} {'vs echo':>8}")
    echo_rate, echo_capacity = statistics.median(rates["echo"]), statistics.median(capacities["echo"])
    for kind in kinds:
        rate, capacity = statistics.median(rates[kind]), statistics.median(capacities[kind])
        versus, per_cpu = rate / echo_rate, capacity / echo_capacity
        print(f"{kind:<10} {rate:>10,.0f} {versus:>7.2f}x   {capacity:>13,.0f} {per_cpu:>7.2f}x")


if __name__ == "__main__":
    main()
