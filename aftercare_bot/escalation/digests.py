"""Digests: when more posts wait for a staff chat than it can take soon (Telegram lets a group have 20 messages a
minute), the cases they are about are listed together in one message instead, with a button per case to claim it.

Before each batch the staff lane takes (TimerRunner.before_staff_batch), relieve() weighs what waits against the
chat's room (delivery.ports.Pacing). Under pressure it folds the new cases' cards and the queued re-alerts and
final-notice notes of cases nobody has claimed into digests of up to DIGEST_SIZE cases, in one transaction that
takes those posts off the queue (with SKIP LOCKED, so replicas never fold one twice) and schedules each digest's
timer, which the staff lane fires before anything else. A digest is edited in place when one of its cases is
claimed or resolved, a few seconds later so that a run of claims costs one edit. Claiming from a digest posts the
case's full card, under which staff reply to the client. A few of the chat's minute are never spent on single
posts (outbox.STAFF_RESERVE), so a digest always finds room within the minute however large the burst.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.callbacks import Press
from aftercare_bot.db.models import Client, Escalation, EscalationState, StaffDigestEntry, Timer
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import digests as repo
from aftercare_bot.db.repositories import timers
from aftercare_bot.delivery import confirmed_sends
from aftercare_bot.delivery.outbox import OUTBOX_TIMER, STAFF_RESERVE, Outbox
from aftercare_bot.delivery.ports import Button, OutboundMessage
from aftercare_bot.delivery.staff_notify import staff_destinations
from aftercare_bot.escalation.cards import KIND_NO_RESPONSE, Buttons, CaseTexts
from aftercare_bot.escalation.posts import ROLE_NOTE, ROLE_REALERT, Messenger
from aftercare_bot.escalation.timers import CARD_TIMER
from aftercare_bot.services import Services
from aftercare_bot.texts.catalog import MAX_MESSAGE_LENGTH
from aftercare_bot.texts.telegram_html import visible_length
from aftercare_bot.triage.classify import TriageLevel

log = logging.getLogger(__name__)

DIGEST_TIMER = "staff_digest"  # subject: the StaffDigest id; posts it, or edits it once posted
# Cases in one digest: a line and a button each. Telegram takes at most 100 buttons under a message; the lines are
# shortened as needed to fit its 4,096 characters (render()). Each digest is one of the staff group's 20 messages
# a minute, so the more it holds, the sooner every case of a large burst is on staff's screen.
DIGEST_SIZE = 100
BUTTONS_PER_ROW = 4
HORIZON = 20.0  # seconds: posts the chat cannot let out within this are folded
FOLD_AT_MOST = 400  # posts folded in one go; the next batch folds more
EDIT_AFTER = timedelta(seconds=3)  # a run of claims in a digest costs one edit
REASON_CHARS = 40
NAME_CHARS = 24
NEW, REALERT, FINAL = "new", "realert", "final"
FULL, NO_REASONS, SHORT = "full", "no reasons", "short"  # how much of each case a digest's line shows
_NOTE_OF_ROLE = {ROLE_REALERT: REALERT, ROLE_NOTE: FINAL}


async def case_changed(session: AsyncSession, escalation_id: int, now: datetime) -> bool:
    """Inside the transaction that claims or resolves a case: its digests are edited a little later (one edit
    timer per digest at a time). True when there is one to edit."""
    scheduled = False
    for digest_id in await repo.of_case(session, escalation_id):
        if await timers.newest_live(session, kind=DIGEST_TIMER, subject_id=digest_id) is None:
            await timers.schedule(session, kind=DIGEST_TIMER, subject_id=digest_id, due_at=now + EDIT_AFTER, now=now)
        scheduled = True
    return scheduled


class StaffDigests:
    def __init__(self, services: Services, messenger: Messenger, outbox: Outbox, texts: CaseTexts) -> None:
        self.svc = services
        self.messenger = messenger
        self.outbox = outbox
        self.texts = texts

    # -- folding, before each staff batch -----------------------------------------------------------------------

    def under_pressure(self, chat_id: int, waiting: int) -> bool:
        """More posts wait than the chat lets out soon, keeping its reserve for digests."""
        return waiting > max(self.outbox.pacing.room(chat_id, HORIZON) - STAFF_RESERVE, 0)

    async def relieve(self, waiting: int) -> int:
        """Fold what waits for the staff chats into digests when they cannot take it soon; how many posts were
        folded. `waiting`: how many staff posts and timers are due."""
        chats = staff_destinations(self.svc)
        if len(chats) == 0 or waiting < 2 or not any(self.under_pressure(chat, waiting) for chat in chats):
            return 0
        now = self.svc.clock.now()
        folded_count = 0
        async with self.svc.session_factory.begin() as session:
            cards = await repo.take_cards(session, card_kind=CARD_TIMER, now=now, limit=FOLD_AT_MOST)
            await repo.fold(session, cards)
            folded_count += len(cards)
            for chat_id in chats:
                posts = await repo.take_posts(session, outbox_kind=OUTBOX_TIMER, chat_id=chat_id,
                                              roles=tuple(_NOTE_OF_ROLE), now=now, limit=FOLD_AT_MOST)
                await repo.fold(session, posts)
                folded_count += len(posts)
                notes: dict[int, str] = {card.escalation_id: NEW for card in cards}
                for post in posts:
                    notes.setdefault(post.escalation_id, _NOTE_OF_ROLE[post.role or ROLE_REALERT])
                listed = sorted(notes.items())
                for start in range(0, len(listed), DIGEST_SIZE):
                    digest_id = await repo.create(session, chat_id=chat_id, entries=listed[start:start + DIGEST_SIZE],
                                                  now=now)
                    await timers.schedule(session, kind=DIGEST_TIMER, subject_id=digest_id, due_at=now, now=now)
        if folded_count:
            log.info("the staff chat is busy: %d post(s) folded into digests", folded_count)
        return folded_count

    # -- the digest's timer: post it, or edit it -----------------------------------------------------------------

    async def on_timer(self, timer: Timer) -> datetime | None:
        """Post the digest, or show its cases' current state on it. Raises SendRetryLater to be retried."""
        digest_id = timer.subject_id
        async with self.svc.session_factory() as session:
            found = await repo.load(session, digest_id)
        if found is None:
            return None
        digest, rows = found
        if not rows:  # every case in it was erased
            if digest.message_id is None:
                async with self.svc.session_factory.begin() as session:
                    await repo.remove(session, digest_id)
            return None
        html, buttons = self.render(rows)
        if digest.message_id is not None:
            await self.messenger.edit(digest.chat_id, digest.message_id, html, buttons)
            async with self.svc.session_factory.begin() as session:
                await repo.set_edited(session, digest_id, now=self.svc.clock.now())
            return None
        message_id = await self.messenger.send(OutboundMessage(digest.chat_id, html, buttons))

        async def record() -> None:
            async with self.svc.session_factory.begin() as session:
                await repo.set_posted(session, digest_id, message_id=message_id, now=self.svc.clock.now())

        await confirmed_sends.record(record, lease=self.svc.settings.send_lease, what=f"digest {digest_id} went out")
        return None

    def render(self, rows: list[tuple[StaffDigestEntry, Escalation, Client]]) -> tuple[str, Buttons]:
        """The digest's text, as full as fits in a message: with each case's reason, without it, or (many cases
        at once) only the icon, number and first name; and a button per case still open."""
        for detail in (FULL, NO_REASONS):
            html = self._text(rows, detail)
            if visible_length(html) <= MAX_MESSAGE_LENGTH:
                break
        else:
            html = self._text(rows, SHORT)
        buttons = [Button(self.texts.plain("esc_digest_button", number=escalation.id),
                          self.svc.signer.sign(Press.DIGEST, RowRef.of(escalation)))
                   for _entry, escalation, _client in rows if escalation.state == EscalationState.OPEN]
        rows_of_buttons = tuple(tuple(buttons[start:start + BUTTONS_PER_ROW])
                                for start in range(0, len(buttons), BUTTONS_PER_ROW))
        return html, rows_of_buttons

    def _text(self, rows: list[tuple[StaffDigestEntry, Escalation, Client]], detail: str) -> str:
        lines = [self.texts.t("esc_digest_header", count=len(rows))]
        for entry, escalation, client in rows:
            name = _short(client.name.split()[0] if client.name.split() else "?", NAME_CHARS)
            if detail == SHORT:
                lines.append(self.texts.t("esc_digest_line_short", icon=self._icon(escalation), number=escalation.id,
                                          name=name))
                continue
            lines.append(self.texts.t(
                "esc_digest_line", icon=self._icon(escalation), number=escalation.id, name=name,
                level=self.texts.plain(f"esc_level_{escalation.level}"),
                reason=self._reason(escalation) if detail == FULL else "…", status=self._status(entry, escalation),
            ))
        return "\n".join(lines)

    def _icon(self, escalation: Escalation) -> str:
        if escalation.state != EscalationState.OPEN:
            return self.texts.plain("esc_digest_icon_done")
        if escalation.kind == KIND_NO_RESPONSE:
            return self.texts.plain("esc_digest_icon_no_response")
        urgent = escalation.level == TriageLevel.URGENT
        return self.texts.plain("esc_digest_icon_urgent" if urgent else "esc_digest_icon_concern")

    def _reason(self, escalation: Escalation) -> str:
        reasons = [reason.strip() for reason in escalation.reasons.split("\n") if reason.strip()]
        return _short(reasons[0], REASON_CHARS) if reasons else self.texts.plain("esc_digest_no_reason")

    def _status(self, entry: StaffDigestEntry, escalation: Escalation) -> str:
        if escalation.state == EscalationState.RESOLVED:
            return self.texts.plain("esc_digest_resolved")
        if escalation.state == EscalationState.CLAIMED:
            return self.texts.plain("esc_digest_claimed", name=escalation.claimed_by_name or escalation.claimed_by)
        return self.texts.plain(f"esc_digest_{entry.note}")

    # -- after a claim from a digest -------------------------------------------------------------------------

    async def card_follows(self, escalation_id: int) -> None:
        """The case's full card for staff to reply under, when only a digest showed it."""
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            escalation = await session.get(Escalation, escalation_id)
            if escalation is None or escalation.card_message_id is not None:
                return
            if await timers.newest_live(session, kind=CARD_TIMER, subject_id=escalation_id) is None:
                await timers.schedule(session, kind=CARD_TIMER, subject_id=escalation_id, due_at=now, now=now)
        if self.svc.started:
            self.svc.runtime.wake(0)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
