"""A clinic's week with known events, for the report's tests: every figure the report shows is known here.

The period is the week from T0 (a Monday, midnight in London, which is UTC in March)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot.db.models import (
    AuditEvent,
    Client,
    Delivery,
    DeliveryState,
    Enrolment,
    EnrolmentState,
    Escalation,
    EscalationState,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)
WEEK = timedelta(days=7)
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
CHECKIN_PREFIX = "Check-in answer: "


def _client(number: int) -> Client:
    return Client(telegram_user_id=7000 + number, chat_id=7000 + number, name=f"Client {number}", language="en",
                  created_at=T0 - 30 * DAY, updated_at=T0)


def _delivery(enrolment: Enrolment, step: str, due: datetime, state: str, *, checkin: bool = False,
              answer: str | None = None, answer_after: timedelta | None = None, quiet_held: bool = False) -> Delivery:
    sent = due if state == DeliveryState.SENT else None
    return Delivery(
        enrolment_id=enrolment.id, client_id=enrolment.client_id, chat_id=7000, step_key=step, due_at=due,
        send_at=due, expires_at=due + DAY, state=state, checkin=checkin, sent_at=sent, answer=answer,
        answered_at=sent + answer_after if sent and answer_after else None, quiet_held=quiet_held,
    )


async def seed_week(factory: async_sessionmaker[AsyncSession], *, cases: bool = True) -> None:
    async with factory.begin() as session:
        a, b, c = _client(1), _client(2), _client(3)
        session.add_all([a, b, c])
        await session.flush()
        e1 = Enrolment(client_id=a.id, treatment="microneedling", session_at=T0 + 9 * HOUR, language="en",
                       state=EnrolmentState.ACTIVE, created_at=T0 + 9 * HOUR)
        e2 = Enrolment(client_id=b.id, treatment="microneedling", session_at=T0 + 10 * HOUR, language="en",
                       state=EnrolmentState.STOPPED, created_at=T0 + 10 * HOUR, ended_at=T0 + 2 * DAY)
        e3 = Enrolment(client_id=c.id, treatment="microneedling", session_at=T0 - 10 * DAY, language="en",
                       state=EnrolmentState.ACTIVE, created_at=T0 - 10 * DAY)
        session.add_all([e1, e2, e3])
        await session.flush()
        session.add_all([
            _delivery(e1, "same_evening", T0 + 13 * HOUR, DeliveryState.SENT),
            _delivery(e1, "day1_checkin", T0 + DAY + 10 * HOUR, DeliveryState.SENT, checkin=True, answer="ok",
                      answer_after=30 * MINUTE),
            _delivery(e1, "day3_checkin", T0 + 3 * DAY + 10 * HOUR, DeliveryState.SENT, checkin=True,
                      answer="worried", answer_after=3 * HOUR, quiet_held=True),
            _delivery(e1, "week2", T0 + 14 * DAY, DeliveryState.PENDING),
            _delivery(e2, "same_evening", T0 + 14 * HOUR, DeliveryState.SKIPPED),
            _delivery(e2, "day1_checkin", T0 + DAY + 10 * HOUR, DeliveryState.SENT, checkin=True),
            _delivery(e2, "day3_checkin", T0 + 3 * DAY + 10 * HOUR, DeliveryState.CANCELLED, checkin=True),
            _delivery(e3, "day1_checkin", T0 - 9 * DAY, DeliveryState.SENT, checkin=True, answer="urgent",
                      answer_after=MINUTE),
            _delivery(e3, "mid", T0 + DAY, DeliveryState.FAILED),
            _delivery(e3, "final", T0 + 2 * DAY, DeliveryState.SENT),
        ])
        events = [
            *(("invite_created", T0 + n * HOUR, None) for n in (1, 2, 3)),
            ("invite_created", T0 - HOUR, None),  # before the period
            *(("invite_opened", T0 + n * HOUR, None) for n in (4, 5)),
            ("enrolled", T0 + 9 * HOUR, a.id), ("enrolled", T0 + 10 * HOUR, b.id),
            ("invite_declined", T0 + 6 * HOUR, None),
            ("client_stopped", T0 + 2 * DAY, b.id), ("client_stopped", T0 + 2 * DAY + HOUR, b.id),  # one person
            ("client_unreachable", T0 + 4 * DAY, None),  # erased since
            ("escalation_realerted", T0 + DAY + 10 * MINUTE, a.id),
            ("escalation_final_notice", T0 + DAY + 20 * MINUTE, a.id),
            ("escalation_realerted", T0 + WEEK, a.id),  # just after the period
        ]
        session.add_all(AuditEvent(at=at, action=action, client_id=client_id, detail={})
                        for action, at, client_id in events)
        if cases:
            session.add_all([
                Escalation(client_id=a.id, level="urgent", kind="message", reasons="red flag: bleeding ('bleeding')",
                           state=EscalationState.RESOLVED, created_at=T0 + DAY, claimed_at=T0 + DAY + 5 * MINUTE,
                           resolved_at=T0 + DAY + 65 * MINUTE),
                Escalation(client_id=a.id, level="concern", kind="message",
                           reasons=f"{CHECKIN_PREFIX}😟 Something worries me", state=EscalationState.CLAIMED,
                           created_at=T0 + 3 * DAY + 13 * HOUR, claimed_at=T0 + 3 * DAY + 13 * HOUR + 20 * MINUTE),
                Escalation(client_id=b.id, level="concern", kind="no_response", reasons="No answer",
                           state=EscalationState.OPEN, created_at=T0 + 5 * DAY),
                Escalation(client_id=b.id, level="urgent", kind="message", reasons="before the period",
                           state=EscalationState.OPEN, created_at=T0 - DAY),
            ])
