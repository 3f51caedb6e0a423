"""The console's request plumbing: the session cookie, CSRF, the permission guard, templates, errors as HTML.

Pages and actions are plain functions wrapped by `page(permission)` or `action(permission)`: the wrapper finds the
signed-in person (or sends them to sign in), checks the role with domain/permissions.py on the server whatever
the page showed, checks the CSRF token of every POST, and renders a refused or invalid request as HTML.
"""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cellplane.domain.caller import Caller
from cellplane.domain.errors import CellplaneError, NotFound
from cellplane.domain.permissions import allows
from cellplane.domain.permissions import permission as check_permission
from cellplane.services import audit, console_sessions
from cellplane.services.context import PlatformContext

PREFIX = "/console"
COOKIE = "cellplane_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TEMPLATES = Path(__file__).parent / "templates"

Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Person:
    """Who is looking at a page: the caller the services see, and the session's CSRF token."""

    caller: Caller
    csrf_token: str

    @property
    def role(self) -> str:
        return self.caller.role

    def can(self, permission: str) -> bool:
        return allows(self.caller.role, permission)


def _filesize(value: int | None) -> str:
    size = float(value or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,  # templates ship in the package: never stat them again per request
)
environment.filters["filesize"] = _filesize
environment.filters["when"] = _when
environment.globals["prefix"] = PREFIX


def render(
    request: Request, template: str, person: Person | None = None, http_status: int = 200, **values: Any
) -> HTMLResponse:
    """A template as a response; a page gets the person (for its menu and buttons) and the CSRF token. An error
    asked by htmx is answered as a fragment to show in place."""
    headers = {"Cache-Control": "no-store"}
    if template == "error.html" and request.headers.get("hx-request"):
        template = "fragments/error.html"
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    html = environment.get_template(template).render(
        request=request, person=person, csrf=person.csrf_token if person else "", **values
    )
    return HTMLResponse(html, status_code=http_status, headers=headers)


def context(request: Request) -> PlatformContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def now(request: Request) -> datetime:
    return context(request).clock()


def secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly, or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


SESSION_CACHE_SECONDS = 5.0
_sessions: dict[str, tuple[float, Person, datetime]] = {}


async def signed_in(request: Request) -> Person | None:
    """The person a session cookie names. A live session is remembered for a few seconds in this process (a page
    and its partial updates would otherwise read it three times each); signing out here forgets it at once."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    moment = time.monotonic()
    cached = _sessions.get(token)
    if cached is not None and cached[0] > moment and cached[2] > now(request):
        return cached[1]
    async with context(request).sessions() as session:
        found = await console_sessions.resume(session, token, now(request))
    if found is None:
        _sessions.pop(token, None)
        return None
    person = Person(found.caller, found.csrf_token)
    if len(_sessions) > 10_000:
        _sessions.clear()
    _sessions[token] = (moment + SESSION_CACHE_SECONDS, person, found.expires_at)
    return person


def forget_session(token: str) -> None:
    _sessions.pop(token, None)


def _sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        # htmx follows this header with a full page load: the session ended while the page was open.
        return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/sign-in?next={quote(target)}"})
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target)}", status_code=303)


def refused(request: Request, person: Person, permission: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        person,
        http_status=403,
        title="Not allowed",
        message=f"Your role ({person.role}) does not allow {permission}.",
    )


def failed(request: Request, person: Person, error: CellplaneError) -> HTMLResponse:
    status = 404 if isinstance(error, NotFound) else 400
    parameter = f" ({error.parameter})" if getattr(error, "parameter", None) else ""
    return render(request, "error.html", person, http_status=status, title="Not done", message=f"{error}{parameter}")


def _known(permission: str) -> str:
    """A permission of the table, checked when the module is imported (a typo would refuse every person)."""
    resource, _, verb = permission.partition(":")
    return check_permission(resource, verb)


def page(permission: str) -> Callable[[Handler], Handler]:
    """A GET page: signed in, allowed to read; domain errors shown as an HTML page."""
    _known(permission)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request, **kwargs: Any) -> Response:
            started = time.perf_counter()
            person = await signed_in(request)
            if person is None:
                return _sign_in_redirect(request)
            if not person.can(permission):
                return refused(request, person, permission)
            try:
                response = await handler(request, person, **kwargs)
            except CellplaneError as error:
                response = failed(request, person, error)
            # The page's own time in the server (W3C Server-Timing): what bench/console.py reports.
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
            return response

        _keep_signature(run, handler)
        return run

    return wrap


def action(permission: str) -> Callable[[Handler], Handler]:
    """A POST that changes something: signed in, CSRF token matching the session's, role allowed."""
    _known(permission)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request, **kwargs: Any) -> Response:
            person = await signed_in(request)
            if person is None:
                return _sign_in_redirect(request)
            form = await read_form(request)
            sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
            if not hmac.compare_digest(sent.encode(), person.csrf_token.encode()):
                return render(
                    request,
                    "error.html",
                    person,
                    http_status=403,
                    title="Form expired",
                    message="This form's security token does not match your session: reload the page and retry.",
                )
            if not person.can(permission):
                return refused(request, person, permission)
            try:
                response = await handler(request, person, form=form, **kwargs)
            except CellplaneError as error:
                return failed(request, person, error)
            if response.status_code < 400:
                _audit(request, person, permission, response.status_code, kwargs)
            return response

        _keep_signature(run, handler)
        return run

    return wrap


def _audit(request: Request, person: Person, permission: str, status: int, params: dict[str, Any]) -> None:
    """A change made from the console goes to the audit log like the same change made through the API (the edge
    records only API callers): who, what, when, from where; never a form's values."""
    writer = getattr(request.app.state.console, "audit", None)
    if writer is None:
        return
    caller = person.caller
    writer.add(
        audit.event_row(
            account_sid=caller.account_sid,
            actor_kind=caller.actor_kind,
            actor_sid=caller.actor_sid,
            role=caller.role,
            action=f"{request.method} {request.url.path}",
            resource=permission.partition(":")[0],
            resource_sid=str(list(params.values())[-1]) if params else None,
            status=status,
            source=request.client.host if request.client else None,
        )
    )


def _keep_signature(run: Any, handler: Any) -> None:
    """FastAPI reads path parameters from the signature: show it the handler's, less person and form."""
    import inspect

    signature = inspect.signature(handler)
    kept = [p for name, p in signature.parameters.items() if name not in {"person", "form"}]
    run.__signature__ = signature.replace(parameters=kept)


MAX_FORM = 64 * 1024
Form = dict[str, str]


async def read_form(request: Request) -> Form:
    """A url-encoded form (what the console's forms and htmx send); the first value of each field. Anything
    else, or too large, reads as empty, and the CSRF check then refuses it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type != "application/x-www-form-urlencoded" or len(body) > MAX_FORM:
        return {}
    form: Form = {}
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form


async def form_values(request: Request, name: str, limit: int = 100) -> list[str]:
    """Every value of a repeated form field (checkboxes), at most `limit`; the body was read and checked by
    `action` already (Starlette keeps it)."""
    body = await request.body()
    found = [value for key, value in parse_qsl(body.decode("utf-8", errors="replace")) if key == name]
    return found[:limit]


def text(value: Any, limit: int = 256) -> str:
    """A form or query value as stripped text, cut to a sane length."""
    return str(value or "").strip()[:limit]
