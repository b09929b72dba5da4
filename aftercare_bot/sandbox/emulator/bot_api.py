"""The Bot API as the bot sees it: every call is checked against the spec, then answered from the world.

Shared by the HTTP emulator and by the in-process recording request of the fast tests.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from aftercare_bot.sandbox.emulator.actions import World
from aftercare_bot.sandbox.emulator.faults import FaultPlan, FloodLimiter
from aftercare_bot.sandbox.emulator.members import chat_member
from aftercare_bot.sandbox.emulator.messaging import MessagingMethods, bad_request
from aftercare_bot.sandbox.emulator.models import JSON, ApiError, SpecViolation
from aftercare_bot.sandbox.emulator.spec import ApiSpec, UploadedFile, load_spec

SENDING_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage"})
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
PAID_BROADCAST_FEE = Decimal("0.1")  # Telegram Stars per message sent with allow_paid_broadcast
BALANCE_TOO_LOW = "Bad Request: BALANCE_TOO_LOW"  # as Telegram names a Stars balance that cannot pay
class BotApi(MessagingMethods):
    def __init__(
        self,
        world: World,
        *,
        spec: ApiSpec | None = None,
        faults: FaultPlan | None = None,
        limiter: FloodLimiter | None = None,
    ) -> None:
        self.world = world
        self.spec = spec or load_spec()
        self.faults = faults or FaultPlan()
        self.limiter = limiter
        self.closing = False
        self._poll_generation = 0

    async def handle(
        self, name: str, raw: dict[str, Any], files: dict[str, UploadedFile] | None = None
    ) -> tuple[int, JSON]:
        """Answer one call: (HTTP status, Bot API response body)."""
        method = self.spec.canonical_method(name)
        if method is None:
            self._record(name, dict(raw), [f'unknown method "{name}"'])
            return self._refuse(name, ApiError(404, "Not Found: method not found"))
        params = self.spec.decode(method, raw, files or {})
        problems = self.spec.problems(method, params)
        self._record(method, params, problems)
        if problems:
            return self._refuse(method, bad_request(problems[0]))
        paid = method in SENDING_METHODS and params.get("allow_paid_broadcast") is True
        try:
            self.faults.raise_injected(method, params.get("chat_id"))
            if paid:
                self._can_pay()
            if self.limiter is not None and method in SENDING_METHODS:
                chat = self.world.resolve_chat(params["chat_id"])
                if chat is not None:
                    self.limiter.check(chat, paid=paid)
            result = await getattr(self, f"api_{method}")(params)
        except ApiError as error:
            if error.status == 429 and self.limiter is not None and error.parameters and method in SENDING_METHODS:
                self.world.stats.flood_limited += 1
            return self._refuse(method, error)
        if paid:
            self._pay()
        return 200, {"ok": True, "result": result}

    def close(self) -> None:
        """Let waiting long polls return."""
        self.closing = True
        self.world.emit("closing")

    def _can_pay(self) -> None:
        balance = self.world.star_balance
        if balance is not None and balance < PAID_BROADCAST_FEE:
            raise ApiError(400, BALANCE_TOO_LOW)

    def _pay(self) -> None:
        self.world.stats.paid_broadcasts += 1
        if self.world.star_balance is not None:
            self.world.star_balance -= PAID_BROADCAST_FEE

    def _record(self, method: str, params: JSON, problems: list[str]) -> None:
        self.world.calls.append((method, params))
        self.world.stats.calls[method] += 1
        for problem in problems:
            self.world.spec_violations.append(SpecViolation(method, problem, params))
            self.world.emit("spec_violation", method=method, problem=problem)
        self.world.emit("api_call", method=method, params=params)

    def _refuse(self, method: str, error: ApiError) -> tuple[int, JSON]:
        if error.status == 429:
            self.world.stats.too_many_requests += 1
        self.world.errors.append((method, error.status, error.description))
        self.world.emit("error_response", method=method, status=error.status, description=error.description)
        return error.status, error.body()

    # -- the bot itself ---------------------------------------------------------------------------

    async def api_getMe(self, p: JSON) -> JSON:
        capabilities = dict.fromkeys(
            ("can_read_all_group_messages", "supports_inline_queries", "can_connect_to_business", "has_main_web_app"),
            False,
        )
        return {**self.world.bot.to_json(), "can_join_groups": True, **capabilities}

    async def api_logOut(self, p: JSON) -> bool:
        return True

    async def api_close(self, p: JSON) -> bool:
        return True

    async def api_setMyCommands(self, p: JSON) -> bool:
        commands = p["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands")
        for command in commands:
            if not _COMMAND_NAME.fullmatch(command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"].strip()) <= 256:
                raise bad_request("command description must be 1-256 characters")
        self.world.commands_by_scope[_scope_key(p)] = commands
        self.world.emit("commands_changed", scope=_scope_key(p), commands=commands)
        return True

    async def api_getMyCommands(self, p: JSON) -> list[JSON]:
        return self.world.commands_by_scope.get(_scope_key(p), [])

    async def api_deleteMyCommands(self, p: JSON) -> bool:
        self.world.commands_by_scope.pop(_scope_key(p), None)
        return True

    async def api_setMyDescription(self, p: JSON) -> bool:
        return _set_text(self.world.descriptions, p, "description", 512)

    async def api_getMyDescription(self, p: JSON) -> JSON:
        return {"description": self.world.descriptions.get(_language_code(p), "")}

    async def api_setMyShortDescription(self, p: JSON) -> bool:
        return _set_text(self.world.short_descriptions, p, "short_description", 120)

    async def api_getMyShortDescription(self, p: JSON) -> JSON:
        return {"short_description": self.world.short_descriptions.get(_language_code(p), "")}

    # -- updates ---------------------------------------------------------------------------------

    async def api_getUpdates(self, p: JSON) -> list[JSON]:
        if self.world.webhook:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if "allowed_updates" in p:
            self.world.allowed_updates = p["allowed_updates"]
        self.world.confirm_updates(p.get("offset"))
        limit = min(max(p.get("limit", 100), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self.world.emit("poll_started")  # an older long poll still waiting gives way
        await self.world.wait_until(
            lambda: self.closing or generation != self._poll_generation or self.world.deliverable_updates(limit),
            max(p.get("timeout", 0), 0),
        )
        if generation != self._poll_generation:
            raise ApiError(409, POLL_CONFLICT)
        return self.world.deliverable_updates(limit)

    async def api_setWebhook(self, p: JSON) -> bool:
        if not p["url"]:
            return await self.api_deleteWebhook(p)
        if "secret_token" in p and not _SECRET_TOKEN.fullmatch(p["secret_token"]):
            raise bad_request("secret token contains unallowed characters")
        if "allowed_updates" in p:
            self.world.allowed_updates = p["allowed_updates"]
        if p.get("drop_pending_updates"):
            self.world.pending_updates.clear()
        self.world.webhook = {"url": p["url"], "secret_token": p.get("secret_token"),
                              "max_connections": p.get("max_connections", 40)}  # fmt: skip
        self.world.emit("webhook_changed", webhook=self.world.webhook)
        return True

    async def api_deleteWebhook(self, p: JSON) -> bool:
        if p.get("drop_pending_updates"):
            self.world.pending_updates.clear()
        self.world.webhook = None
        self.world.emit("webhook_changed", webhook=None)
        return True

    async def api_getWebhookInfo(self, p: JSON) -> JSON:
        hook = self.world.webhook or {}
        info = {"url": hook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.world.pending_updates)}  # fmt: skip
        for key in ("max_connections", "last_error_date", "last_error_message"):
            if hook.get(key) is not None:
                info[key] = hook[key]
        if self.world.allowed_updates:
            info["allowed_updates"] = self.world.allowed_updates
        return info

    async def api_answerCallbackQuery(self, p: JSON) -> bool:
        query_id = p["callback_query_id"]
        if query_id not in self.world.callback_queries or query_id in self.world.callback_answers:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(p.get("text", "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self.world.callback_answers[query_id] = p
        self.world.emit("callback_answered", query_id=query_id, answer=p)
        return True

    # -- chats and files -------------------------------------------------------------------------

    async def api_getChat(self, p: JSON) -> JSON:
        chat = self.target_chat(p["chat_id"], sending=False)
        gift_types = dict.fromkeys(
            ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"), False
        )
        return {**chat.to_json(), "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gift_types}

    async def api_getChatMember(self, p: JSON) -> JSON:
        chat = self.target_chat(p["chat_id"], sending=False)
        user = self.world.bot if p["user_id"] == self.world.bot.id else self.world.users.get(p["user_id"])
        if user is None:
            raise bad_request("user not found")
        if user == self.world.bot:
            status = self.world.memberships.get((chat.id, user.id), "member")
        else:
            status = self.world.member_status(chat, user)
        return chat_member(status, user.to_json(), self.spec)

    async def api_getFile(self, p: JSON) -> JSON:
        record = self.world.files.get(p["file_id"])
        if record is None:
            raise bad_request("invalid file_id")
        return record.to_json()


def _scope_key(p: JSON) -> tuple[str, str]:
    scope = p.get("scope") or {"type": "default"}
    details = {k: v for k, v in scope.items() if k != "type"}
    name = scope["type"] + (json.dumps(details, sort_keys=True) if details else "")
    return name, _language_code(p)


def _language_code(p: JSON) -> str:
    """A menu's or description's language: two lowercase letters (ISO 639-1) or none, as Telegram takes it."""
    language = p.get("language_code", "")
    if language and not _LANGUAGE_CODE.fullmatch(language):
        raise bad_request("LANG_CODE_INVALID")
    return language


def _set_text(store: dict[str, str], p: JSON, field: str, limit: int) -> bool:
    text = p.get(field, "")
    if len(text) > limit:
        raise bad_request(f"{field} is too long")
    language = _language_code(p)
    if text:
        store[language] = text
    else:
        store.pop(language, None)
    return True
