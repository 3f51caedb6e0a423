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
