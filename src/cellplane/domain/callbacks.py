"""The HTTP methods a callback may use, and how each carries its parameters.

The seed's IP Command example (seeds/001) sends `CallbackMethod=HEAD` and lists HEAD, GET, POST, PATCH, PUT and
DELETE as the values; where the seed and the spec's prose ("GET or POST") differ, the seed is the contract.
"""

from __future__ import annotations

CALLBACK_METHODS = ("HEAD", "GET", "POST", "PATCH", "PUT", "DELETE")

# Methods whose request has no body: the parameters go in the query string, as the platform does for GET.
BODYLESS_METHODS = frozenset({"HEAD", "GET", "DELETE"})


def carries_body(method: str) -> bool:
    return method.upper() not in BODYLESS_METHODS
