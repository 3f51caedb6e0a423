"""TUN devices (Linux tuntap, IFF_TUN | IFF_NO_PI): a file descriptor whose reads and writes are bare IP packets.

The device is made in the caller's namespace with a `cellplane-` name and then moved into its domain's namespace
(a TUN keeps its descriptor when it moves). The descriptor is non-blocking: readers drain it in batches. Its queue
(the packets the kernel routed to it that the reader has not read yet) holds TXQUEUE packets, not Linux's 500 for a
TUN: when the reader falls behind, packets are dropped after a few milliseconds of queue rather than delayed by tens.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
SIOCSIFTXQLEN = 0x8943
TXQUEUE = 128


def open_tun(name: str) -> int:
    """Create TUN device `name` (15 characters at most) owned by the returned non-blocking descriptor; closing the
    descriptor removes the device (it is not persistent)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
            fcntl.ioctl(control, SIOCSIFTXQLEN, struct.pack("16si", name.encode(), TXQUEUE))
    except OSError:
        os.close(fd)
        raise
    return fd
