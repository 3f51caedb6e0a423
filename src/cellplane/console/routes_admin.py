"""The console's security settings (admin only, as the permission table says): users and their roles, API clients
(their secret shown once), and the audit log. The same services as /cellplane/v1 serve them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.console.web import Form, Person, context, page, render, text
from cellplane.console.web import action as act
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, is_sid
from cellplane.domain.paging import PageSpec
from cellplane.domain.permissions import RESOURCES, ROLES
from cellplane.services import api_clients, audit, users

router = APIRouter()
PAGE_SIZE = 50


# --- users ---------------------------------------------------------------------------------------------------


async def _users_part(request: Request, person: Person, **values: Any) -> Response:
    async with context(request).sessions() as session:
        found = (await users.list_users(session, person.caller, PageSpec(size=200))).items
    return render(request, "fragments/users_table.html", person, users=found, roles=ROLES, **values)


@router.get("/users")
@page("users:read")
async def users_page(request: Request, person: Person) -> Response:
    async with context(request).sessions() as session:
        found = (await users.list_users(session, person.caller, PageSpec(size=200))).items
    return render(request, "users.html", person, users=found, roles=ROLES)


@router.post("/users")
@act("users:write")
async def create_user(request: Request, person: Person, form: Form) -> Response:
    async with context(request).sessions() as session, session.begin():
        created = await users.create(
            session,
            person.caller,
            text(form.get("email"), 254),
            text(form.get("role"), 16),
            str(form.get("password") or ""),
            text(form.get("friendly_name"), 64) or None,
        )
        email = created.email
    return await _users_part(request, person, said=f"User {email} created")


@router.post("/users/{sid}/role")
@act("users:write")
async def change_role(request: Request, person: Person, form: Form, sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        changed = await users.update(session, person.caller, sid, users.UserChange(role=text(form.get("role"), 16)))
        said = f"{changed.email} is now {changed.role}"
    return await _users_part(request, person, said=said)


@router.post("/users/{sid}/delete")
@act("users:write")
async def delete_user(request: Request, person: Person, form: Form, sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        await users.delete(session, person.caller, sid)
    return await _users_part(request, person, said=f"User {sid} deleted")


# --- API clients -----------------------------------------------------------------------------------------------


async def _clients_part(request: Request, person: Person, **values: Any) -> Response:
    async with context(request).sessions() as session:
        found = (await api_clients.list_clients(session, person.caller, PageSpec(size=200))).items
    return render(
        request,
        "fragments/clients_table.html",
        person,
        clients=found,
        roles=ROLES,
        lifetimes=tuple(api_clients.LIFETIMES),
        **values,
    )


@router.get("/api-clients")
@page("api_clients:read")
async def clients_page(request: Request, person: Person) -> Response:
    async with context(request).sessions() as session:
        found = (await api_clients.list_clients(session, person.caller, PageSpec(size=200))).items
    return render(
        request, "api_clients.html", person, clients=found, roles=ROLES, lifetimes=tuple(api_clients.LIFETIMES)
    )


@router.post("/api-clients")
@act("api_clients:write")
async def create_client(request: Request, person: Person, form: Form) -> Response:
    async with context(request).sessions() as session, session.begin():
        issued = await api_clients.create(
            session,
            person.caller.account_sid,
            text(form.get("role"), 16),
            text(form.get("lifetime"), 8),
            text(form.get("friendly_name"), 64) or None,
            created_by=person.caller.actor_sid,
        )
        secret = (issued.client.sid, issued.client_secret)
    return await _clients_part(request, person, secret=secret)


@router.post("/api-clients/{sid}/delete")
@act("api_clients:write")
async def delete_client(request: Request, person: Person, form: Form, sid: str) -> Response:
    async with context(request).sessions() as session, session.begin():
        await api_clients.delete(session, person.caller, sid)
    # Tokens this process verified are forgotten at once (as the API's DELETE does).
    authenticator = getattr(request.app.state, "authenticator", None)
    if authenticator is not None:
        authenticator.forget()
    return await _clients_part(request, person, said=f"API client {sid} deleted")


# --- the audit log ---------------------------------------------------------------------------------------------


def _moment(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(name, f"{name} must be a date and time (YYYY-MM-DDTHH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the page's times are UTC


@router.get("/audit")
@page("audit:read")
async def audit_page(request: Request, person: Person) -> Response:
    params = request.query_params
    after = text(params.get("after"), 40) or None
    if after is not None and not is_sid(after, Prefix.AUDIT_EVENT):
        raise InvalidParameter("after", "after must be an audit event sid from a previous page")
    resource = text(params.get("resource"), 32) or None
    if resource is not None and resource not in RESOURCES:
        raise InvalidParameter("resource", f"resource must be one of {', '.join(RESOURCES)}")
    wanted = audit.AuditRequest(
        actor=text(params.get("actor"), 64) or None,
        resource=resource,
        start_time=_moment(text(params.get("start"), 32), "start"),
        end_time=_moment(text(params.get("end"), 32), "end"),
    )
    async with context(request).sessions() as session:
        found = await audit.list_events(session, person.caller, wanted, PageSpec(size=PAGE_SIZE, after=after))
    query = {
        "actor": wanted.actor or "",
        "resource": resource or "",
        "start": text(params.get("start"), 32),
        "end": text(params.get("end"), 32),
    }
    return render(request, "audit.html", person, page=found, query=query, resources=RESOURCES)
