"""RADIUS's MD5 constructions: authenticators, Message-Authenticator and User-Password hiding.

- Request Authenticator of Accounting-, Disconnect- and CoA-Request (RFC 2866 §3, RFC 5176 §3.3):
  MD5(Code + Identifier + Length + 16 zero octets + Attributes + Secret).
- Response Authenticator of every response (RFC 2865 §3, RFC 2866 §3, RFC 5176 §3.3):
  MD5(Code + Identifier + Length + Request Authenticator + Attributes + Secret).
- Message-Authenticator (RFC 3579 §3.2): HMAC-MD5 keyed by the secret over the whole packet with the attribute's own
  value zeroed and the Authenticator field holding the authenticator `message_authenticator_vector` names.
- User-Password (RFC 2865 §5.2): the password, NUL-padded to a multiple of 16 octets, XORed block by block with
  MD5(Secret + previous block), the first "previous block" being the Request Authenticator.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from .constants import Code
from .errors import InvalidAttribute, MalformedPacket

ZERO_AUTHENTICATOR = bytes(16)
MAX_PASSWORD_SIZE = 128  # RFC 2865 §5.2

_md5 = hashlib.md5
_compare = hmac.compare_digest
_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104 §2
_OPAD = bytes(b ^ 0x5C for b in range(256))

# Packets whose Authenticator field is all zeros while their Message-Authenticator is computed: requests whose
# Request Authenticator is itself computed over the packet (RFC 5176 §3.3, RFC 3579 §3.2 as FreeRADIUS applies it to
# accounting). Every other packet uses its own (random) Request Authenticator, or, for a response, the request's.
_ZERO_VECTOR_CODES = frozenset(
    {Code.ACCOUNTING_REQUEST, Code.ACCOUNTING_RESPONSE, Code.DISCONNECT_REQUEST, Code.COA_REQUEST}
)


def computed_request_authenticator(header: bytes, attributes: bytes, secret: bytes) -> bytes:
    """The Request Authenticator of an Accounting-, Disconnect- or CoA-Request; `header` is Code+Identifier+Length."""
    return _md5(header + ZERO_AUTHENTICATOR + attributes + secret).digest()


def response_authenticator(header: bytes, request_authenticator: bytes, attributes: bytes, secret: bytes) -> bytes:
    """The Response Authenticator of a response; `header` is the response's Code+Identifier+Length."""
    return _md5(header + request_authenticator + attributes + secret).digest()


def message_authenticator_vector(code: int, own: bytes, request: bytes | None = None) -> bytes:
    """The 16 octets the Authenticator field holds while a Message-Authenticator is computed.

    `own` is the packet's Authenticator; `request` the Request Authenticator of the request a response answers.
    """
    if code in _ZERO_VECTOR_CODES:
        return ZERO_AUTHENTICATOR
    if request is not None:
        return request
    return own


@lru_cache(maxsize=1024)
def _hmac_md5_pads(secret: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    # RFC 2104 keyed once per secret: the inner and outer MD5 states after the padded key. hmac.digest() repeats
    # this key schedule (and an OpenSSL lookup) on every call, which costs more than the hashing of a packet.
    key = (secret if len(secret) <= 64 else _md5(secret).digest()).ljust(64, b"\0")
    return _md5(key.translate(_IPAD)), _md5(key.translate(_OPAD))


def hmac_md5(secret: bytes, message: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104), the same as hmac.digest(secret, message, "md5"), with the key schedule cached."""
    inner, outer = _hmac_md5_pads(secret)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.digest()


def message_authenticator(secret: bytes, packet: bytes) -> bytes:
    """HMAC-MD5 of `packet`, which must already hold the right vector and a zeroed Message-Authenticator."""
    return hmac_md5(secret, packet)


def verify_message_authenticator(secret: bytes, raw: bytes, offset: int, vector: bytes) -> bool:
    """Check the Message-Authenticator whose 16-octet value starts at `offset` of the packet `raw`."""
    signed = raw[:4] + vector + raw[20:offset] + ZERO_AUTHENTICATOR + raw[offset + 16 :]
    return _compare(hmac_md5(secret, signed), raw[offset : offset + 16])


def same(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two digests."""
    return _compare(a, b)


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(16)


def hide_password(password: str | bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Hide a User-Password for an Access-Request with this Request Authenticator (RFC 2865 §5.2)."""
    plain = password.encode() if isinstance(password, str) else bytes(password)
    if len(plain) > MAX_PASSWORD_SIZE:
        raise InvalidAttribute(f"User-Password longer than {MAX_PASSWORD_SIZE} octets")
    padded = plain.ljust(max(16, -(-len(plain) // 16) * 16), b"\0")
    hidden = bytearray()
    previous = authenticator
    for start in range(0, len(padded), 16):
        previous = _xor16(padded[start : start + 16], _md5(secret + previous).digest())
        hidden += previous
    return bytes(hidden)


def reveal_password(hidden: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Recover a hidden User-Password, NUL padding removed; raises MalformedPacket on an impossible length."""
    if not hidden or len(hidden) % 16 or len(hidden) > MAX_PASSWORD_SIZE:
        raise MalformedPacket(f"hidden User-Password of {len(hidden)} octets")
    plain = bytearray()
    previous = authenticator
    for start in range(0, len(hidden), 16):
        block = hidden[start : start + 16]
        plain += _xor16(block, _md5(secret + previous).digest())
        previous = block
    return bytes(plain).rstrip(b"\0")
