"""The Things rules, pure: the state machine, coverage, configuration values, ETags, and the AAA's private pools."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cellplane.domain import things
from cellplane.domain import things_config as config
from cellplane.domain.errors import InvalidParameter, PreconditionFailed
from cellplane.domain.networks import catalogue
from cellplane.domain.policy import RejectCode, SimPolicy, check_session
from cellplane.network.aaa.private_pools import PrivateAddresses


def test_the_state_machine_of_things_md() -> None:
    assert things.check_transition("new", None, "ACTIVE") == "active"
    assert things.check_transition("active", None, "SUSPENDED") == "inactive"
    assert things.check_transition("inactive", None, "ACTIVE") == "active"
    for stored in ("new", "active", "inactive"):
        assert things.check_transition(stored, None, "RETIRED") == "canceled"
    assert things.check_transition("active", None, "ACTIVE") is None
    for stored, target in (
        ("new", "SUSPENDED"),
        ("canceled", "ACTIVE"),
        ("canceled", "PROVISIONED"),
        ("active", "PROVISIONED"),
    ):
        with pytest.raises(InvalidParameter) as refused:
            things.check_transition(stored, None, target)
        assert refused.value.parameter == "state"
    with pytest.raises(InvalidParameter):
        things.check_transition("scheduled", "active", "SUSPENDED")  # one change at a time
    assert things.state_of("scheduled", "inactive") == "SUSPENDED"


@pytest.mark.parametrize(
    "value,field",
    [
        ("10.0.0.1/24", "cidr"),
        ("10.0.0.0", "cidr"),
        ("300.0.0.0/24", "cidr"),
        (24, "cidr"),
        ("10.0.0.0/8", "cidr"),  # wider than /16
        ("10.0.0.0/31", "cidr"),  # no two devices
    ],
)
def test_a_pool_cidr_is_checked(value: object, field: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        config.parse_cidr(value, "cidr", prefixes=config.POOL_PREFIXES)
    assert refused.value.parameter == field


@pytest.mark.parametrize("value", ["0", "65536", "90-80", "80-", "-80", "eighty", "", "1-2-3"])
def test_port_ranges_are_checked(value: str) -> None:
    with pytest.raises(InvalidParameter):
        config.parse_ports(value, "remotePorts")


def test_a_profile_with_one_bad_rule_is_refused_naming_that_rule() -> None:
    good = {"action": "allow", "protocol": "tcp", "remoteCidr": "10.0.0.0/8", "remotePorts": "8000-8100"}
    assert config.parse_rules([good], "outbound")[0].remote_ports == "8000-8100"
    with pytest.raises(InvalidParameter) as refused:
        config.parse_rules([good, {**good, "remoteCidr": "10.0.0.0/33"}], "outbound")
    assert refused.value.parameter == "outbound[1].remoteCidr"
    assert (
        config.overlapping(config.parse_cidr("10.0.0.128/25", "cidr"), ["10.1.0.0/24", "10.0.0.0/24"]) == "10.0.0.0/24"
    )


def test_an_etag_changes_with_the_resource_and_if_match_guards_it() -> None:
    earlier, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    tag = things.etag("PN1", earlier)
    assert tag != things.etag("PN1", later) and tag.startswith('"')
    things.check_if_match(tag, "PN1", earlier, "Network")
    things.check_if_match(f'W/{tag}, "other"', "PN1", earlier, "Network")
    things.check_if_match("*", "PN1", later, "Network")
    with pytest.raises(PreconditionFailed):
        things.check_if_match(tag, "PN1", later, "Network")


def thing(imsi: str, network: str = "PN1", pools: tuple[str, ...] = ("10.9.0.0/30",), **extra: object) -> SimPolicy:
    values: dict[str, object] = {"things_network_sid": network, "things_pools": pools, "status": "active", **extra}
    return SimPolicy(imsi=imsi, sim_sid=f"TH{imsi}", iccid=imsi, account_sid="AC1", product="things", **values)  # type: ignore[arg-type]


def test_coverage_and_services_decide_a_things_attach() -> None:
    now = datetime.now(UTC)
    nl, de = catalogue().by_code("204", "08"), catalogue().by_code("262", "01")
    assert check_session(thing("1"), nl, now, radio_link="LTE-M").accepted
    assert check_session(thing("1"), de, now).code == RejectCode.NOT_COVERED
    assert check_session(thing("1"), nl, now, radio_link="NB-IoT").code == RejectCode.RADIO_NOT_SUPPORTED
    assert check_session(thing("1", status="inactive"), nl, now).code == RejectCode.SIM_INACTIVE
    assert check_session(thing("1", status="new"), nl, now).code == RejectCode.SIM_INACTIVE
    assert check_session(thing("1", services_data=False), nl, now).code == RejectCode.DATA_DISABLED


def test_a_locked_address_is_never_given_to_another_thing_and_two_networks_share_a_cidr() -> None:
    pools = PrivateAddresses(lease_ttl=60)
    owner = thing("1", locked_ip="10.9.0.1")
    others = [thing(str(n)) for n in (2, 3)]
    for policy in (owner, *others):
        pools.configure(policy, policy.imsi)
    assert pools.allocate(others[0], "2", 0.0) == "10.9.0.2"
    assert pools.allocate(others[1], "3", 0.0) is None  # the pool is full but for the locked address
    assert pools.allocate(owner, "1", 0.0) == "10.9.0.1"
    assert pools.allocate(owner, "1", 1.0) == "10.9.0.1"
    # Another account's network with the same CIDR hands out the same addresses, independently.
    elsewhere = thing("9", network="PN2")
    pools.configure(elsewhere, "9")
    assert pools.allocate(elsewhere, "9", 0.0) == "10.9.0.1"
    # Unlocked, the address goes back to the pool once its lease lapses.
    unlocked = thing("1")
    pools.configure(unlocked, "1")
    pools.expire(120.0)
    assert pools.allocate(others[1], "3", 121.0) in {"10.9.0.1", "10.9.0.2"}
