"""The UE pool cut into slices (network/aaa/pool.py `restrict`): addresses come only from granted slices while
their time lasts, a revoked slice's idle leases are forgotten, and addresses held by sessions stay taken."""

from __future__ import annotations

from cellplane.network.aaa.pool import AddressPool


def test_addresses_come_only_from_granted_slices_until_their_time() -> None:
    pool = AddressPool("10.99.0.0/24", lease_ttl=10)
    assert pool.restrict(26) == 4
    assert pool.allocate("a", 0.0) is None  # no slice: nothing to hand out
    pool.grant(2, until=100.0)
    given = [pool.allocate(f"sim{i}", 1.0) for i in range(64)]
    assert given[0] == "10.99.0.128" and given[63] == "10.99.0.191"
    assert pool.allocate("one-more", 1.0) is None  # the slice is full; slice 3 is not ours
    pool.grant(3, until=100.0)
    assert pool.allocate("one-more", 1.0) == "10.99.0.192"
    assert pool.allocate("late", 150.0) is None  # past the slices' time: nothing, even with room left


def test_a_revoked_slice_forgets_idle_leases_and_keeps_held_ones() -> None:
    pool = AddressPool("10.99.0.0/24", lease_ttl=10)
    pool.restrict(26)
    pool.grant(0, until=100.0)
    idle, busy = pool.allocate("idle", 1.0), pool.allocate("busy", 1.0)
    pool.hold("busy", busy, "session", 1.0)
    pool.revoke(0)
    assert pool.address_of("idle") is None
    assert pool.address_of("busy") == busy
    pool.grant(0, until=100.0)  # taken again later: the held address is skipped, the idle one given anew
    again = {pool.allocate(f"n{i}", 2.0) for i in range(3)}
    assert busy not in again and idle in again


def test_another_nodes_addresses_are_never_given() -> None:
    pool = AddressPool("10.99.0.0/24", lease_ttl=10)
    pool.restrict(26)
    pool.hold("theirs", "10.99.0.1", "their-session", 0.0)  # loaded from the database when the slice was taken
    pool.grant(0, until=100.0)
    assert pool.allocate("mine", 1.0) == "10.99.0.2"
