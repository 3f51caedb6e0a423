"""The SGi side of the gateway: routing domains (a network namespace each) that device packets enter and leave.

names (instance names, owner files, leftovers of crashed runs), nft (nftables JSON transactions in a namespace),
tun (TUN devices and their file descriptors), domain (one routing domain), plane (the data plane component: the
default domain, capability checks, start and stop). The gateway moves the packets (network/gateway/sgi.py); this
package only builds and removes what they travel through.
"""

from .config import DataPlaneConfig, DataPlaneMode
from .domain import PortForward, RoutingDomain
from .plane import DataPlane, DataPlaneUnavailable, has_net_admin

__all__ = [
    "DataPlane",
    "DataPlaneConfig",
    "DataPlaneMode",
    "DataPlaneUnavailable",
    "PortForward",
    "RoutingDomain",
    "has_net_admin",
]
