"""UniqueName rules shared by every resource that has one (Sims, Fleets, NetworkAccessProfiles, RatePlans).

A unique name is a second key: it must never be mistaken for a sid, for "no value", or be impossible to type back.
"""

from __future__ import annotations

import unicodedata

from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import is_sid

MAX_LENGTH = 64
PARAMETER = "UniqueName"
# Words a reference parameter reads as "none" (`Fleet=null` takes a SIM out of its fleet), so no name may be one.
RESERVED = frozenset({"null", "none", "undefined"})
# Invisible format characters are refused (zero-width spaces, bidi overrides: two names that look alike) but the
# zero-width joiner, which emoji sequences need.
_ZERO_WIDTH_JOINER = "\u200d"


def _is_control(char: str) -> bool:
    category = unicodedata.category(char)
    return category in ("Cc", "Zl", "Zp") or (category == "Cf" and char != _ZERO_WIDTH_JOINER)


def check_unique_name(name: str, *, code: int | None = None, parameter: str = PARAMETER) -> None:
    """Raise InvalidParameter naming `parameter` unless `name` can serve as an unambiguous key.

    The empty string is not checked here: it means "clear the name" to every caller."""
    if len(name) > MAX_LENGTH:
        raise InvalidParameter(parameter, f"{parameter} must be at most {MAX_LENGTH} characters", code=code)
    if any(_is_control(char) for char in name):
        raise InvalidParameter(parameter, f"{parameter} must not contain control characters", code=code)
    if not name.strip():
        raise InvalidParameter(parameter, f"{parameter} must not be blank", code=code)
    if name.strip().lower() in RESERVED:
        raise InvalidParameter(parameter, f"{parameter} must not be the reserved word {name.strip()!r}", code=code)
    if is_sid(name.strip()):
        # A name shaped like a sid could never be used to address its resource.
        raise InvalidParameter(parameter, f"{parameter} must not look like a sid", code=code)
