"""What staff do with cases: list the open ones, claim one, resolve one.

Claiming is a conditional update, so two people pressing at once cannot both win; claiming or resolving stops
the case's response timers, and every copy of its card is edited to show who did what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import EscalationState
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import audit, timers
from aftercare_bot.db.repositories import escalations as repo
from aftercare_bot.db.repositories import staff as staff_repo
from aftercare_bot.escalation.cards import CaseTexts
from aftercare_bot.escalation.digests import EDIT_AFTER, case_changed
from aftercare_bot.escalation.posts import CasePosts
from aftercare_bot.escalation.timers import RESPONSE_TIMERS
from aftercare_bot.services import Services


class StaffAction(StrEnum):
    DONE = "done"
    ALREADY_YOURS = "already_yours"
    TAKEN = "taken"
    RESOLVED = "resolved"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StaffActionResult:
    status: StaffAction
    holder: str | None = None


class StaffActions:
    def __init__(self, services: Services, posts: CasePosts, texts: CaseTexts) -> None:
        self.svc = services
        self.posts = posts
        self.texts = texts

    async def open_cases_messages(self) -> list[str]:
        async with self.svc.session_factory() as session:
            return await self.texts.open_cases(session, self.svc.clock.now())

    async def claim(self, case: RowRef, actor_id: int, actor_name: str) -> StaffActionResult:
        """`case` comes from a button: only the case it was made for is claimed (see callbacks.RowRef)."""
        now, escalation_id = self.svc.clock.now(), case.id
        async with self.svc.session_factory.begin() as session:
            name = await self.staff_name(session, actor_id, actor_name)
            if not await self.take(session, escalation_id, actor_id, name, now, states=(EscalationState.OPEN,),
                                   ref=case.ref):
                return await self._refusal(session, case, actor_id)
            await audit.record(session, now=now, action="escalation_claimed", actor_id=actor_id,
                               escalation_id=escalation_id)
        self._digests_soon()
        await self.posts.refresh_cards(escalation_id)
        return StaffActionResult(StaffAction.DONE, name)

    async def resolve(self, case: RowRef, actor_id: int, actor_name: str) -> StaffActionResult:
        """Any staff member may resolve a case, whoever claimed it: closing is never blocked on one person."""
        now, escalation_id = self.svc.clock.now(), case.id
        async with self.svc.session_factory.begin() as session:
            name = await self.staff_name(session, actor_id, actor_name)
            resolved = await repo.resolve(session, escalation_id, ref=case.ref, actor_id=actor_id, name=name, now=now)
            if resolved:
                await timers.cancel(session, subject_id=escalation_id, kinds=RESPONSE_TIMERS)
                await case_changed(session, escalation_id, now)
                await audit.record(session, now=now, action="escalation_resolved", actor_id=actor_id,
                                   escalation_id=escalation_id)
                status = StaffActionResult(StaffAction.DONE, name)
            else:
                escalation = await repo.get(session, escalation_id)
                gone = escalation is None or escalation.ref != case.ref
                status = StaffActionResult(StaffAction.UNKNOWN if gone else StaffAction.RESOLVED)
        if resolved:
            self._digests_soon()
            await self.posts.refresh_cards(escalation_id)
        return status

    def _digests_soon(self) -> None:
        """A digest listing the case is edited in a few seconds (see digests.case_changed)."""
        if self.svc.started:
            self.svc.runtime.wake(EDIT_AFTER.total_seconds() + 0.05)

    async def take(
        self,
        session: AsyncSession,
        escalation_id: int,
        actor_id: int,
        name: str,
        now: datetime,
        *,
        states: Sequence[EscalationState],
        ref: str | None = None,
    ) -> bool:
        """Claim atomically (a conditional update), so two people pressing at once cannot both win.
        `ref`, when given, must be the case's own (a press of a button made for it)."""
        if not await repo.claim(session, escalation_id, states=states, ref=ref, actor_id=actor_id, name=name,
                                now=now):
            return False
        await timers.cancel(session, subject_id=escalation_id, kinds=RESPONSE_TIMERS)
        await case_changed(session, escalation_id, now)
        return True

    async def _refusal(self, session: AsyncSession, case: RowRef, actor_id: int) -> StaffActionResult:
        escalation = await repo.get(session, case.id)
        if escalation is None or escalation.ref != case.ref:
            return StaffActionResult(StaffAction.UNKNOWN)
        if escalation.state == EscalationState.RESOLVED:
            return StaffActionResult(StaffAction.RESOLVED)
        if escalation.claimed_by == actor_id:
            return StaffActionResult(StaffAction.ALREADY_YOURS)
        return StaffActionResult(StaffAction.TAKEN, escalation.claimed_by_name or str(escalation.claimed_by))

    async def staff_name(self, session: AsyncSession, user_id: int, fallback: str) -> str:
        member = await staff_repo.get(session, user_id)
        return member.name if member is not None and member.name else fallback
