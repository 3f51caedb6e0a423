"""strongSwan's proposal grammar (swanctl.conf `proposals`, `esp_proposals`), checked before anything reaches charon.

A proposal list is comma-separated proposals; a proposal is algorithm keywords joined by `-` (`aes256-sha256-modp2048`,
`aes256gcm16-prfsha384-ecp384`), or `default`. charon refuses, at load time, a proposal with an unknown keyword, one
that mixes AEAD and classic ciphers, a classic one without integrity, an IKE one without a key exchange method or an
AEAD IKE one without a PRF (an integrity keyword names one there): so do we, with the keyword at fault, and the
tunnel is never half-configured in charon.
The keywords are those of strongSwan 5.9 (docs.strongswan.org "IKEv2 Cipher Suites") that the plugins we load
(openssl, aes, sha1, sha2, hmac, gmp, curve25519, kdf) implement.
"""

from __future__ import annotations

import re

_BITS = ("128", "192", "256")
CLASSIC = {
    "aes",
    *(f"aes{b}" for b in _BITS),
    *(f"aes{b}ctr" for b in _BITS),
    *(f"camellia{b}" for b in _BITS),
    "camellia",
    *(f"camellia{b}ctr" for b in _BITS),
    "3des",
    "cast128",
    "blowfish",
    *(f"blowfish{b}" for b in _BITS),
}
AEAD = {
    "chacha20poly1305",
    *(f"aes{b}gcm{i}" for b in _BITS for i in ("", "8", "12", "16", "64", "96", "128")),
    *(f"aes{b}ccm{i}" for b in _BITS for i in ("", "8", "12", "16", "64", "96", "128")),
    *(f"camellia{b}ccm{i}" for b in _BITS for i in ("8", "12", "16", "64", "96", "128")),
    *(f"aes{b}gmac" for b in _BITS),  # ESP only: integrity without encryption, counted as an AEAD cipher
}
ESP_ONLY = {"null", *(f"aes{b}gmac" for b in _BITS)}
INTEGRITY = {
    "md5",
    "md5_128",
    "sha1",
    "sha",
    "sha1_160",
    "aesxcbc",
    "aescmac",
    "sha256",
    "sha2_256",
    "sha256_96",
    "sha2_256_96",
    "sha384",
    "sha2_384",
    "sha512",
    "sha2_512",
}
PRF = {"prfmd5", "prfsha1", "prfaesxcbc", "prfaescmac", "prfsha256", "prfsha384", "prfsha512"}
KEY_EXCHANGE = {
    *(f"modp{n}" for n in ("768", "1024", "1536", "2048", "3072", "4096", "6144", "8192")),
    "modp1024s160",
    "modp2048s224",
    "modp2048s256",
    *(f"ecp{n}" for n in ("192", "224", "256", "384", "521")),
    *(f"ecp{n}bp" for n in ("224", "256", "384", "512")),
    "curve25519",
    "x25519",
    "curve448",
    "x448",
}
ESN = {"esn", "noesn"}
_KEYWORD = re.compile(r"[a-z0-9_]+")
MAX_LENGTH = 512


class ProposalError(ValueError):
    """Why charon would refuse the proposal list."""


def check(value: object, kind: str) -> str:
    """The proposal list `value` of `kind` ("ike" or "esp"), normalised (lower case, no blanks); ProposalError
    otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ProposalError("must be a non-empty string of strongSwan proposals, e.g. aes256-sha256-modp2048")
    text = value.strip().lower()
    if len(text) > MAX_LENGTH:
        raise ProposalError(f"must be at most {MAX_LENGTH} characters")
    proposals = [p.strip() for p in text.split(",")]
    for proposal in proposals:
        _check_one(proposal, kind)
    return ",".join(proposals)


def _check_one(proposal: str, kind: str) -> None:
    if proposal == "default":
        return
    if not proposal:
        raise ProposalError("has an empty proposal (two commas, or one at an end)")
    classic: list[str] = []
    aead: list[str] = []
    integrity = prf = key_exchange = False
    for word in proposal.split("-"):
        if not _KEYWORD.fullmatch(word):
            raise ProposalError(f"{proposal!r}: {word!r} is not an algorithm keyword")
        if word in CLASSIC or word == "null":
            if word == "null" and kind == "ike":
                raise ProposalError(f"{proposal!r}: null encryption is not allowed in IKE proposals")
            classic.append(word)
        elif word in AEAD:
            if word in ESP_ONLY and kind == "ike":
                raise ProposalError(f"{proposal!r}: {word} is for ESP only")
            aead.append(word)
        elif word in INTEGRITY:
            integrity = True
        elif word in PRF:
            prf = True  # charon ignores a PRF in an ESP proposal
        elif word in KEY_EXCHANGE:
            key_exchange = True
        elif word in ESN:
            if kind == "ike":
                raise ProposalError(f"{proposal!r}: {word} is for ESP only")
        else:
            raise ProposalError(f"{proposal!r}: {word!r} is not an algorithm strongSwan knows")
    if not classic and not aead:
        raise ProposalError(f"{proposal!r} has no encryption algorithm")
    if classic and aead:
        raise ProposalError(f"{proposal!r} mixes AEAD ({aead[0]}) and classic ({classic[0]}) encryption")
    if classic and not integrity:
        # charon would load an ESP proposal without integrity; RFC 8221 forbids it, and so do we.
        raise ProposalError(f"{proposal!r} has no integrity algorithm (required with {classic[0]})")
    if kind == "ike":
        if not key_exchange:
            raise ProposalError(f"{proposal!r} has no key exchange method (modp2048, ecp256, curve25519, ...)")
        if aead and not (prf or integrity):
            raise ProposalError(f"{proposal!r}: an AEAD IKE proposal needs a PRF (prfsha256, ...)")
