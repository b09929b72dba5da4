"""Typed database models. Every moment is stored as an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aftercare_bot.db.refs import REF_CHARS, new_ref

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Keeps datetimes aware and in UTC on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), int: BigInteger(), dict[str, Any]: JSON()}


class HasRef:
    """A random reference of its own for a row that buttons name (why: db/refs.py). Made with the object, so it
    is known before the row is written; older rows got theirs from migration 0003. NULL matches no button."""

    ref: Mapped[str | None] = mapped_column(String(REF_CHARS), default=new_ref)

    def __init__(self, **values: Any) -> None:
        values.setdefault("ref", new_ref())
        super().__init__(**values)


class Role(StrEnum):
    STAFF = "staff"
    ADMIN = "admin"
    # Removed from the team: overrides the staff access that membership of the staff chat would give.
    REVOKED = "revoked"


class ClientStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"


class InviteStatus(StrEnum):
    PENDING = "pending"
    USED = "used"
    DECLINED = "declined"
    # Never opened, but the client joined through another link made for the same session.
    REPLACED = "replaced"
    # The appointment was cancelled by the booking system: the link no longer works.
    CANCELLED = "cancelled"


class EnrolmentState(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EscalationState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class TimerState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class StaffMember(Base):
    __tablename__ = "staff_members"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[int | None]
    added_at: Mapped[datetime]


class StaffChatMembership(Base):
    """What Telegram last said about a person's membership of the staff chat. Kept in the database rather
    than in one process, so that a removal Telegram reports to one replica takes effect on every replica."""

    __tablename__ = "staff_chat_memberships"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    is_member: Mapped[bool]
    checked_at: Mapped[datetime]


class Client(HasRef, Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(unique=True)
    chat_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ClientStatus.ACTIVE)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Invite(HasRef, Base):
    """A one-time enrolment link; only a hash of its token is kept."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_name: Mapped[str] = mapped_column(String(200))
    treatment: Mapped[str] = mapped_column(String(64))
    session_at: Mapped[datetime]
    language: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[int]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=InviteStatus.PENDING)
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None]
    # Who last opened the link and was asked to agree: only they may answer.
    opened_by: Mapped[int | None] = mapped_column(index=True)
    # The link made to replace this one (staff's `/enrol ... renew=`): joining through either settles both.
    renewed_by_id: Mapped[int | None] = mapped_column(index=True)
    # The client the link was used by, or who joined through a renewal of it (REPLACED):
    # erasing the client erases these too, by the record rather than by matching names. No foreign key, so
    # that SQLite can add and drop the column without rebuilding the table; erasure deletes them itself.
    client_id: Mapped[int | None] = mapped_column(index=True)
    # When the client first opened the link (the booking system's status shows it).
    opened_at: Mapped[datetime | None]
    # E.164, for joining at the front desk by sharing one's number; erased once matched, at expiry, on cancel.
    phone: Mapped[str | None] = mapped_column(String(32), index=True)


class Enrolment(Base):
    """One treatment session of a client and the aftercare plan that follows it."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="SET NULL"))
    treatment: Mapped[str] = mapped_column(String(64))
    session_at: Mapped[datetime]
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=EnrolmentState.ACTIVE)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship(lazy="joined")


class Delivery(HasRef, Base):
    """One scheduled plan message for one client: the durable record the dispatcher works from."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_send_at", "state", "send_at"),
        # Only the few rows being sent: finding claims left by a dead sender stays a lookup whatever the
        # statistics say about the state column. Queries must compare state with the literal 'sending'.
        Index(
            "ix_deliveries_sending_claimed_at", "claimed_at",
            sqlite_where=text("state = 'sending'"), postgresql_where=text("state = 'sending'"),
        ),
        # The report: each plan's last message from the index alone, and the plan message figures from a
        # covering index read in its order (no sort, no table rows), however many rows the period holds.
        Index("ix_deliveries_enrolment_id_due_at", "enrolment_id", "due_at"),
        Index("ix_deliveries_report", "step_key", "checkin", "state", "quiet_held", "due_at", "answer"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int]
    step_key: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    send_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None]
    plan_revision: Mapped[int | None]
    checkin: Mapped[bool] = mapped_column(default=False)
    answer: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None]
    # Quiet hours held it back at some point (when it was planned, or when it fell due): counted by the report.
    quiet_held: Mapped[bool] = mapped_column(default=False, server_default=false())


class ConversationMessage(Base):
    """Everything said between a client and the clinic outside the plan: inbound, safety replies, staff replies."""

    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="SET NULL"))
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(8))  # "in" from the client, "out" to the client
    author_id: Mapped[int | None]  # the staff member for staff replies
    kind: Mapped[str] = mapped_column(String(16))  # text, photo, voice, video, document, sticker, button, ...
    text: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(256))
    telegram_message_id: Mapped[int | None]
    triage_level: Mapped[str | None] = mapped_column(String(16))
    triage_reasons: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class Escalation(HasRef, Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolments.id", ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="message")  # message | no_response
    state: Mapped[str] = mapped_column(String(16), default=EscalationState.OPEN, index=True)
    reasons: Mapped[str] = mapped_column(Text, default="")
    card_chat_id: Mapped[int | None]
    card_message_id: Mapped[int | None]
    created_at: Mapped[datetime]
    claimed_by: Mapped[int | None]
    claimed_by_name: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None]
    resolved_by_name: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    # The client was asked which warning sign applies (triage could not place a symptom), and what they pressed.
    asked_back_at: Mapped[datetime | None]
    ask_back_answer: Mapped[str | None] = mapped_column(String(16))
    ask_back_answered_at: Mapped[datetime | None]


class EscalationPost(Base):
    """A bot message in a staff chat that belongs to an escalation, so that a reply to any of them reaches
    the right client. `role` says what it is: card, thread (a later client message), media, realert, ..."""

    __tablename__ = "escalation_posts"
    __table_args__ = (Index("ix_escalation_posts_chat_message", "chat_id", "message_id", unique=True),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # NULL once the case is erased: the post is still known as a case's, so a reply to it gets a kind answer.
    escalation_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalations.id", ondelete="SET NULL"), index=True
    )
    chat_id: Mapped[int]
    message_id: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class StaffDigest(Base):
    """One message in a staff chat listing many cases at once, posted instead of their single posts when the chat
    cannot take them all soon (Telegram lets a group have 20 messages a minute); edited as the cases change."""

    __tablename__ = "staff_digests"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int]
    message_id: Mapped[int | None]  # once posted
    created_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]
    edited_at: Mapped[datetime | None]


class StaffDigestEntry(Base):
    """A case listed in a digest, and why: new (its card was folded), realert (still unclaimed) or final (the
    client was told to call). Erased with the case."""

    __tablename__ = "staff_digest_entries"
    __table_args__ = (Index("ix_staff_digest_entries_digest_case", "digest_id", "escalation_id", unique=True),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("staff_digests.id", ondelete="CASCADE"))
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(String(16))


class Timer(Base):
    """A durable timer (escalation re-alerts, check-in reminders) claimed by one replica when due."""

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_state_due_at", "state", "due_at"),
        Index("ix_timers_kind_subject_id", "kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int]
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=TimerState.PENDING)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message the bot must not lose (a safety reply, a staff reply, a notice to staff), kept until Telegram
    has it or refuses it for good. A Timer of kind "outbox" sends it; a chat's messages go out in order."""

    __tablename__ = "outbox"
    # Rows are deleted once sent; AUTOINCREMENT stops SQLite from giving a new row the id of one gone, which
    # a timer may still name.
    __table_args__ = (Index("ix_outbox_chat_id_id", "chat_id", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int]
    html: Mapped[str] = mapped_column(Text, default="")
    reply_to_message_id: Mapped[int | None]
    photo_file_id: Mapped[str | None] = mapped_column(String(256))
    # Set to copy someone's message (a staff member's voice note, say) instead of sending html.
    copy_from_chat_id: Mapped[int | None]
    copy_from_message_id: Mapped[int | None]
    # The client it goes to or is about: erased with them.
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    # The stored copy in the conversation, which gets the Telegram message id once sent.
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation_messages.id", ondelete="CASCADE")
    )
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"))
    # With escalation_id: a staff-chat post of the case, under its card, remembered as this role once sent.
    post_role: Mapped[str | None] = mapped_column(String(16))
    # Inline buttons, as JSON rows of [label, callback data] (the ask-back question's, say).
    buttons: Mapped[str | None] = mapped_column(Text)
    # A staff member's message this one passes on: they are told there once it is delivered (report_html),
    # or that it could not be.
    report_chat_id: Mapped[int | None]
    report_message_id: Mapped[int | None]
    report_html: Mapped[str | None] = mapped_column(Text)
    # Safety advice for a client (delivery.ports.OutboundMessage.urgent).
    urgent: Mapped[bool] = mapped_column(default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Flood control: Telegram asked for nothing to this chat before then. Other failures may be retried early.
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime]


class PlanRevision(Base):
    """A whole plan as edited from Telegram; the newest revision of a treatment wins over its file."""

    __tablename__ = "plan_revisions"
    __table_args__ = (Index("ix_plan_revisions_treatment_revision", "treatment", "revision", unique=True),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    treatment: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int]
    document: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None]
    created_by_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class PlanDraft(HasRef, Base):
    """A plan change an admin has prepared in Telegram and not yet confirmed (kept across restarts)."""

    __tablename__ = "plan_drafts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    treatment: Mapped[str] = mapped_column(String(64))
    change: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AdminEdit(Base):
    """An edit an admin is typing in a private chat: which question waits for an answer, and what was said so far.

    Kept in the database so that any replica takes the next message and a restart loses nothing.
    """

    __tablename__ = "admin_edits"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    question: Mapped[str] = mapped_column(String(32))
    draft: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[int | None] = mapped_column(index=True)
    escalation_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ApiKey(HasRef, Base):
    """A key a booking system uses on the HTTP API; only a hash of it is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, so people can tell keys apart
    created_by: Mapped[int | None]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None]


class ExternalEnrolment(HasRef, Base):
    """An enrolment made by a booking system (the API) or an import, known by the system's own id.

    It outlives its invite: once the client is erased the invite is gone, and the status reads "erased". The
    invite is named by id and ref, as a button would name it, so a later invite given the same id is not taken
    for it. No personal data here: the name, treatment and phone live on the invite and go with it.
    """

    __tablename__ = "external_enrolments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # "api" or "import"
    api_key_id: Mapped[int | None]
    invite_id: Mapped[int]
    invite_ref: Mapped[str] = mapped_column(String(REF_CHARS))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    # Set once the daily summary to the staff chat has counted it.
    reported_at: Mapped[datetime | None] = mapped_column(index=True)
