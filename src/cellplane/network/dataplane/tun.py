"""TUN devices (Linux tuntap, IFF_TUN | IFF_NO_PI): a file descriptor whose reads and writes are bare IP packets.

The device is made in the caller's namespace with a `cellplane-` name and then moved into its domain's namespace
(a TUN keeps its descriptor when it moves). The descriptor is non-blocking: readers drain it in batches.
"""

from __future__ import annotations

import fcntl
import os
import struct

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name: str) -> int:
    """Create TUN device `name` (15 characters at most) owned by the returned non-blocking descriptor; closing the
    descriptor removes the device (it is not persistent)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd
