"""`/api/v1/`: booking systems enrol, look up and cancel clients with an API key.

Mounted on the bot's own web server (bot/webhook.py) in webhook and polling mode alike. Every call is checked
(Bearer key, then the key's rate), answered in JSON, and recorded in the audit trail with its outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from aftercare_bot.api import openapi
from aftercare_bot.api.models import EnrolmentCreated, EnrolmentStatus, Error, FieldError, Progress
from aftercare_bot.api.rate_limit import KeyRateLimiter
from aftercare_bot.clients import api_keys, booking
from aftercare_bot.clients.booking import FieldProblem, Outcome, Rules, Status
from aftercare_bot.clients.qr import qr_png
from aftercare_bot.db.models import ApiKey, ExternalEnrolment
from aftercare_bot.db.repositories import api_keys as api_keys_repo
from aftercare_bot.db.repositories import audit, external_enrolments
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024
OPENAPI_PATH = f"{PREFIX}/openapi.json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Call:
    """What the guard learns of a call, for the route and for the audit trail."""

    key: ApiKey | None = None
    external_id: str | None = None


_CALL: ContextVar[_Call] = ContextVar("api_call")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, *, fields: list[FieldProblem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.fields = fields or []
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = Error(error=self.error, message=self.message,
                     fields=[FieldError(field=f.field, problem=f.problem) for f in self.fields])
        return _json(body, status=self.status, headers=self.headers)


def _json(model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json",
                        headers=headers)


_HTTP_ERRORS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


class EnrolmentApi:
    def __init__(self, services: Services, bot_username: Callable[[], str]) -> None:
        self.svc = services
        self.bot_username = bot_username
        self.limiter = KeyRateLimiter(services.settings.api_rate_limit)

    def mount(self, app: web.Application) -> None:
        """Adds the API under /api/v1 to one of the bot's web servers."""
        api = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY_BYTES)
        api.router.add_get("/openapi.json", self._openapi)
        api.router.add_post("/enrolments", self._create)
        api.router.add_get("/enrolments/{external_id}", self._status)
        api.router.add_delete("/enrolments/{external_id}", self._cancel)
        api.router.add_get("/enrolments/{external_id}/qr.png", self._qr)
        app.add_subapp(PREFIX, api)

    # -- every call -----------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        call = _Call()
        _CALL.set(call)
        try:
            if request.path != OPENAPI_PATH:  # the document is public: it holds nothing of the clinic's
                call.key = key = await self._authenticate(request)
                wait = self.limiter.take(key.id)
                if wait:
                    seconds = max(1, round(wait + 0.5))
                    raise ApiError(429, "too_many_requests",
                                   f"this key may make {self.svc.settings.api_rate_limit} requests a minute; "
                                   f"try again in {seconds}s", headers={"Retry-After": str(seconds)})
            response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException as exc:  # no such route, a body too large, ...
            error = _HTTP_ERRORS.get(exc.status, "bad_request")
            response = ApiError(exc.status, error, exc.reason).response()
        except Exception:
            log.exception("API call %s %s failed", request.method, request.path)
            response = ApiError(500, "internal", "something went wrong; the call changed nothing").response()
        if request.path != OPENAPI_PATH:
            await self._audit(request, call, response.status)
        return response

    async def _authenticate(self, request: web.Request) -> ApiKey:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        secret = secret.strip() if scheme.lower() == "bearer" else ""
        async with self.svc.session_factory() as session:
            check = await api_keys.check(session, secret or None)
        if check.problem == api_keys.KeyProblem.MISSING:
            raise ApiError(401, "unauthorized", "send an API key: Authorization: Bearer <key>",
                           headers={"WWW-Authenticate": "Bearer"})
        if check.problem == api_keys.KeyProblem.UNKNOWN or check.key is None:
            raise ApiError(401, "unauthorized", "this API key is not known", headers={"WWW-Authenticate": "Bearer"})
        if check.problem == api_keys.KeyProblem.REVOKED:
            raise ApiError(403, "forbidden", "this API key was revoked; ask the clinic's admin for a new one")
        return check.key

    async def _audit(self, request: web.Request, call: _Call, status: int) -> None:
        key = call.key
        route = request.match_info.route.resource
        detail: dict[str, Any] = {
            "method": request.method, "route": route.canonical if route is not None else request.path,
            "status": status, "api_key_id": key.id if key else None,
        }
        if "external_id" in request.match_info:
            detail["external_id"] = request.match_info["external_id"][:128]
        if call.external_id is not None:
            detail["external_id"] = call.external_id
        now = self.svc.clock.now()
        try:
            async with self.svc.session_factory.begin() as session:
                await audit.record(session, now=now, action="api_call", detail=detail)
                if key is not None:
                    await api_keys_repo.touch(session, key.id, now)
        except Exception:
            log.exception("could not record the API call %s", detail)

    # -- the routes -----------------------------------------------------------------------------------------

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi.document())

    async def _create(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, "bad_request", f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(422, "validation_failed", "the body must be a JSON object",
                           fields=[FieldProblem("body", "must be a JSON object with the enrolment's fields")])
        if isinstance(data.get("external_id"), str):
            _CALL.get().external_id = data["external_id"][:128]
        now = self.svc.clock.now()
        fields = booking.parse_fields(data, Rules.of(self.svc.settings, self.svc.catalog.treatments(), now))
        if isinstance(fields, list):
            names = ", ".join(problem.field for problem in fields)
            raise ApiError(422, "validation_failed", f"{len(fields)} wrong: {names}", fields=fields)
        key = _CALL.get().key
        assert key is not None
        for attempt in range(2):
            try:
                async with self.svc.session_factory.begin() as session:
                    saved = await booking.save(session, fields, source=booking.API, api_key_id=key.id,
                                               actor_id=None, now=now, settings=self.svc.settings)
                    report = await booking.status_of(session, saved.record, now=now)
                break
            except IntegrityError:
                if attempt:  # the same external id sent twice at once: the second finds the first's row
                    raise
        if saved.outcome == Outcome.CONFLICT:
            raise ApiError(409, "conflict", f"{fields.external_id} cannot change: {saved.conflict}")
        assert saved.invite is not None and saved.token is not None
        body = EnrolmentCreated(
            id=f"{saved.record.id}-{saved.record.ref}", external_id=saved.record.external_id,
            link=booking.invite_link(self.bot_username(), saved.token),
            qr_png_url=f"{PREFIX}/enrolments/{quote(saved.record.external_id)}/qr.png",
            expires_at=saved.invite.expires_at, status=report.status,
        )
        return _json(body, status=201 if saved.outcome == Outcome.CREATED else 200)

    async def _record(self, request: web.Request, session: Any, *, for_update: bool = False) -> ExternalEnrolment:
        external_id = request.match_info["external_id"]
        record = await external_enrolments.by_external_id(session, external_id, for_update=for_update)
        if record is None:
            raise ApiError(404, "not_found", f"no enrolment has the external_id {external_id!r}")
        return record

    async def _status(self, request: web.Request) -> web.Response:
        async with self.svc.session_factory() as session:
            record = await self._record(request, session)
            report = await booking.status_of(session, record, now=self.svc.clock.now())
        return _json(_status_body(record, report))

    async def _cancel(self, request: web.Request) -> web.Response:
        now = self.svc.clock.now()
        queued = None
        async with self.svc.session_factory.begin() as session:
            record = await self._record(request, session, for_update=True)
            cancelled = await booking.cancel(session, record, actor_id=None, now=now)
            if cancelled.client is not None:
                client = cancelled.client
                queued = await self.svc.runtime.outbox.tell_client(
                    session, client, self.svc.text("booking_cancelled_client", client.language),
                    kind="notice", enrolment_id=cancelled.enrolment_id, send_after_commit=True,
                )
            report = await booking.status_of(session, record, now=now)
        if queued is not None:
            await self.svc.runtime.outbox.send_queued(queued)
        return _json(_status_body(record, report))

    async def _qr(self, request: web.Request) -> web.Response:
        now = self.svc.clock.now()
        async with self.svc.session_factory() as session:
            record = await self._record(request, session)
            report = await booking.status_of(session, record, now=now)
            invite = await external_enrolments.invite_of(session, record)
        if invite is None or report.status not in (Status.LINK_MADE, Status.OPENED):
            raise ApiError(409, "conflict", f"the link no longer works (status: {report.status})")
        token = booking.link_token(booking.link_key(self.svc.settings), invite.ref or "")
        png = qr_png(booking.invite_link(self.bot_username(), token))
        return web.Response(body=png, content_type="image/png")


def _status_body(record: ExternalEnrolment, report: booking.StatusReport) -> EnrolmentStatus:
    return EnrolmentStatus(
        external_id=record.external_id, status=report.status, link_expires_at=report.link_expires_at,
        opened_at=report.opened_at, agreed_at=report.agreed_at,
        progress=Progress(messages_sent=report.messages_sent, messages_planned=report.messages_planned),
    )
