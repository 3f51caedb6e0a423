"""A device's own network namespace for device shells: only `lo` and a TUN holding the session's address.

Named like everything of the data plane (`cellplane-<instance>-device`, an instance and owner file of its own), so
a shell killed with SIGKILL leaves nothing another start does not sweep.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

from pyroute2.netns import NETNS_RUN_DIR  # type: ignore[import-untyped]

from . import names
from .config import new_instance
from .netlink import IPRoute, NetNS, netns
from .tun import open_tun


class DeviceNamespace:
    """create(), address(ip or None) as the session comes and goes, destroy(); `tun_fd` is the modem's end."""

    def __init__(self, interface: str = "wwan0") -> None:
        self.instance = new_instance()
        self.name = names.netns_name(self.instance, "device")
        self.interface = interface
        self.tun_fd = -1
        self._address: str | None = None

    def create(self) -> None:
        names.claim(self.instance)
        names.sweep(self.instance)  # and any dead shell's or platform's leftovers
        netns.create(self.name)
        temporary = names.link_name()
        self.tun_fd = open_tun(temporary)
        with IPRoute() as ip:
            index = ip.link_lookup(ifname=temporary)[0]
            ip.link("set", index=index, IFLA_IFALIAS=f"{self.name}-tun")
            ip.link("set", index=index, net_ns_fd=self.name)
        with NetNS(self.name) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            index = ns.link_lookup(ifname=temporary)[0]
            ns.link("set", index=index, ifname=self.interface)
        # The PDN connection is IPv4: no IPv6 router solicitations up the tunnel (they would be the SIM's usage).
        subprocess.run(
            [
                "nsenter",
                f"--net={NETNS_RUN_DIR}/{self.name}",
                "--",
                "sysctl",
                "-qw",
                f"net.ipv6.conf.{self.interface}.disable_ipv6=1",
            ],
            capture_output=True,
            check=False,
        )

    def address(self, address: str | None) -> None:
        """The session's address on the TUN with the default route through it; None: the link goes down (no
        session: programs see the network unreachable)."""
        if address == self._address:
            return
        with NetNS(self.name) as ns:
            found = ns.link_lookup(ifname=self.interface)
            if not found:
                return  # the namespace is being removed
            index = found[0]
            if self._address is not None:
                with contextlib.suppress(Exception):
                    ns.addr("del", index=index, address=self._address, prefixlen=32)
            if address is None:
                ns.link("set", index=index, state="down")
            else:
                ns.link("set", index=index, state="up")
                ns.addr("add", index=index, address=address, prefixlen=32)
                ns.route("replace", dst="0.0.0.0/0", oif=index)
        self._address = address

    def destroy(self) -> None:
        if self.tun_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.tun_fd)
            self.tun_fd = -1
        with contextlib.suppress(Exception):
            netns.remove(self.name)
        names.release(self.instance)
