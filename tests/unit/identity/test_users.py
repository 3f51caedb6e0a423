"""Users over a real migrated database: argon2id hashes, `authenticate_user`, and its growing delay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, RateLimited
from cellplane.services import accounts, users
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import User
from cellplane.store.models.base import utcnow
from tests.support.db import migrated_database

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory.mktemp("users"))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[object]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _admin(sessions: object) -> Caller:
    async with sessions() as session, session.begin():  # type: ignore[operator]
        account = await accounts.create_account(session, "users")
    return Caller(account.sid, account.sid, frozenset({account.sid}))


async def test_a_user_signs_in_with_its_role_and_is_the_actor(sessions: object) -> None:
    admin = await _admin(sessions)
    email = f"{admin.account_sid.lower()}@example.com"
    async with sessions() as session, session.begin():  # type: ignore[operator]
        user = await users.create(session, admin, email.upper(), "operator", PASSWORD, "Ops")
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        with pytest.raises(Conflict):
            await users.create(session, admin, email, "viewer", PASSWORD)
    async with sessions() as session, session.begin():  # type: ignore[operator]
        caller = await users.authenticate_user(session, email, PASSWORD)
    assert caller is not None
    assert (caller.role, caller.actor_kind, caller.actor_sid) == ("operator", "user", user.sid)
    assert caller.account_sid == admin.account_sid and caller.may("sims:write") and not caller.may("users:read")
    async with sessions() as session, session.begin():  # type: ignore[operator]
        again = await users.caller_of(session, user.sid)
        assert again == caller
        await users.update(session, admin, user.sid, users.UserChange(role="viewer"))
        assert (await users.caller_of(session, user.sid)).role == "viewer"  # type: ignore[union-attr]
        await users.delete(session, admin, user.sid)
        assert await users.caller_of(session, user.sid) is None
        assert await users.caller_of(session, "nonsense") is None
    async with sessions() as session, session.begin():  # type: ignore[operator]
        assert await users.authenticate_user(session, "nobody@example.com", PASSWORD) is None
        assert await users.authenticate_user(session, "not an email", PASSWORD) is None


async def test_bad_input_names_the_parameter(sessions: object) -> None:
    admin = await _admin(sessions)
    async with sessions() as session, session.begin():  # type: ignore[operator]
        for email, role, password, parameter in (
            ("x", "viewer", PASSWORD, "Email"),
            ("a@b.example", "root", PASSWORD, "Role"),
            ("a@b.example", "viewer", "short", "Password"),
        ):
            with pytest.raises(InvalidParameter) as raised:
                await users.create(session, admin, email, role, password)
            assert raised.value.parameter == parameter


async def test_repeated_failures_make_the_user_wait_longer_each_time(sessions: object) -> None:
    admin = await _admin(sessions)
    email = f"slow-{admin.account_sid.lower()}@example.com"
    async with sessions() as session, session.begin():  # type: ignore[operator]
        await users.create(session, admin, email, "viewer", PASSWORD)
    for _ in range(users.FREE_FAILURES):
        async with sessions() as session, session.begin():  # type: ignore[operator]
            assert await users.authenticate_user(session, email, "wrong password!") is None
    # The third failure set a delay (1 s); while it runs, even the right password is not tried. The delay is
    # stretched here so that a loaded machine cannot let it pass before the next attempt.
    async with sessions() as session, session.begin():  # type: ignore[operator]
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        assert user.failed_sign_ins == users.FREE_FAILURES and user.next_sign_in_at is not None
        user.next_sign_in_at = utcnow() + timedelta(seconds=30)
    async with sessions() as session, session.begin():  # type: ignore[operator]
        with pytest.raises(RateLimited) as raised:
            await users.authenticate_user(session, email, PASSWORD)
    assert 1 <= raised.value.retry_after <= 30
    delays = []
    for _ in range(3):
        async with sessions() as session, session.begin():  # type: ignore[operator]
            user = (await session.execute(select(User).where(User.email == email))).scalar_one()
            user.next_sign_in_at = utcnow() - timedelta(seconds=1)  # as if the wait had passed
        async with sessions() as session, session.begin():  # type: ignore[operator]
            assert await users.authenticate_user(session, email, "wrong again!!") is None
            user = (await session.execute(select(User).where(User.email == email))).scalar_one()
            delays.append((user.next_sign_in_at - utcnow()).total_seconds())
    assert delays[0] < delays[1] < delays[2]
    async with sessions() as session, session.begin():  # type: ignore[operator]
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        user.next_sign_in_at = None
    async with sessions() as session, session.begin():  # type: ignore[operator]
        assert await users.authenticate_user(session, email, PASSWORD) is not None
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        assert user.failed_sign_ins == 0 and user.date_last_sign_in is not None


async def test_retention_purges_audit_events_after_90_days_and_expired_tokens(sessions: object) -> None:
    from cellplane.domain.ids import Prefix, SidFactory
    from cellplane.services import api_clients, audit, retention
    from cellplane.store.models import AccessToken, AuditEvent

    admin = await _admin(sessions)
    now = utcnow()

    def at(days: int) -> dict[str, object]:
        when = now - timedelta(days=days)
        row = audit.event_row(
            account_sid=admin.account_sid,
            actor_kind="auth_token",
            actor_sid=admin.account_sid,
            role="admin",
            action="POST /supersim/v1/Fleets",
            resource="fleets",
            resource_sid=None,
            status=201,
            source="127.0.0.1",
            at=when,
        )
        row["sid"] = SidFactory().new(Prefix.AUDIT_EVENT, at_ms=int(when.timestamp() * 1000))
        return row

    async with sessions() as session, session.begin():  # type: ignore[operator]
        for days in (91, 89, 0):
            await session.execute(AuditEvent.__table__.insert(), [at(days)])
        made = await api_clients.create(session, admin.account_sid, "viewer", "1h")
        issued = await api_clients.issue_token(session, made.client.sid, made.client_secret)
        live = await api_clients.issue_token(session, made.client.sid, made.client_secret)
        token = await session.get(AccessToken, api_clients.digest(issued.access_token))
        token.expires_at = now - timedelta(seconds=1)
    async with sessions() as session, session.begin():  # type: ignore[operator]
        purged = await retention.purge_batch(session, now)
    assert purged.audit_events == 1 and purged.access_tokens == 1
    async with sessions() as session:  # type: ignore[operator]
        kept = (await session.execute(select(AuditEvent).where(AuditEvent.account_sid == admin.account_sid))).all()
        assert len(kept) == 2
        assert await api_clients.verify_token(session, live.access_token) is not None
        assert await api_clients.verify_token(session, issued.access_token) is None
