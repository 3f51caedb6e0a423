"""Sign in and sign out: the cookie session (HttpOnly, SameSite=Lax, Secure over TLS) and its CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from cellplane.console.web import (
    COOKIE,
    CSRF_FIELD,
    PREFIX,
    context,
    forget_session,
    now,
    read_form,
    render,
    secure,
    signed_in,
    text,
)
from cellplane.domain.errors import RateLimited
from cellplane.services import console_sessions

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a console path: never send a person elsewhere after signing in (open redirect)."""
    return target if target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target else PREFIX


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next", PREFIX)), status_code=303)
    return render(request, "sign_in.html", next=_safe_next(request.query_params.get("next", PREFIX)))


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    username, password = text(form.get("username"), 64), str(form.get("password") or "")[:256]
    target = _safe_next(text(form.get("next"), 512) or PREFIX)
    if not username or not password:
        return render(
            request, "sign_in.html", http_status=400, next=target, username=username, error="Enter both fields."
        )
    try:
        async with context(request).sessions() as session, session.begin():
            opened = await console_sessions.sign_in(
                session,
                username,
                password,
                now(request),
                read_only=form.get("read_only") == "on",
                lifetime=request.app.state.console.session_lifetime,
            )
    except RateLimited as waiting:
        error = f"Too many failed sign-ins: try again in {waiting.retry_after} s."
        return render(request, "sign_in.html", http_status=429, next=target, username=username, error=error)
    if opened is None:
        return render(
            request,
            "sign_in.html",
            http_status=401,
            next=target,
            username=username,
            error="Unknown credential or wrong secret.",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        opened.token,
        max_age=int((opened.expires_at - now(request)).total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    person = await signed_in(request)
    form = await read_form(request)
    token = request.cookies.get(COOKIE, "")
    # CSRF: a page elsewhere must not be able to sign a person out either.
    if person is not None and form.get(CSRF_FIELD) == person.csrf_token:
        async with context(request).sessions() as session, session.begin():
            await console_sessions.sign_out(session, token)
        forget_session(token)
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=secure(request))
    return response
