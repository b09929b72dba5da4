"""The team as admins change it: adding, promoting, removing, and the admins no one can remove."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.clients import team
from aftercare_bot.clients.team import TeamRefused
from aftercare_bot.config import Settings
from aftercare_bot.db.models import AuditEvent, Role
from tests.conftest import ADMIN_ID

NOW = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)


def acting(session: AsyncSession, settings: Settings, actor_id: int = ADMIN_ID) -> tuple[Any, Any]:
    """team.add and team.remove for `actor_id`, at NOW, with the given settings."""
    common = {"actor_id": actor_id, "now": NOW, "settings": settings}
    return functools.partial(team.add, session, **common), functools.partial(team.remove, session, **common)


async def test_add_promote_remove_and_list(make_settings, rigs) -> None:
    rig = rigs(make_settings(), NOW)
    services = rig.services
    async with services.session_factory.begin() as session:
        add, remove = acting(session, services.settings)
        await add(user_id=11, name="Nina", role=Role.STAFF)
        await add(user_id=12, name="Bea", role=Role.STAFF)
        await add(user_id=11, name="", role=Role.ADMIN)
        await remove(user_id=12)
        await remove(user_id=13)
    async with services.session_factory() as session:
        members = await team.members(session, services.settings)
        actions = (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
    assert [(m.user_id, m.name, m.role, m.fixed) for m in members] == [
        (ADMIN_ID, "", Role.ADMIN, True),
        (11, "Nina", Role.ADMIN, False),
    ], "a known name is kept; removed people are not listed"
    assert actions == ["team_added", "team_added", "team_added", "team_removed", "team_removed"]


async def test_admins_from_the_settings_and_yourself_cannot_be_changed(make_settings, rigs) -> None:
    rig = rigs(make_settings(admin_ids=[ADMIN_ID, 42]), NOW)
    services = rig.services
    async with services.session_factory.begin() as session:
        for user_id, actor in ((42, ADMIN_ID), (ADMIN_ID, 42)):
            add, remove = acting(session, services.settings, actor)
            with pytest.raises(TeamRefused) as refused:
                await remove(user_id=user_id)
            assert refused.value.key == "team_fixed_admin"
            with pytest.raises(TeamRefused):
                await add(user_id=user_id, name="", role=Role.STAFF)
        add, _ = acting(session, services.settings)
        await add(user_id=7, name="Sam", role=Role.ADMIN)
        _, remove = acting(session, services.settings, actor_id=7)
        with pytest.raises(TeamRefused) as refused:
            await remove(user_id=7)
        assert refused.value.key == "team_not_yourself"
