"""The proposal grammar we check before storing a tunnel (domain/ipsec.py) against charon itself: each proposal is
loaded into a real charon over VICI. What the grammar accepts, charon accepts; what charon refuses, the grammar
refuses (charon is never handed what it refuses). The grammar is stricter in one listed way: ESP encryption without
integrity, which charon loads but RFC 8221 forbids. As root, with strongSwan installed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cellplane.domain import ipsec
from cellplane.network.dataplane.charon import Charon, CharonError, Timing
from tests.support.vpn import scratch_namespace, vpn_unavailable

REASON = vpn_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

IKE = [
    "aes256-sha256-modp2048",
    "aes128-sha1-modp1024,aes256-sha512-ecp384",
    "aes128gcm16-prfsha256-ecp256",
    "aes256gcm16-sha384-x25519",
    "chacha20poly1305-prfsha256-curve25519",
    "3des-md5-modp1536",
    "camellia256-aesxcbc-ecp512bp",
    "aes256ctr-sha2_256-modp3072",
    "default",
    "aes256-sha256",  # no key exchange method
    "aes256-modp2048",  # no integrity
    "aes256gcm16-modp2048",  # AEAD without a PRF
    "aes256-sha256-modp2047",  # no such group
    "aes256-sha257-modp2048",  # no such integrity
    "sha256-modp2048",  # no encryption
    "aes256gcm16-aes256-sha256-modp2048",  # AEAD and classic mixed
]
STRICTER = {"aes256"}
ESP = [
    "aes256gcm16",
    "aes128-sha256",
    "aes256-sha256-modp2048",
    "chacha20poly1305",
    "null-sha256",
    "aes128gmac",
    "aes256gcm16-esn",
    "aes256gcm16-ecp256-noesn",
    "aes256",  # no integrity: charon loads it, we refuse it (STRICTER)
    "aes256-sha256-prfsha256",  # a PRF: charon ignores it in ESP
    "blowfish999-sha1",  # no such cipher
    "sha256",  # no encryption
]


@pytest.fixture(scope="module")
def charon() -> Iterator[tuple[Charon, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    with scratch_namespace() as namespace:
        started = Charon(namespace, Timing())
        loop.run_until_complete(started.start())
        try:
            yield started, loop
        finally:
            loop.run_until_complete(started.stop())
            loop.close()


def charon_takes(running: tuple[Charon, asyncio.AbstractEventLoop], kind: str, proposal: str) -> bool:
    charon, loop = running
    child = {"local_ts": ["10.1.0.0/24"], "remote_ts": ["10.2.0.0/24"]}
    connection = {"version": "2", "remote_addrs": ["192.0.2.1"], "local": {"auth": "psk"}, "remote": {"auth": "psk"}}
    if kind == "ike":
        connection["proposals"] = proposal.split(",")
    else:
        child["esp_proposals"] = proposal.split(",")
    connection["children"] = {"probe": child}
    try:
        loop.run_until_complete(charon.load("probe", connection, "probe-secret", ["192.0.2.1"]))
    except CharonError:
        return False
    loop.run_until_complete(charon.unload("probe"))
    return True


def grammar_takes(kind: str, proposal: str) -> bool:
    try:
        ipsec.check(proposal, kind)
    except ipsec.ProposalError:
        return False
    return True


@pytest.mark.parametrize("proposal", IKE)
def test_ike_proposals_are_refused_exactly_when_charon_refuses_them(charon: Any, proposal: str) -> None:
    assert grammar_takes("ike", proposal) == charon_takes(charon, "ike", proposal)


@pytest.mark.parametrize("proposal", ESP)
def test_esp_proposals_are_refused_when_charon_refuses_them(charon: Any, proposal: str) -> None:
    expected = charon_takes(charon, "esp", proposal) and proposal not in STRICTER
    assert grammar_takes("esp", proposal) == expected
