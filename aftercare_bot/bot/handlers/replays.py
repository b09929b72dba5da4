"""Drops an update this process has already handled.

Telegram sends an update again when it was not confirmed in time (a webhook that answered late, a poll
interrupted mid-batch). Handling it twice would answer a button twice (which Telegram refuses) and say
things twice. Client messages are also de-duplicated in the database, which covers a restart in between.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

log = logging.getLogger(__name__)

REMEMBERED = 5000  # far more than can be in flight or redelivered at once
SEEN_UPDATES_KEY = "seen_update_ids"


async def drop_replayed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Checked and recorded with no await in between, so two concurrent copies cannot both pass.
    seen: OrderedDict[int, None] = context.application.bot_data.setdefault(SEEN_UPDATES_KEY, OrderedDict())
    if update.update_id in seen:
        log.info("update %s arrived again; already handled", update.update_id)
        raise ApplicationHandlerStop
    seen[update.update_id] = None
    if len(seen) > REMEMBERED:
        seen.popitem(last=False)
