"""The state of the emulated Telegram: who exists, what was said, what the bot asked for.

Everything runs on one asyncio event loop, shared with the bot under test, so no locks are
needed; a change wakes waiters and is published to subscribers as an :class:`Event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from aftercare_bot.sandbox.emulator.events import Subscription
from aftercare_bot.sandbox.emulator.models import (
    JSON,
    ChatHandle,
    Event,
    FileRecord,
    SpecViolation,
    Stats,
    StoredMessage,
    UserHandle,
)

T = TypeVar("T")
ChatRef = ChatHandle | UserHandle | int
UserRef = UserHandle | int
MessageRef = StoredMessage | JSON  # a stored message, a Message object or an Update holding one
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
SUPERGROUP_ID_LIMIT = -1_000_000_000_000  # Telegram gives supergroups and channels ids below this


# Kinds delivered when the bot does not ask for specific ones.
DEFAULT_UPDATE_KINDS = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
    "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost",
})  # fmt: skip


def _update_kind(update: JSON) -> str:
    return next(key for key in update if key != "update_id")


class WorldState:
    """Users, chats, stored messages, pending updates, files and the record of bot calls."""

    def __init__(
        self,
        token: str = "123:ABC",
        bot_username: str = "aftercare_test_bot",
        bot_name: str = "Aftercare Test Bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.clock = clock
        self.bot = UserHandle(
            id=int(token.split(":", 1)[0]), first_name=bot_name, username=bot_username,
            language_code=None, is_bot=True,
        )  # fmt: skip
        self.users: dict[int, UserHandle] = {}
        self.chats: dict[int, ChatHandle] = {}
        self.memberships: dict[tuple[int, int], str] = {}
        self.blocked: set[int] = set()
        self.pending_updates: list[JSON] = []
        self.files: dict[str, FileRecord] = {}
        self.callback_queries: dict[str, JSON] = {}
        self.callback_answers: dict[str, JSON] = {}
        self.commands_by_scope: dict[tuple[str, str], list[JSON]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.webhook: JSON | None = None
        self.allowed_updates: list[str] = []
        self.calls: list[tuple[str, JSON]] = []
        self.spec_violations: list[SpecViolation] = []
        self.errors: list[tuple[str, int, str]] = []  # (method, status, description) of refusals
        self.stats = Stats()
        # The bot's Telegram Stars, which pay for messages sent with allow_paid_broadcast; None: never runs out.
        self.star_balance: Decimal | None = None
        self._messages: dict[int, list[StoredMessage]] = {}
        self._update_ids = itertools.count(1)
        self._ids = itertools.count(1)
        self._subscribers: list[Subscription] = []
        self._change = asyncio.Event()

    # -- people and chats ------------------------------------------------------------------------

    def user(
        self,
        id: int,
        first_name: str,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
    ) -> UserHandle:
        """Create (or update) a user and their private chat with the bot, whose id is the user's id."""
        handle = UserHandle(id, first_name, last_name, username, language_code)
        self.users[id] = handle
        self.chats[id] = ChatHandle(id, "private", username=username, first_name=first_name, last_name=last_name)
        return handle

    def group(self, chat_id: int, title: str, *, supergroup: bool | None = None) -> ChatHandle:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if supergroup is None:
            supergroup = chat_id <= SUPERGROUP_ID_LIMIT
        handle = ChatHandle(chat_id, "supergroup" if supergroup else "group", title=title)
        self.chats[chat_id] = handle
        return handle

    def channel(self, chat_id: int, title: str, username: str | None = None) -> ChatHandle:
        handle = ChatHandle(chat_id, "channel", title=title, username=username)
        self.chats[chat_id] = handle
        return handle

    def add_member(self, group: ChatRef, user: UserRef, status: str = "member") -> None:
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        self.memberships[(self._chat(group).id, self._user(user).id)] = status
        self._changed()

    def member_status(self, chat: ChatRef, user: UserRef) -> str:
        chat_id, user_id = self._chat(chat).id, self._user(user).id
        if chat_id == user_id:
            return "member"
        return self.memberships.get((chat_id, user_id), "left")

    def block(self, user: UserRef) -> None:
        """The user blocks the bot: sends to their private chat fail with 403 until unblocked."""
        self.blocked.add(self._user(user).id)

    def unblock(self, user: UserRef) -> None:
        self.blocked.discard(self._user(user).id)

    # -- inspection ------------------------------------------------------------------------------

    def messages(self, chat: ChatRef, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages of a chat in order, with edits applied."""
        stored = self._messages.get(self._chat_id(chat), [])
        return [m for m in stored if include_deleted or not m.deleted]

    def bot_messages(self, chat: ChatRef) -> list[StoredMessage]:
        return [m for m in self.messages(chat) if m.from_bot]

    def last_message_id(self, chat: ChatRef) -> int:
        stored = self._messages.get(self._chat_id(chat), [])
        return stored[-1].message_id if stored else 0

    def resolve_chat(self, ref: int | str) -> ChatHandle | None:
        """A chat by id or by "@username", as the Bot API addresses chats."""
        if isinstance(ref, str):
            return next((c for c in self.chats.values() if c.username and f"@{c.username}" == ref), None)
        return self.chats.get(ref)

    def find_message(self, chat: ChatRef, message_id: int) -> StoredMessage | None:
        for message in self._messages.get(self._chat_id(chat), []):
            if message.message_id == message_id and not message.deleted:
                return message
        return None

    def calls_to(self, method: str) -> list[JSON]:
        """Parameters of every call to ``method``, oldest first."""
        return [params for name, params in self.calls if name == method]

    @property
    def commands(self) -> list[JSON]:
        """The command menu for the default scope and language."""
        return self.commands_by_scope.get(("default", ""), [])

    def menu_for(self, user: UserHandle, chat: ChatHandle | None = None) -> list[JSON]:
        """The command menu `user` sees in `chat` (their private chat by default), as Telegram picks it: the
        narrowest scope that has a menu, in the user's language when one was set for it, else the menu for all."""
        language = (user.language_code or "").split("-")[0]
        private = chat is None or chat.id == user.id
        chat_id = user.id if chat is None else chat.id
        scopes = [f'chat{{"chat_id": {chat_id}}}', "all_private_chats" if private else "all_group_chats", "default"]
        for scope in scopes:
            for key in ((scope, language), (scope, "")):
                if key in self.commands_by_scope:
                    return self.commands_by_scope[key]
        return []

    # -- waiting ---------------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], Any], timeout: float | None) -> bool:  # noqa: ASYNC109
        """True once ``predicate()`` is truthy, False after ``timeout`` seconds (None: no limit)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            change = self._change
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(change.wait(), remaining)
        return True

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` is truthy and return its value; re-checked on every change."""
        result: list[T] = []

        def check() -> bool:
            value = predicate()
            if value:
                result.append(value)
            return bool(value)

        if not await self.wait_until(check, timeout):
            raise TimeoutError(f"{what} not met within {timeout}s. {self._recent_activity()}")
        return result[-1]

    async def wait_for_message(
        self,
        chat: ChatRef,
        predicate: Callable[[StoredMessage], bool] | str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int | None = None,
        from_bot: bool = True,
    ) -> StoredMessage:
        """The first message stored in ``chat`` with a message_id above ``since`` (default: the
        newest id when called) that matches; a string predicate matches a substring of the text."""
        chat_id = self._chat_id(chat)
        since = self.last_message_id(chat_id) if since is None else since
        if isinstance(predicate, str):
            needle = predicate
            predicate = lambda m: needle in (m.plain_text or "")  # noqa: E731

        def first_match() -> StoredMessage | None:
            for message in self._messages.get(chat_id, []):
                new = message.message_id > since and message.from_bot == from_bot
                if new and (predicate is None or predicate(message)):
                    return message
            return None

        return await self.wait_for(first_match, timeout, f"a new message in chat {chat_id}")

    async def wait_for_callback_answer(self, query_id: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.wait_for(lambda: self.callback_answers.get(query_id), timeout, f"answer to {query_id}")

    def _recent_activity(self) -> str:
        calls = [name for name, _ in self.calls if name != "getUpdates"][-8:]
        return f"Recent bot calls: {calls}; refusals: {self.errors[-3:]}; violations: {self.spec_violations[-3:]}"

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """Listen to events from now on (see :class:`Event` for the kinds)."""
        subscription = Subscription(on_close=self._subscribers.remove)
        self._subscribers.append(subscription)
        return subscription

    def emit(self, kind: str, **data: Any) -> None:
        event = Event(kind, data, self.clock())
        for subscription in list(self._subscribers):
            subscription.put(event)
        self._changed()

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    # -- building blocks for actions and API methods -----------------------------------------------

    def deliverable_updates(self, limit: int = 100) -> list[JSON]:
        """Pending updates of the allowed kinds; updates of other kinds are forgotten, as Telegram does."""
        allowed = set(self.allowed_updates) or DEFAULT_UPDATE_KINDS
        self.pending_updates = [u for u in self.pending_updates if _update_kind(u) in allowed]
        return self.pending_updates[:limit]

    def confirm_updates(self, offset: int | None) -> None:
        """getUpdates' offset: forget updates below it; a negative offset keeps only the last ones."""
        if offset is None:
            return
        if offset < 0:
            self.pending_updates = self.pending_updates[offset:]
        else:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]

    def queue_update(self, kind: str, payload: JSON) -> JSON:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.pending_updates.append(update)
        self.emit("update_queued", update=update)
        return update

    def store_message(
        self,
        chat: ChatHandle,
        sender: UserHandle | None,
        content: JSON,
        *,
        raw_text: str | None = None,
        parse_mode: str | None = None,
    ) -> StoredMessage:
        """Give ``content`` a message id and date in ``chat`` and keep it."""
        stored = self._messages.setdefault(chat.id, [])
        data: JSON = {
            "message_id": (stored[-1].message_id + 1) if stored else 1,
            "date": int(self.clock()),
            "chat": chat.to_json(),
        }
        if sender is not None:
            data["from"] = sender.to_json()
        data.update(content)
        message = StoredMessage(data, from_bot=sender == self.bot, raw_text=raw_text, parse_mode=parse_mode)
        stored.append(message)
        return message

    def replace_content(self, message: StoredMessage, data: JSON, raw_text: str | None = None) -> None:
        """Apply an edit, keeping the previous version in the message's history."""
        message.edits.append(message.data)
        message.data = data
        if raw_text is not None:
            message.raw_text = raw_text

    def add_file(self, content: bytes, folder: str, extension: str) -> FileRecord:
        number = next(self._ids)
        record = FileRecord(
            file_id=f"{folder[:3].upper()}{number}-{secrets.token_hex(8)}",
            file_unique_id=f"u{number}{secrets.token_hex(3)}",
            file_path=f"{folder}/file_{number}.{extension}",
            content=content,
        )
        self.files[record.file_id] = record
        return record

    def file_by_path(self, path: str) -> FileRecord | None:
        return next((f for f in self.files.values() if f.file_path == path), None)

    def next_id(self) -> int:
        return next(self._ids)

    def _user(self, user: UserRef) -> UserHandle:
        if isinstance(user, UserHandle):
            return user
        if user not in self.users:
            raise KeyError(f"unknown user {user}; create it with user()")
        return self.users[user]

    def _chat(self, chat: ChatRef) -> ChatHandle:
        chat_id = self._chat_id(chat)
        if chat_id not in self.chats:
            raise KeyError(f"unknown chat {chat_id}")
        return self.chats[chat_id]

    @staticmethod
    def _chat_id(chat: ChatRef) -> int:
        return chat if isinstance(chat, int) else chat.id

    def _message(self, ref: MessageRef) -> StoredMessage:
        if isinstance(ref, StoredMessage):
            return ref
        data = next((ref[k] for k in ("message", "edited_message", "channel_post") if k in ref), ref)
        found = self.find_message(data["chat"]["id"], data["message_id"])
        if found is None:
            raise KeyError(f"message {data['chat']['id']}/{data['message_id']} not found")
        return found
