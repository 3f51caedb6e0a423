"""Per-Network re-application (issue 17): a /things/v1 write names what it touched (api/things_v1/wire.py), and a
Thing's move changes the two Networks' entries for it only (services/things_packets.py)."""

from __future__ import annotations

from cellplane.api.things_v1.wire import packets_touched
from cellplane.domain.nftables import Profile
from cellplane.services import things_packets
from cellplane.services.things_packets import NetworkPackets, Placement, Touch


def test_a_write_names_the_thing_profile_group_or_network_it_touched() -> None:
    assert packets_touched("/things/v1/things/HS1") == Touch(things_packets.THING, "HS1")
    assert packets_touched("/things/v1/ipProfiles/PF1") == Touch(things_packets.PROFILE, "PF1")
    assert packets_touched("/things/v1/thingsGroups/TG1") == Touch(things_packets.GROUP, "TG1")
    assert packets_touched("/things/v1/networks/PN1") == Touch(things_packets.NETWORK, "PN1")
    assert packets_touched("/things/v1/networks/PN1/natRules/NR1") == Touch(things_packets.NETWORK, "PN1")
    assert packets_touched("/things/v1/networks/PN1/ipPools") == Touch(things_packets.NETWORK, "PN1")
    # A new group may bring its profile to a Network: everything is re-read.
    assert packets_touched("/things/v1/thingsGroups") is None
    for nothing in ("/things/v1/things/HS1/sms", "/things/v1/bulkActions", "/things/v1/ipProfiles"):
        assert packets_touched(nothing) is False, nothing


def network(sid: str, **things: tuple[str, str | None]) -> NetworkPackets:
    return NetworkPackets(
        sid=sid,
        isolation=False,
        public_address="127.100.0.1",
        pools=("10.30.0.0/24",),
        uplink_routes=(),
        profiles={"PFa": Profile(), "PFb": Profile(default_action="deny")},
        profile_of_imsi={imsi: "PFa" for imsi, _ in things.values()},
        locked={address: "PFa" for _, address in things.values() if address},
        things=things,
    )


def test_a_thing_moves_between_networks_as_its_entries_only() -> None:
    one = network("PN1", HS1=("001", "10.30.0.5"), HS2=("002", None))
    moved = Placement("HS1", "001", "PN2", "PFb", "10.30.0.9")
    left = one.without_thing("HS1")
    assert left.things == {"HS2": ("002", None)}
    assert left.profile_of_imsi == {"002": "PFa"} and left.locked == {}
    arrived = network("PN2").with_thing(moved)
    assert arrived.things == {"HS1": ("001", "10.30.0.9")}
    assert arrived.profile_of_imsi == {"001": "PFb"} and arrived.locked == {"10.30.0.9": "PFb"}
    # Placed again as it is: an equal Network (nothing to apply); unlocked: its locked address goes.
    assert arrived.with_thing(moved) == arrived
    unlocked = arrived.with_thing(Placement("HS1", "001", "PN2", "PFb", None))
    assert unlocked.locked == {} and unlocked.profile_of_imsi == {"001": "PFb"}
    assert one.without_thing("HS9") is one
