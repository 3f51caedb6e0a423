"""Settings refuse a configuration that could only fail later, at bind time, with a bare EADDRINUSE."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from cellplane.runtime.settings import Settings


def test_two_enabled_elements_on_one_udp_port_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="gateway_dae_port and aaa_auth_port are both UDP port 4000"):
        Settings(aaa_auth_port=4000, gateway_dae_port=4000)
    with pytest.raises(ValidationError, match=re.escape("gtpu_port and gtpc_port are both UDP port 2123 on 127.0.0.1")):
        Settings(gtpu_port=2123)


def test_ports_that_cannot_collide_are_accepted() -> None:
    # 0 lets the kernel choose; elements turned off bind nothing; different hosts are different sockets.
    assert Settings(gtpc_port=0, gtpu_port=0).gtpc_port == 0
    assert Settings(aaa_enabled=False, aaa_auth_port=2123).aaa_auth_port == 2123
    assert Settings(aaa_host="127.0.0.2", aaa_auth_port=2123).aaa_auth_port == 2123
    defaults = Settings()
    assert len({defaults.aaa_auth_port, defaults.aaa_acct_port, defaults.gtpc_port, defaults.gtpu_port}) == 4


def test_roles_select_what_a_process_runs() -> None:
    """Issue 21: `--role` / CELLPLANE_ROLES; a role left out turns its elements off (their ports are not bound)."""
    assert Settings().roles == "api,aaa,gateway,workers"
    api = Settings(roles="api")
    assert (api.aaa_enabled, api.gateway_enabled, api.has_role("workers")) == (False, False, False)
    network = Settings(roles=" Workers, gateway ,aaa")  # any order and case, written back in one
    assert network.roles == "aaa,gateway,workers" and network.aaa_enabled and network.gateway_enabled
    # A role left out frees its ports for another process on this machine.
    assert Settings(roles="aaa", gtpc_port=1812).gtpc_port == 1812
    with pytest.raises(ValidationError, match=re.escape("roles must be some of api, aaa, gateway, workers")):
        Settings(roles="api,radius")
    with pytest.raises(ValidationError, match="roles must be"):
        Settings(roles=" , ")
    with pytest.raises(ValidationError, match="the emulator runs beside the gateway"):
        Settings(roles="api", emulator_enabled=True)
