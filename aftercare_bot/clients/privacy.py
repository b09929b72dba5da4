"""What the bot holds about a person, shown to them on request, and erased on request or after a retention period.

Erasure deletes the client and everything attached to them: plans, scheduled messages, the conversation,
messages still queued for or about them, cases, timers, and the invitations they used or declined. The records
of the cases' staff-chat posts lose their case (they hold only message ids), so that a reply to an old card can
be told kindly that the client is gone. Older audit events
that refer to the person are kept for the clinic's counts but unlinked: their client, case and the person's own
user id are set to NULL and their detail emptied; staff members' ids stay, as they record the team's own work.
One anonymous "client_erased" event (no name, no ids) records that an erasure happened.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import (
    Client,
    ConversationMessage,
    Delivery,
    DeliveryState,
    Enrolment,
    Escalation,
    Invite,
    InviteStatus,
)
from aftercare_bot.db.repositories import (
    audit,
    clients,
    conversation,
    deliveries,
    enrolments,
    escalations,
    invites,
    outbox,
    timers,
)
from aftercare_bot.db.repositories.escalations import OPEN_STATES
from aftercare_bot.db.session import settle_erasure
from aftercare_bot.delivery.compose import CHECKIN_TIMER_KINDS
from aftercare_bot.escalation.timers import CARD_TIMER, RESPONSE_TIMERS
from aftercare_bot.services import Services
from aftercare_bot.texts import wording
from aftercare_bot.texts.catalog import MAX_MESSAGE_LENGTH
from aftercare_bot.texts.telegram_html import pack_lines, plain_text, visible_length

log = logging.getLogger(__name__)

ERASED = "client_erased"
RETENTION_PURGE = "retention_purge"
BY_REQUEST = "request"
BY_RETENTION = "retention"
PURGE_INTERVAL = timedelta(days=1)
PURGE_RETRY = timedelta(hours=1)
PURGE_BATCH = 200  # clients erased per dispatcher pass at most
OPEN_DELIVERY_STATES = deliveries.OPEN_STATES
ESCALATION_TIMER_KINDS = (CARD_TIMER, *RESPONSE_TIMERS)
# Beyond this many messages (or with a single very long entry) the report is sent as a file instead.
MAX_REPORT_MESSAGES = 4
MAX_REPORT_LINE = 1500


@dataclass
class HeldData:
    """Everything stored about one Telegram user."""

    client: Client | None = None
    enrolments: list[Enrolment] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    conversation: list[ConversationMessage] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.client is None and not self.invites


async def held_data(session: AsyncSession, telegram_user_id: int) -> HeldData:
    client = await clients.by_telegram_id(session, telegram_user_id)
    data = HeldData(client=client)
    if client is None:
        data.invites = list(await invites.of_person(session, telegram_user_id))
        return data
    data.enrolments = list(await enrolments.all_for_client(session, client.id))
    data.deliveries = list(await deliveries.all_for_client(session, client.id))
    data.conversation = list(await conversation.all_for_client(session, client.id))
    data.escalations = list(await escalations.all_for_client(session, client.id))
    invite_ids = [e.invite_id for e in data.enrolments if e.invite_id is not None]
    data.invites = list(await invites.of_person(session, telegram_user_id, client_id=client.id, invite_ids=invite_ids))
    return data


# -- the report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Either a few HTML messages, or (when long) a plain-text file."""

    messages: list[str]
    document: bytes | None = None


# The links a person did not join with, by status: the title and the line of each in /mydata.
_INVITE_LISTS = {
    InviteStatus.DECLINED: ("privacy_report_invites_title", "privacy_report_invite"),
    InviteStatus.REPLACED: ("privacy_report_replaced_title", "privacy_report_replaced"),
    InviteStatus.PENDING: ("privacy_report_opened_title", "privacy_report_opened"),
}


class ReportWriter:
    def __init__(self, services: Services, language: str) -> None:
        self.svc = services
        self.language = language

    def _t(self, key: str, **values: object) -> str:
        return self.svc.text(key, self.language, **values)

    def _label(self, key: str, fallback: str) -> str:
        return wording.label_or(self.svc, key, fallback, self.language)

    def _when(self, moment: datetime | None) -> str:
        return "—" if moment is None else wording.moment(self.svc, moment, self.language)

    def _treatment(self, treatment: str) -> str:
        return wording.treatment_title(self.svc, treatment, self.language)

    def lines(self, data: HeldData, now: datetime) -> list[str]:
        """The report as HTML lines; each line is complete HTML on its own, so it may be split between lines."""
        lines = [self._t("privacy_report_title", date=self._when(now))]
        client = data.client
        if client is not None:
            lines.append(self._t(
                "privacy_report_person", name=client.name, first_name=client.first_name, language=client.language,
                status=self._label(f"privacy_status_{client.status}", "privacy_status_other"),
                since=self._when(client.created_at),
            ))
            lines += self._plans(data)
            lines += self._conversation(data)
            lines += self._cases(data)
        for status, (title, line) in _INVITE_LISTS.items():
            listed = [i for i in data.invites if i.status == status]
            if listed:
                lines += ["", self._t(title)]
                lines += [self._t(line, name=i.client_name, treatment=self._treatment(i.treatment),
                                  date=self._when(i.used_at or i.created_at)) for i in listed]
        lines += ["", self._t("privacy_report_footer")]
        return lines

    def _plans(self, data: HeldData) -> list[str]:
        lines = ["", self._t("privacy_report_plans_title")]
        if not data.enrolments:
            return [*lines, self._t("privacy_report_plans_none")]
        for enrolment in data.enrolments:
            state = self._label(f"privacy_plan_{enrolment.state}", "privacy_plan_other")
            lines.append(self._t("privacy_report_plan", treatment=self._treatment(enrolment.treatment),
                                 session_at=self._when(enrolment.session_at), state=state))
            started = self._when(enrolment.created_at)
            if enrolment.ended_at is None:
                lines.append(self._t("privacy_report_plan_started", started=started))
            else:
                lines.append(self._t("privacy_report_plan_dates", started=started,
                                     ended=self._when(enrolment.ended_at)))
            rows = [d for d in data.deliveries if d.enrolment_id == enrolment.id]
            sent = sum(1 for d in rows if d.state == DeliveryState.SENT)
            waiting = [d for d in rows if d.state in OPEN_DELIVERY_STATES]
            lines.append(self._t("privacy_report_plan_messages", sent=sent, waiting=len(waiting),
                                 not_sent=len(rows) - sent - len(waiting)))
            if waiting:
                lines.append(self._t("privacy_report_plan_next", send_at=self._when(waiting[0].send_at)))
        return lines

    def _conversation(self, data: HeldData) -> list[str]:
        lines = ["", self._t("privacy_report_conversation_title", count=len(data.conversation))]
        if not data.conversation:
            return [*lines, self._t("privacy_report_conversation_none")]
        for entry in data.conversation:
            text = (entry.text or "").strip() or self._label(f"esc_kind_{entry.kind}", "esc_kind_other")
            when = self._when(entry.at)
            if entry.direction == "in":
                level = entry.triage_level
                if level in ("concern", "urgent"):
                    lines.append(self._t("privacy_report_in_flagged", time=when, text=text,
                                         level=self._label(f"privacy_level_{level}", "privacy_level_concern")))
                else:
                    lines.append(self._t("privacy_report_in", time=when, text=text))
            elif entry.author_id is not None:
                lines.append(self._t("privacy_report_out_staff", time=when, text=text))
            else:
                lines.append(self._t("privacy_report_out", time=when, text=text))
        return lines

    def _cases(self, data: HeldData) -> list[str]:
        if not data.escalations:
            return []
        lines = ["", self._t("privacy_report_cases_title")]
        for case in data.escalations:
            lines.append(self._t(
                "privacy_report_case", number=case.id, opened=self._when(case.created_at),
                level=self._label(f"privacy_level_{case.level}", "privacy_level_concern"),
                state=self._label(f"privacy_case_{case.state}", "privacy_case_open"),
            ))
        return lines

    def report(self, data: HeldData, now: datetime) -> Report:
        lines = self.lines(data, now)
        messages = pack_messages(lines)
        if messages is not None:
            return Report(messages)
        text = "\n".join(plain_text(line) for line in lines) + "\n"
        return Report([self._t("privacy_report_document_caption")], document=text.encode("utf-8"))


def pack_messages(lines: Sequence[str], limit: int = MAX_MESSAGE_LENGTH) -> list[str] | None:
    """Lines joined into as few messages as fit Telegram's limit; None when the report is too long for chat."""
    if any(visible_length(line) > MAX_REPORT_LINE for line in lines):
        return None
    messages = pack_lines(lines, limit)
    return messages if len(messages) <= MAX_REPORT_MESSAGES else None


# -- erasure -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erasure:
    """What was deleted (counts only) and which of the person's cases were still open for the team."""

    plans: int
    messages: int
    cases: int
    open_cases: tuple[int, ...]
    language: str | None  # the client's, to answer them in it once the record is gone


async def erase(session: AsyncSession, telegram_user_id: int, *, now: datetime, reason: str) -> Erasure | None:
    """Delete everything held about the person; None when nothing was held. The caller commits."""
    client = await clients.by_telegram_id_for_update(session, telegram_user_id)
    data = await held_data(session, telegram_user_id)
    if client is None and not data.invites:
        return None
    enrolment_ids = [e.id for e in data.enrolments]
    delivery_ids = [d.id for d in data.deliveries]
    case_ids = [c.id for c in data.escalations]
    invite_ids = [i.id for i in data.invites]
    open_cases = tuple(c.id for c in data.escalations if c.state in OPEN_STATES)

    # Explicit deletes, children first, so nothing depends on the database enforcing ON DELETE CASCADE.
    if delivery_ids:
        await timers.delete_for_subjects(session, kinds=CHECKIN_TIMER_KINDS, subject_ids=delivery_ids)
    if case_ids:
        await timers.delete_for_subjects(session, kinds=ESCALATION_TIMER_KINDS, subject_ids=case_ids)
        await escalations.unlink_posts(session, case_ids)
    if client is not None:
        await outbox.delete_of_client(session, client.id)
        await conversation.delete_of_client(session, client.id)
        await escalations.delete_of_client(session, client.id)
        await deliveries.delete_of_client(session, client.id)
        await enrolments.delete_of_client(session, client.id)
    if invite_ids:
        await invites.delete_by_ids(session, invite_ids)
    if client is not None:
        await clients.delete_by_id(session, client.id)
    await _unlink_audit_trail(session, client.id if client else None, telegram_user_id, case_ids)
    await audit.record(session, now=now, action=ERASED, detail={
        "reason": reason, "plans": len(enrolment_ids), "messages": len(data.conversation), "cases": len(case_ids),
    })
    return Erasure(len(enrolment_ids), len(data.conversation), len(case_ids), open_cases,
                   client.language if client else None)


async def queue_staff_notice(services: Services, session: AsyncSession, erasure: Erasure) -> list[int]:
    """Inside the erasure's transaction, so that the team hears of an erasure exactly when it happened: what
    went (counts only) and which open cases went with it. Returns the staff chats to send it to after the commit."""
    language = services.staff_language
    notice = services.text("privacy_staff_erased", language, plans=erasure.plans, messages=erasure.messages,
                           cases=erasure.cases)
    if erasure.open_cases:
        numbers = ", ".join(f"#{number}" for number in erasure.open_cases)
        notice += "\n" + services.text("privacy_staff_erased_open_cases", language, numbers=numbers)
    return await services.runtime.outbox.to_staff(session, notice)


async def _unlink_audit_trail(
    session: AsyncSession, client_id: int | None, telegram_user_id: int, case_ids: list[int]
) -> None:
    await audit.unlink_events_about(session, telegram_user_id=telegram_user_id, client_id=client_id,
                                    escalation_ids=case_ids, except_action=ERASED)
    await audit.unlink_actor(session, telegram_user_id)


# -- retention ---------------------------------------------------------------------------------------------


async def purge_finished(services: Services, *, now: datetime, limit: int = PURGE_BATCH) -> tuple[int, bool]:
    """Erase up to `limit` clients past the retention period, one transaction each.

    Returns how many were erased and whether that was all of them (a long backlog is worked off over several
    passes, so that one pass never holds up the messages due meanwhile)."""
    period = services.settings.retention_period
    if period is None:
        return 0, True
    async with services.session_factory.begin() as session:
        # Links never used (or declined) name a person who never became a client, so no client erasure would
        # ever reach them; used links go with their client.
        await invites.delete_unused_expired(session, before=now - period)
    async with services.session_factory() as session:
        due = await clients.finished_before(session, before=now - period, limit=limit)
    erased = 0
    for telegram_user_id in due:
        async with services.session_factory.begin() as session:
            if await erase(session, telegram_user_id, now=now, reason=BY_RETENTION) is not None:
                erased += 1
    if erased:
        await settle_erasure(services.engine)
    return erased, len(due) < limit


class RetentionPurger:
    """Runs the retention purge about once a day, across restarts and replicas (the end of the last complete
    purge is in the audit trail); cheap to call on every dispatcher tick."""

    def __init__(self, services: Services, batch: int = PURGE_BATCH) -> None:
        self.svc = services
        self.batch = batch
        self._next_check: datetime | None = None
        self._erased = 0  # so far in the purge under way

    async def run_if_due(self) -> int | None:
        """How many clients this purge erased once it is complete; None while not due or not finished yet."""
        if self.svc.settings.retention_period is None:
            return None
        now = self.svc.clock.now()
        if self._next_check is not None and now < self._next_check:
            return None
        async with self.svc.session_factory() as session:
            last = await audit.last_at(session, RETENTION_PURGE)
        if last is not None and now - last < PURGE_INTERVAL:
            self._next_check = last + PURGE_INTERVAL
            return None
        # Should the purge fail (the database restarting), it is tried again a little later, not every tick.
        self._next_check = now + PURGE_RETRY
        erased, complete = await purge_finished(self.svc, now=now, limit=self.batch)
        self._erased += erased
        if not complete:
            self._next_check = now  # more to do: carry on at the next tick
            return None
        total, self._erased = self._erased, 0
        async with self.svc.session_factory.begin() as session:
            await audit.record(session, now=now, action=RETENTION_PURGE, detail={"purged": total})
        self._next_check = now + PURGE_INTERVAL
        log.info("retention purge: erased %d client(s) with no activity for %s", total,
                 self.svc.settings.retention_period)
        return total
