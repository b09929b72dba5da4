"""Paying for urgent messages to skip Telegram's overall limit while it is saturated (SAFETY_PAID_BROADCAST).

Telegram lets a bot send about 30 messages a second in all; a message sent with allow_paid_broadcast may go beyond
that, up to 1,000 a second, for 0.1 Telegram Star. Only urgent messages (the safety reply to a client describing a
warning sign, the final "call the clinic" notice) are paid for, and only while the overall limit is saturated: the
rate limiter already holds more than BUSY_AFTER seconds of messages waiting for it. A quiet day costs nothing.

Should Telegram refuse a paid message (the bot's Stars balance is too low, say), it goes again at once unpaid, in
the overall queue like any other; one warning is logged and nothing is paid for during PAUSE_AFTER_REFUSAL, unless
Telegram refuses the message unpaid as well: then the message was at fault, not the payment.
"""

from __future__ import annotations

import asyncio
import logging

from aftercare_bot.bot.telegram.rate_limit import TelegramRateLimiter

log = logging.getLogger(__name__)

# Well under the 2 s in which a client describing a warning sign must have the safety reply, and more than a quiet
# day's few messages sent together ever add up to (half a second is about 15 messages).
BUSY_AFTER = 0.5
PAUSE_AFTER_REFUSAL = 600.0
REPORT_EVERY = 60.0  # seconds between log lines counting the messages paid for


class PaidBroadcast:
    def __init__(self, limiter: TelegramRateLimiter) -> None:
        self.limiter = limiter
        self.paid = 0  # messages Telegram accepted paid, since start
        self._paused_until = float("-inf")  # event loop time
        self._reported_at = float("-inf")

    def wanted(self) -> bool:
        """Whether an urgent message about to be sent should be paid for."""
        return self._now() >= self._paused_until and self.limiter.overall_wait() > BUSY_AFTER

    def accepted(self) -> None:
        self.paid += 1
        if self._now() - self._reported_at >= REPORT_EVERY:
            self._reported_at = self._now()
            log.info("Telegram's overall limit is saturated: urgent messages are sent as paid broadcasts "
                     "(%d since start, 0.1 Star each)", self.paid)

    def refused(self, reason: str) -> None:
        """Telegram refused a paid message: nothing more is paid for a while (the message goes again unpaid)."""
        if self._now() >= self._paused_until:
            log.warning("Telegram refused a paid broadcast (%s); it goes unpaid, and urgent messages wait for the "
                        "overall limit for the next %d minutes. Is the bot's Telegram Stars balance too low?",
                        reason, PAUSE_AFTER_REFUSAL // 60)
        self._paused_until = self._now() + PAUSE_AFTER_REFUSAL

    def not_about_paying(self) -> None:
        """Telegram refused the same message unpaid too: the message was at fault, not the payment."""
        self._paused_until = float("-inf")

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
