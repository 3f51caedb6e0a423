"""The proposal grammar (domain/ipsec.py) on its own: what it accepts is normalised, and each refusal names the
keyword or the missing part. tests/e2e/test_vpn_proposals.py holds it against a real charon."""

from __future__ import annotations

import pytest

from cellplane.domain import ipsec


def test_accepted_lists_are_normalised() -> None:
    assert ipsec.check(" AES256-SHA256-MODP2048 , aes128gcm16-prfsha256-ecp256 ", "ike") == (
        "aes256-sha256-modp2048,aes128gcm16-prfsha256-ecp256"
    )
    assert ipsec.check("aes256gcm16-esn", "esp") == "aes256gcm16-esn"
    assert ipsec.check("default", "esp") == "default"


@pytest.mark.parametrize(
    ("value", "kind", "said"),
    [
        ("aes256-sha256", "ike", "no key exchange method"),
        ("aes256-sha256-modp2047", "ike", "'modp2047' is not an algorithm"),
        ("aes256gcm16-modp2048", "ike", "needs a PRF"),
        ("null-sha256-modp2048", "ike", "null encryption"),
        ("aes256-sha256-modp2048-esn", "ike", "ESP only"),
        ("aes128gmac-prfsha256-modp2048", "ike", "ESP only"),
        ("aes256", "esp", "no integrity"),
        ("aes256gcm16-aes256-sha256", "esp", "mixes AEAD"),
        ("sha256", "esp", "no encryption"),
        ("aes256gcm16,,aes128gcm16", "esp", "empty proposal"),
        ("aes256 gcm16", "esp", "not an algorithm keyword"),
        ("", "esp", "non-empty"),
        (42, "esp", "non-empty"),
        ("a" * 600, "esp", "at most"),
    ],
)
def test_refusals_say_why(value: object, kind: str, said: str) -> None:
    with pytest.raises(ipsec.ProposalError, match=said):
        ipsec.check(value, kind)
