"""What front-desk and clinical staff do: enrol clients and look them up."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.auth import staff_only
from aftercare_bot.bot.handlers.common import echoed, services, staff_language
from aftercare_bot.clients import enrolment, summary
from aftercare_bot.clients.enrol_command import EnrolProblem, parse_enrol
from aftercare_bot.clients.qr import qr_png
from aftercare_bot.db.repositories import clients, invites
from aftercare_bot.texts import wording

DEFAULT_TREATMENT = "microneedling"
SUMMARIES_SHOWN = 3  # /client shows this many matches in full,
MATCHES_NAMED = 10  # and names the next ones up to this many in all
PENDING_SHOWN = 5  # enrolments not yet joined listed, newest first


@staff_only
async def enrol(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), staff_language(context)
    treatments = svc.catalog.treatments()
    default = DEFAULT_TREATMENT if DEFAULT_TREATMENT in treatments else (treatments[0] if treatments else "")
    parsed = parse_enrol(
        context.args or [], now=svc.clock.now(), tz=svc.settings.timezone, treatments=treatments,
        default_treatment=default,
    )
    if isinstance(parsed, EnrolProblem):
        values = {name: echoed(value) for name, value in parsed.values.items()}
        await update.effective_chat.send_message(svc.text(parsed.key, lang, **values))
        return
    async with svc.session_factory.begin() as session:
        invite, token = await enrolment.create_invite(
            session, client_name=parsed.client_name, treatment=parsed.treatment, session_at=parsed.session_at,
            language=parsed.language, created_by=update.effective_user.id, now=svc.clock.now(),
            settings=svc.settings, renews=parsed.renews,
        )
    link = f"https://t.me/{context.bot.username}?start={token}"
    caption = svc.text(
        "enrol_created", lang, client_name=parsed.client_name, treatment=parsed.treatment,
        session_at=wording.moment(svc, parsed.session_at, lang), link=link,
        expires_at=wording.moment(svc, invite.expires_at, lang),
    )
    await update.effective_chat.send_photo(qr_png(link), caption=caption)


@staff_only
async def client(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/client <part of a name>: the best matches in full, more by name, and how many match in all; then the
    enrolments not yet joined (their link not opened), which have no client yet."""
    svc, lang = services(context), staff_language(context)
    query = " ".join(context.args or []).strip()
    if not query:
        await update.effective_chat.send_message(svc.text("client_usage", lang))
        return
    async with svc.session_factory() as session:
        found = await clients.search(session, query, limit=MATCHES_NAMED)
        pending = await invites.pending_matching(session, query, limit=PENDING_SHOWN)
        if not found and not pending:
            await update.effective_chat.send_message(svc.text("client_none", lang, query=echoed(query)))
            return
        total = len(found) if len(found) < MATCHES_NAMED else await clients.count_matching(session, query)
        pending_total = (
            len(pending) if len(pending) < PENDING_SHOWN else await invites.count_pending_matching(session, query)
        )
        for match in found[:SUMMARIES_SHOWN]:
            await update.effective_chat.send_message(await summary.describe(session, match, svc, lang))
    others = found[SUMMARIES_SHOWN:]
    if others:
        key = "client_more" if total == len(found) else "client_more_unlisted"
        await update.effective_chat.send_message(svc.text(
            key, lang, count=total - SUMMARIES_SHOWN, names=", ".join(c.name for c in others), example=others[0].name,
        ))
    if pending:
        await update.effective_chat.send_message(
            summary.pending_enrolments(pending, pending_total, svc, lang, now=svc.clock.now())
        )
