"""The reference a user would write: a bare asyncio TUN-to-UDP relay, no GTP, no accounting, no policy.

    python bench/tun_relay.py TUN_FD LOCAL_PORT PEER_PORT

Takes the TUN descriptor it inherits (bench/dataplane.py makes the TUN in a namespace), sends every packet read from it
to 127.0.0.1:PEER_PORT, and writes every datagram received on 127.0.0.1:LOCAL_PORT to it. One packet per
read, one datagram per send: what the asyncio documentation leads to. Prints "ready" when it runs.
"""

from __future__ import annotations

import asyncio
import os
import sys


class Relay(asyncio.DatagramProtocol):
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            os.write(self.fd, data)
        except OSError:
            pass


async def main() -> None:
    fd, local, peer = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    os.set_blocking(fd, False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Relay(fd), local_addr=("127.0.0.1", local))

    def readable() -> None:
        try:
            packet = os.read(fd, 65535)
        except BlockingIOError:
            return
        transport.sendto(packet, ("127.0.0.1", peer))

    loop.add_reader(fd, readable)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
