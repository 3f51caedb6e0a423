"""RADIUS codec errors.

The tree:

    RadiusError             every error of this package
    ├── MalformedPacket     received bytes that are not a valid RADIUS packet (the only error `decode` raises)
    └── InvalidAttribute    an attribute we were asked to send has no definition or a value that does not fit

A server drops and counts a `MalformedPacket` (RFC 2865 §3: invalid packets are silently discarded); an
`InvalidAttribute` is a bug in the caller.
"""

from __future__ import annotations


class RadiusError(Exception):
    """Base of every RADIUS codec error."""


class MalformedPacket(RadiusError):
    """The received bytes are not a well-formed RADIUS packet: bad lengths, truncated or ill-typed attributes."""


class InvalidAttribute(RadiusError, ValueError):
    """An attribute to encode is unknown, or its value has the wrong type, range or length."""
