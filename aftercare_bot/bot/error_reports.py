"""Unexpected errors, reported to the admins in Telegram.

Whatever aftercare_bot logs as an error with an exception (`log.exception`, the error handler, a failed job) is
reported: the exception's type, where it was raised, and the numbers the log call passed along (`extra=`, see
IDS), never the exception's message or anything else a client wrote. The same error (type and place) is
reported at most once per WINDOW, and all errors at most HOURLY_CAP times an hour; what is held back is counted
and reported with the next report of that error (flush() sends those due). Sent directly to the admins, not
through the outbox: the error may well be the database. Reporting never raises.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from aftercare_bot.delivery.ports import OutboundMessage, RecipientBlocked, Sender, SendRejected, SendRetryLater
from aftercare_bot.services import Services
from aftercare_bot.texts.rendering import Html

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=10)
HOURLY_CAP = 6
# What a log call may pass in `extra=` for the report, and the text that names each number.
IDS = {
    "case_id": "error_report_case",
    "client_id": "error_report_client",
    "delivery_id": "error_report_delivery",
    "timer_id": "error_report_timer",
    "chat_id": "error_report_chat",
}
MAX_NUMBERS = 5  # of each kind, in one report
# Failures the code expects and handles: a person who blocked the bot, Telegram busy or unreachable.
EXPECTED: tuple[type[BaseException], ...] = (
    RecipientBlocked, SendRejected, SendRetryLater, Forbidden, RetryAfter,
)


def is_expected(error: BaseException) -> bool:
    # PTB makes BadRequest (a refused call: a bug of ours) a NetworkError (a connection problem: not one).
    return isinstance(error, EXPECTED) or (isinstance(error, NetworkError) and not isinstance(error, BadRequest))


def type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def where_raised(error: BaseException) -> str | None:
    """The innermost place in aftercare_bot that the exception passed through: module.function:line."""
    place = None
    for frame, line in traceback.walk_tb(error.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.startswith("aftercare_bot.") and module != __name__:
            place = f"{module}.{frame.f_code.co_qualname}:{line}"
    return place


@dataclass
class _Kind:
    error: str
    where: str
    last_sent: datetime | None = None
    held: int = 0  # occurrences not reported yet
    numbers: dict[str, list[int]] = field(default_factory=dict)


class ErrorReports:
    def __init__(self, services: Services, sender: Sender) -> None:
        self.svc = services
        self.sender = sender
        self._kinds: dict[tuple[str, str], _Kind] = {}
        self._sent: deque[datetime] = deque()  # when each report of the last hour went out
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handler = _ReportingHandler(self)

    # -- taking errors in --------------------------------------------------------------------------------------

    def install(self) -> None:
        """Report what aftercare_bot logs from now on; called in the event loop the bot runs in."""
        self._loop = asyncio.get_running_loop()
        logging.getLogger("aftercare_bot").addHandler(self._handler)

    async def close(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        logging.getLogger("aftercare_bot").removeHandler(self._handler)
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    def capture(self, error: BaseException, *, where: str | None = None, **numbers: object) -> None:
        """Report the error now, or count it for a later report. `where`: the place to name if the traceback
        passes through no aftercare_bot code; `numbers`: case_id, client_id, ... (see IDS)."""
        try:
            running = _running_loop()
            if self._loop is not None and running is not self._loop:  # logged from another thread
                self._loop.call_soon_threadsafe(self._note, error, where, numbers)
            else:
                self._note(error, where, numbers)
        except Exception as exc:
            log.warning("could not report an error (%s)", type(exc).__name__)

    def _note(self, error: BaseException, where: str | None, numbers: dict[str, object]) -> None:
        try:
            if is_expected(error):
                return
            place = where_raised(error) or where or "?"
            name = type_name(error)
            kind = self._kinds.setdefault((name, place), _Kind(name, place))
            kind.held += 1
            for key, value in numbers.items():
                if key in IDS and isinstance(value, int) and not isinstance(value, bool):
                    seen = kind.numbers.setdefault(key, [])
                    if value not in seen and len(seen) < MAX_NUMBERS:
                        seen.append(value)
            self._report_if_allowed(kind, self.svc.clock.now())
        except Exception as exc:
            log.warning("could not report an error (%s)", type(exc).__name__)

    # -- reporting -------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Report the errors held back whose wait is over (called on every pass of the scheduler)."""
        try:
            now = self.svc.clock.now()
            for key, kind in list(self._kinds.items()):
                if kind.held:
                    self._report_if_allowed(kind, now)
                elif kind.last_sent is None or now - kind.last_sent >= WINDOW:
                    del self._kinds[key]  # nothing to tell, nothing to hold back any more
        except Exception as exc:
            log.warning("could not report held-back errors (%s)", type(exc).__name__)

    def _report_if_allowed(self, kind: _Kind, now: datetime) -> None:
        if kind.last_sent is not None and now - kind.last_sent < WINDOW:
            return
        while self._sent and now - self._sent[0] >= timedelta(hours=1):
            self._sent.popleft()
        if len(self._sent) >= HOURLY_CAP:
            return
        html = self.wording(kind)
        kind.last_sent, kind.held, kind.numbers = now, 0, {}
        self._sent.append(now)
        self._start(html)

    def wording(self, kind: _Kind) -> str:
        language = self.svc.staff_language

        def line(key: str, **values: object) -> Html:
            return Html("\n" + self.svc.text(key, language, **values))

        numbers = ", ".join(
            self.svc.text(IDS[key], language, number=number) for key, found in kind.numbers.items() for number in found
        )
        count = ""
        if kind.last_sent is not None:
            count = line("error_report_count_since_last", count=kind.held)
        elif kind.held > 1:
            count = line("error_report_count", count=kind.held)
        return self.svc.text(
            "error_report", language, error=kind.error, where=kind.where, minutes=int(WINDOW.total_seconds() // 60),
            about=line("error_report_about", numbers=Html(numbers)) if numbers else Html(""), count=Html(count),
        )

    def destinations(self) -> list[int]:
        """The admins privately; the staff chat when there are none (a report names no client, only numbers)."""
        settings = self.svc.settings
        if settings.admin_ids:
            return list(settings.admin_ids)
        return [settings.staff_chat_id] if settings.staff_chat_id is not None else []

    def _start(self, html: str) -> None:
        loop = self._loop or _running_loop()
        if loop is None or loop.is_closed():
            log.warning("could not report an error: the bot is not running")
            return
        task = loop.create_task(self._send(html))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, html: str) -> None:
        for chat_id in self.destinations():
            try:
                await self.sender.send(OutboundMessage(chat_id, html))
            except Exception as exc:
                log.warning("could not send an error report to chat %s (%s)", chat_id, type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the reports being sent (for tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks)


class _ReportingHandler(logging.Handler):
    """Hands every error logged with an exception to ErrorReports."""

    def __init__(self, reports: ErrorReports) -> None:
        super().__init__(logging.ERROR)
        self.reports = reports

    def emit(self, record: logging.LogRecord) -> None:
        try:
            error = record.exc_info[1] if record.exc_info else None
            if error is None or record.name == __name__:
                return
            numbers = {key: getattr(record, key) for key in IDS if hasattr(record, key)}
            self.reports.capture(error, where=f"{record.name}.{record.funcName}", **numbers)
        except Exception as exc:
            log.warning("could not report an error (%s)", type(exc).__name__)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
