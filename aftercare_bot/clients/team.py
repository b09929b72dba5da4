"""The clinic team: who is staff and who is admin, as admins change it from Telegram.

Admins listed in the ADMIN_IDS setting are always admins and cannot be changed from Telegram, so a clinic
can never lock itself out. Everyone in the staff chat counts as staff unless an admin removes them: the
removal is kept as a "revoked" row, which overrides chat membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.config import Settings
from aftercare_bot.db.models import Role, StaffMember
from aftercare_bot.db.repositories import admin_edits, audit
from aftercare_bot.db.repositories import staff as staff_repo


class TeamRefused(ValueError):
    """`key` names the explanation in the admin texts."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class TeamMember:
    user_id: int
    name: str
    role: Role
    fixed: bool  # an admin from the ADMIN_IDS setting


async def members(session: AsyncSession, settings: Settings) -> list[TeamMember]:
    """Admins from the settings first, then admins and staff added from Telegram, by name."""
    rows = {row.user_id: row for row in await staff_repo.all_members(session)}
    team = [
        TeamMember(user_id, rows[user_id].name if user_id in rows else "", Role.ADMIN, fixed=True)
        for user_id in settings.admin_ids
    ]
    added = [
        TeamMember(row.user_id, row.name, Role(row.role), fixed=False)
        for row in rows.values()
        if row.user_id not in settings.admin_ids and row.role != Role.REVOKED
    ]
    added.sort(key=lambda m: (m.role != Role.ADMIN, m.name.casefold(), m.user_id))
    return team + added


async def add(
    session: AsyncSession,
    *,
    user_id: int,
    name: str,
    role: Role,
    actor_id: int,
    now: datetime,
    settings: Settings,
) -> TeamMember:
    """Make someone staff or admin (again); a name already known is kept when none is given."""
    if role not in (Role.STAFF, Role.ADMIN):
        raise ValueError(f"cannot add with role {role}")
    _check_changeable(user_id, actor_id, settings)
    row = await staff_repo.get(session, user_id)
    if row is None:
        row = StaffMember(user_id=user_id, role=role, name=name, added_by=actor_id, added_at=now)
        session.add(row)
    else:
        row.role, row.added_by, row.added_at = role, actor_id, now
        row.name = name or row.name
    if role != Role.ADMIN:
        await admin_edits.end_all_of(session, user_id)  # an edit they were typing is for admins only
    await audit.record(
        session,
        now=now,
        action="team_added",
        actor_id=actor_id,
        detail={"user_id": user_id, "role": str(role)},
    )
    return TeamMember(user_id, row.name, role, fixed=False)


async def remove(
    session: AsyncSession, *, user_id: int, actor_id: int, now: datetime, settings: Settings
) -> TeamMember:
    """Take away staff and admin access, including what membership of the staff chat would give."""
    _check_changeable(user_id, actor_id, settings)
    row = await staff_repo.get(session, user_id)
    if row is None:
        row = StaffMember(user_id=user_id, role=Role.REVOKED, name="", added_by=actor_id, added_at=now)
        session.add(row)
    else:
        row.role, row.added_by, row.added_at = Role.REVOKED, actor_id, now
    await admin_edits.end_all_of(session, user_id)
    await audit.record(
        session, now=now, action="team_removed", actor_id=actor_id, detail={"user_id": user_id}
    )
    return TeamMember(user_id, row.name, Role.REVOKED, fixed=False)


def _check_changeable(user_id: int, actor_id: int, settings: Settings) -> None:
    if user_id in settings.admin_ids:
        raise TeamRefused("team_fixed_admin")
    if user_id == actor_id:
        raise TeamRefused("team_not_yourself")
