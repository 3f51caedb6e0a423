"""Domain errors: what went wrong, in words and a stable platform code; never an HTTP status.

The tree:

    CellplaneError                 every error the rules raise
    ├── InvalidParameter           a parameter is missing, malformed or out of range (21xxx / 20001)
    │   └── InvalidPageToken       a PageToken that does not decode (21481)
    ├── AuthenticationFailed       no or bad credentials (20003)
    │   └── InvalidToken           an expired, revoked or malformed Bearer token (RFC 6750 invalid_token)
    ├── NotFound                   no such resource visible to the caller (20404)
    ├── Conflict                   the request clashes with the resource's state (unique names, ...)
    │   └── ConcurrentChange       another change is in flight or won the race for the same row (20409)
    ├── RegistrationError          a Super SIM cannot be claimed (83001/83002/83003)
    ├── InvalidTransition          a status change the lifecycle does not allow
    ├── RateLimited                a credential sent too many requests (20429)
    ├── PreconditionFailed         an If-Match that no longer matches the resource (412)
    └── Unauthorized               the caller may not do this (rules, transfers)
        └── PermissionDenied       the caller's role lacks the route's permission (20403)

`api/wire/errors.py` maps each type to an HTTP status; the network side maps them to
RADIUS Reply-Messages and connection events.
"""

from __future__ import annotations


class CellplaneError(Exception):
    """Base of every rule violation; `code` is the platform's public error code."""

    code: int = 20001

    def __init__(self, message: str, *, code: int | None = None, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter
        if code is not None:
            self.code = code


class InvalidParameter(CellplaneError):
    code = 20001

    def __init__(self, parameter: str, message: str | None = None, *, code: int | None = None) -> None:
        super().__init__(message or f"Invalid parameter: {parameter}", code=code, parameter=parameter)


class MissingParameter(InvalidParameter):
    def __init__(self, parameter: str, *, code: int | None = None) -> None:
        super().__init__(parameter, f"Missing required parameter {parameter} in the post body", code=code)


class InvalidPageToken(InvalidParameter):
    code = 21481

    def __init__(self) -> None:
        super().__init__("PageToken", "Invalid PageToken: it does not belong to this list", code=21481)


class AuthenticationFailed(CellplaneError):
    code = 20003


class InvalidToken(AuthenticationFailed):
    """A Bearer token that is expired, revoked or malformed: answered with RFC 6750's `invalid_token`."""

    def __init__(self, message: str = "Authentication failed: the access token is expired, revoked or malformed"):
        super().__init__(message)


class NotFound(CellplaneError):
    code = 20404

    def __init__(self, resource: str, key: str) -> None:
        super().__init__(f"The requested resource {resource} {key} was not found")
        self.resource = resource
        self.key = key


class Conflict(CellplaneError):
    code = 20001


class ConcurrentChange(Conflict):
    """The resource has a change in flight, or changed between our read and our conditional write: retry."""

    code = 20409


class RegistrationError(CellplaneError):
    code = 83002


class InvalidTransition(CellplaneError):
    code = 20001


class RateLimited(CellplaneError):
    code = 20429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests")
        self.retry_after = retry_after


class PreconditionFailed(CellplaneError):
    """The resource changed since the client read it (its ETag no longer matches If-Match): nothing was done."""

    code = 20412

    def __init__(self, resource: str, key: str) -> None:
        super().__init__(f"{resource} {key} has changed since it was read: its ETag no longer matches If-Match")
        self.parameter = "If-Match"


class Unauthorized(CellplaneError):
    code = 20403


class PermissionDenied(Unauthorized):
    """The caller's role does not grant the permission the route declares (domain/permissions.py)."""

    def __init__(self, role: str, permission: str) -> None:
        super().__init__(f"Forbidden: the role '{role}' lacks the permission '{permission}'")
        self.role = role
        self.permission = permission


class OAuthError(CellplaneError):
    """A token request refused as RFC 6749 §5.2 says: `error` is one of its codes (invalid_request,
    invalid_client, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope)."""

    code = 20003

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
