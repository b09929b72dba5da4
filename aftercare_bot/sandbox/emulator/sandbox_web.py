"""A web page onto the emulated Telegram, for a local sandbox.

It serves the page in ``static/``, the chats as JSON (``GET /api/state``), every change as server-sent
events (``GET /api/events``), and lets the page act as people: type (``POST /api/send``), send a
picture (``POST /api/photo``) and press inline buttons (``POST /api/press``). Messages go to the page
as Telegram's plain text plus entities, which the page renders with DOM nodes, never as HTML.
Whoever embeds it adds routes of their own and extra state (``routes``, ``extra_state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from aftercare_bot.sandbox.emulator.actions import World
from aftercare_bot.sandbox.emulator.models import JSON, Event, StoredMessage

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_PICTURE_BYTES = 10 * 1024 * 1024
KEEP_ALIVE_SECONDS = 15.0
QUOTE_CHARS = 120
NOTICE = "page_notice"
# The page is the only thing that may run here; no inline script or style, no outside resources.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MEDIA_LABELS = {"document": "document", "voice": "voice message", "video": "video", "sticker": "sticker",
                "location": "location", "contact": "contact"}  # fmt: skip

StateExtra = Callable[[], Awaitable[JSON]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PageError(Exception):
    """A request the page should not have made; answered with 400 and the message."""


class ChatWeb:
    def __init__(
        self,
        world: World,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        routes: Iterable[web.AbstractRouteDef] = (),
        extra_state: StateExtra | None = None,
    ) -> None:
        self.world = world
        self.host = host
        self.port = port
        self._extra_state = extra_state
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=MAX_PICTURE_BYTES + 64 * 1024, middlewares=[self._guard])
        self.app.add_routes([
            web.get("/", self._page),
            web.get("/static/{name}", self._static),
            web.get("/api/state", self._state),
            web.get("/api/events", self._events),
            web.get("/api/files/{file_id}", self._file),
            web.post("/api/send", self._send),
            web.post("/api/photo", self._photo),
            web.post("/api/press", self._press),
            *routes,
        ])  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        # handler_cancellation ends open event streams when the server stops.
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            self.publish("closing", {})
            await self._runner.cleanup()
            self._runner = None

    def publish(self, name: str, data: JSON) -> None:
        """Send an event of one's own (e.g. "clock") to every open page."""
        self.world.emit(NOTICE, name=name, data=data)

    # -- what the page sees ------------------------------------------------------------------------

    def message_view(self, message: StoredMessage) -> JSON:
        data = message.data
        view: JSON = {
            "chat_id": message.chat_id,
            "id": message.message_id,
            "date": data.get("date"),
            # As in Telegram apps: taking buttons away does not mark a message as edited, new text does.
            "edited": any(_wording(earlier) != _wording(data) for earlier in message.edits),
            "from_bot": message.from_bot,
            "sender": _person(data.get("from") or data.get("sender_chat")),
            "text": message.plain_text or "",
            "entities": message.entities,
            "buttons": [
                [_button(b) for b in row] for row in (message.reply_markup or {}).get("inline_keyboard", [])
            ],
        }
        if message.photo:
            largest = message.photo[-1]  # as clients show it
            view["photo"] = {key: largest[key] for key in ("file_id", "width", "height")}
        elif message.kind in MEDIA_LABELS:
            view["media"] = MEDIA_LABELS[message.kind]
        replied = data.get("reply_to_message")
        if replied:
            text = replied.get("text") or replied.get("caption") or ("📷 Photo" if "photo" in replied else "…")
            view["reply_to"] = {
                "id": replied["message_id"],
                "sender": _person(replied.get("from")),
                "text": text[:QUOTE_CHARS] + ("…" if len(text) > QUOTE_CHARS else ""),
            }
        return view

    async def state(self) -> JSON:
        state: JSON = {
            "bot": self.world.bot.to_json(),
            "users": [user.to_json() for user in self.world.users.values()],
            "chats": [chat.to_json() for chat in self.world.chats.values()],
            "messages": [
                self.message_view(m) for chat_id in self.world.chats for m in self.world.messages(chat_id)
            ],
        }
        if self._extra_state is not None:
            state.update(await self._extra_state())
        return state

    def page_events(self, event: Event) -> list[tuple[str, JSON]]:
        """What a world event means to the page: (SSE event name, data) pairs."""
        data = event.data
        if event.kind == NOTICE:
            return [(data["name"], data["data"])]
        if event.kind in ("message_sent", "message_edited"):
            return self._stored_view(data["chat_id"], data["message"]["message_id"])
        if event.kind == "update_queued":
            update = data["update"]
            message = update.get("message") or update.get("edited_message")
            return self._stored_view(message["chat"]["id"], message["message_id"]) if message else []
        if event.kind == "message_deleted":
            return [("deleted", {"chat_id": data["chat_id"], "id": data["message_id"]})]
        if event.kind == "callback_answered":
            answer = data["answer"]
            return [("answer", {"query_id": data["query_id"], "text": answer.get("text", ""),
                                "show_alert": bool(answer.get("show_alert"))})]  # fmt: skip
        return []

    def _stored_view(self, chat_id: int, message_id: int) -> list[tuple[str, JSON]]:
        message = self.world.find_message(chat_id, message_id)
        return [("message", self.message_view(message))] if message else []

    # -- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # Only this page may drive the sandbox: no other site (Origin) and no rebound host name (Host).
        allowed_hosts = {f"{self.host}:{self.port}", f"localhost:{self.port}"}
        origin = request.headers.get("Origin")
        foreign_origin = origin is not None and origin.split("//", 1)[-1] not in allowed_hosts
        if request.host not in allowed_hosts or foreign_origin:
            return web.json_response({"error": "requests must come from the sandbox page"}, status=403)
        try:
            response = await handler(request)
        except PageError as error:
            response = web.json_response({"error": str(error)}, status=400)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        path = STATIC_DIR / request.match_info["name"]
        if path.parent != STATIC_DIR or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return _json(await self.state())

    async def _file(self, request: web.Request) -> web.StreamResponse:
        record = self.world.files.get(request.match_info["file_id"])
        if record is None:
            raise web.HTTPNotFound()
        content_type = mimetypes.guess_type(record.file_path)[0] or "application/octet-stream"
        return web.Response(body=record.content, content_type=content_type,
                            headers={"Cache-Control": "max-age=3600"})  # fmt: skip

    async def _events(self, request: web.Request) -> web.StreamResponse:
        # Subscribed before the page sees the stream open, so nothing after its next /api/state is missed.
        with self.world.subscribe() as subscription:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-cache", **SECURITY_HEADERS,
            })  # fmt: skip
            await response.prepare(request)
            try:
                await response.write(b"retry: 1000\n\n")
                while True:
                    try:
                        event = await asyncio.wait_for(subscription.get(), KEEP_ALIVE_SECONDS)
                    except TimeoutError:
                        await response.write(b": keep-alive\n\n")
                        continue
                    except StopAsyncIteration:
                        break
                    for name, data in self.page_events(event):
                        await response.write(_sse(name, data))
                    if event.kind == NOTICE and event.data["name"] == "closing":
                        break
            except ConnectionResetError:
                pass  # the page went away
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await response.write_eof()
        return response

    async def _send(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        user, chat = self._actor(body)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PageError("there is nothing to send")
        update = self._act(lambda: self.world.send_text(user, text, chat=chat, reply_to=_reply_to(body)))
        return _json({"message": self._view_of_update(update)})

    async def _photo(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        picture = form.get("picture")
        content = picture.file.read() if isinstance(picture, web.FileField) else None
        if content is not None and len(content) > MAX_PICTURE_BYTES:
            raise PageError("pictures may be up to 10 MB")
        body = {key: _form_number(form.get(key)) for key in ("user_id", "chat_id", "reply_to")}
        user, chat = self._actor(body)
        caption = form.get("caption")
        caption = caption.strip() if isinstance(caption, str) and caption.strip() else None
        update = self._act(lambda: self.world.send_photo(
            user, caption, chat=chat, reply_to=_reply_to(body), content=content or None,
        ))  # fmt: skip
        return _json({"message": self._view_of_update(update)})

    async def _press(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        user, chat = self._actor(body)
        message = self.world.find_message(chat, _int(body, "message_id"))
        data = body.get("data")
        if message is None or not isinstance(data, str):
            raise PageError("that message or button no longer exists")
        update = self._act(lambda: self.world.press_button(user, message, data))
        return _json({"query_id": update["callback_query"]["id"]})

    def _actor(self, body: JSON) -> tuple[int, int]:
        user, chat = _int(body, "user_id"), _int(body, "chat_id")
        if user not in self.world.users or user == self.world.bot.id:
            raise PageError(f"there is no person with id {user}")
        if chat not in self.world.chats:
            raise PageError(f"there is no chat with id {chat}")
        return user, chat

    @staticmethod
    def _act(action: Callable[[], JSON]) -> JSON:
        try:
            return action()
        except (KeyError, ValueError) as error:
            raise PageError(str(error).strip("'\"")) from error

    def _view_of_update(self, update: JSON) -> JSON | None:
        message = update.get("message", {})
        stored = self.world.find_message(message["chat"]["id"], message["message_id"]) if message else None
        return self.message_view(stored) if stored else None


def _wording(data: JSON) -> tuple[Any, ...]:
    return tuple(data.get(key) for key in ("text", "caption", "entities", "caption_entities"))


def _person(data: JSON | None) -> JSON | None:
    if not data:
        return None
    name = data.get("title") or " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
    return {"id": data["id"], "name": name, "is_bot": bool(data.get("is_bot"))}


def _button(button: JSON) -> JSON:
    view = {"text": button["text"]}
    for key in ("callback_data", "url"):
        if key in button:
            view["data" if key == "callback_data" else "url"] = button[key]
    return view


def _reply_to(body: JSON) -> int | None:
    value = body.get("reply_to")
    if value in (None, ""):
        return None
    if not isinstance(value, int):
        raise PageError("reply_to must be a message id")
    return value


def _int(body: JSON, key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PageError(f"{key} must be a number")
    return value


def _form_number(value: object) -> object:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None if value in (None, "") else value


async def _json_body(request: web.Request) -> JSON:
    # Only JSON: a form posted by another site cannot be one without the browser asking first.
    if request.content_type != "application/json":
        raise PageError("send JSON")
    try:
        body = json.loads(await request.text())
    except ValueError as error:
        raise PageError("the body is not valid JSON") from error
    if not isinstance(body, dict):
        raise PageError("the body must be a JSON object")
    return body


def _json(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json")


def _sse(name: str, data: JSON) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
