"""cellplane's Private Extension values (TS 29.274 §8.67): what our gateway and emulated SGW tell each other
beyond the standard IEs, in a form any other peer ignores.

A Private Extension IE carries an enterprise number and a vendor-defined value. cellplane has no IANA
Private Enterprise Number of its own, so it uses 32473, the number IANA reserves for documentation and
examples (RFC 5612): it cannot collide with a real vendor's extension. Our value is one tag octet and data:

  tag 1  the reason a Create Session was refused, UTF-8 "<platform code> <text>" (the AAA's Reply-Message,
         docs/NETWORK.md), in a rejecting Create Session Response;
  tag 2  the UDP port of the sender's S5/S8-U GTP-U endpoint (2 octets), in a Create Session Request: the
         emulated SGW listens on an ephemeral port, where a real one listens on 2152 (TS 29.281 §4.4.2.0).
"""

from __future__ import annotations

import re

from cellplane.protocols.gtp.ies import PrivateExtension

ENTERPRISE_ID = 32473  # RFC 5612: IANA's example enterprise number
TAG_REASON = 1
TAG_GTPU_PORT = 2
MAX_REASON_OCTETS = 1000
_CODED = re.compile(r"(\d+) (.*)", re.DOTALL)


def reason_extension(reason: str) -> PrivateExtension:
    """The refusal reason as a Private Extension; cut to MAX_REASON_OCTETS (on a character boundary)."""
    data = reason.encode("utf-8")[:MAX_REASON_OCTETS].decode("utf-8", "ignore").encode("utf-8")
    return PrivateExtension(ENTERPRISE_ID, bytes((TAG_REASON,)) + data)


def reason_of(extension: PrivateExtension | None) -> str | None:
    """The refusal reason in one of our Private Extensions, or None (absent, another vendor's, another tag)."""
    if extension is None or extension.enterprise_id != ENTERPRISE_ID or extension.value[:1] != bytes((TAG_REASON,)):
        return None
    return extension.value[1:].decode("utf-8", "replace")


def split_reason(reason: str) -> tuple[int | None, str]:
    """("<code> <text>") -> (code, text); a reason without a leading code gives (None, reason)."""
    match = _CODED.fullmatch(reason)
    if match is None:
        return None, reason
    return int(match.group(1)), match.group(2)


def gtpu_port_extension(port: int) -> PrivateExtension:
    if not 0 < port <= 0xFFFF:
        raise ValueError(f"UDP port must be 1 to 65535, not {port!r}")
    return PrivateExtension(ENTERPRISE_ID, bytes((TAG_GTPU_PORT,)) + port.to_bytes(2, "big"))


def gtpu_port_of(extension: PrivateExtension | None) -> int | None:
    """The GTP-U port in one of our Private Extensions, or None."""
    if extension is None or extension.enterprise_id != ENTERPRISE_ID or len(extension.value) != 3:
        return None
    if extension.value[0] != TAG_GTPU_PORT:
        return None
    port = int.from_bytes(extension.value[1:], "big")
    return port or None
