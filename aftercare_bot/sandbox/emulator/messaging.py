"""Bot API methods that send, edit and delete messages."""

from __future__ import annotations

from typing import Any

from aftercare_bot.sandbox.emulator.actions import World
from aftercare_bot.sandbox.emulator.html_entities import HtmlParseError, parse_html
from aftercare_bot.sandbox.emulator.media import image_size
from aftercare_bot.sandbox.emulator.models import JSON, ApiError, ChatHandle, FileRecord, StoredMessage
from aftercare_bot.sandbox.emulator.spec import UploadedFile

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})  # fmt: skip
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
MEDIA_KINDS = ("photo", "document", "voice", "video", "sticker", "location", "contact")
COPIED_FIELDS = ("text", "entities", "caption", "caption_entities", *MEDIA_KINDS)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class MessagingMethods:
    world: World

    # -- sending -------------------------------------------------------------------------------

    async def api_sendMessage(self, p: JSON) -> JSON:
        chat = self.target_chat(p["chat_id"])
        content = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"), "text")
        return self._send(chat, content, p, raw_text=p["text"]).data

    async def api_sendPhoto(self, p: JSON) -> JSON:
        chat = self.target_chat(p["chat_id"])
        content: JSON = {"photo": self._photo_sizes(p["photo"])}
        content.update(self._caption(p))
        return self._send(chat, content, p, raw_text=p.get("caption")).data

    async def api_sendDocument(self, p: JSON) -> JSON:
        chat = self.target_chat(p["chat_id"])
        content: JSON = {"document": self._document(p["document"])}
        content.update(self._caption(p))
        return self._send(chat, content, p, raw_text=p.get("caption")).data

    async def api_sendChatAction(self, p: JSON) -> bool:
        self.target_chat(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def api_copyMessage(self, p: JSON) -> JSON:
        source = self._source_message(p, "message to copy not found")
        chat = self.target_chat(p["chat_id"])
        content = {k: v for k, v in source.data.items() if k in COPIED_FIELDS}
        if "caption" in p:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption(p))
        return {"message_id": self._send(chat, content, p, raw_text=p.get("caption", source.text)).message_id}

    async def api_forwardMessage(self, p: JSON) -> JSON:
        source = self._source_message(p, "message to forward not found")
        chat = self.target_chat(p["chat_id"])
        content = {k: v for k, v in source.data.items() if k in COPIED_FIELDS}
        if "from" in source.data:
            origin = {"type": "user", "date": source.data["date"], "sender_user": source.data["from"]}
        else:
            origin = {"type": "channel", "date": source.data["date"], "chat": source.data["chat"],
                      "message_id": source.message_id}  # fmt: skip
        content["forward_origin"] = origin
        return self._send(chat, content, {}, raw_text=source.text).data

    # -- editing and deleting -------------------------------------------------------------------

    async def api_editMessageText(self, p: JSON) -> JSON:
        message = self._editable(p)
        if "text" not in message.data:
            raise bad_request("there is no text in the message to edit")
        if not p.get("text"):
            raise bad_request("message text is empty")
        content = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"), "text")
        return self._edit(message, ("text", "entities"), content, p, p["text"])

    async def api_editMessageCaption(self, p: JSON) -> JSON:
        message = self._editable(p)
        if not any(kind in message.data for kind in ("photo", "document", "video", "voice")):
            raise bad_request("there is no caption in the message to edit")
        return self._edit(message, ("caption", "caption_entities"), self._caption(p), p, p.get("caption"))

    async def api_editMessageReplyMarkup(self, p: JSON) -> JSON:
        message = self._editable(p)
        return self._edit(message, (), {}, p, None)

    async def api_deleteMessage(self, p: JSON) -> bool:
        chat = self.target_chat(p["chat_id"], sending=False)
        message = self.world.find_message(chat, p["message_id"])
        if message is None:
            raise bad_request("message to delete not found")
        message.deleted = True
        self.world.emit("message_deleted", chat_id=chat.id, message_id=message.message_id)
        return True

    # -- helpers ---------------------------------------------------------------------------------

    def target_chat(self, chat_ref: int | str, *, sending: bool = True) -> ChatHandle:
        """The chat a call addresses; sending to a user who blocked the bot is forbidden."""
        chat = self.world.resolve_chat(chat_ref)
        if chat is None:
            raise bad_request("chat not found")
        if sending and chat.type == "private" and chat.id in self.world.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _send(self, chat: ChatHandle, content: JSON, p: JSON, raw_text: str | None) -> StoredMessage:
        markup = p.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        replied = self._replied(chat, p.get("reply_parameters"))
        if replied is not None:
            content["reply_to_message"] = {k: v for k, v in replied.data.items() if k != "reply_to_message"}
        message = self.world.store_message(chat, self.world.bot, content, raw_text=raw_text,
                                           parse_mode=p.get("parse_mode"))  # fmt: skip
        if markup and "inline_keyboard" not in markup:
            message.keyboard = markup
        self.world.emit("message_sent", chat_id=chat.id, message=message.data)
        return message

    def _replied(self, chat: ChatHandle, reply: JSON | None) -> StoredMessage | None:
        if not reply:
            return None
        reply_chat = self.world.resolve_chat(reply.get("chat_id", chat.id))
        found = reply_chat and self.world.find_message(reply_chat, reply["message_id"])
        if not found and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return found or None

    def _formatted(self, text: str, parse_mode: str | None, entities: list | None, kind: str) -> JSON:
        """Telegram's entity parsing and length rules; ``kind`` is "text" or "caption"."""
        plain, parsed = _parse(text, parse_mode)
        entities = parsed or entities or []
        limit = TEXT_LIMIT if kind == "text" else CAPTION_LIMIT
        if kind == "text" and not plain:
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request("message is too long" if kind == "text" else "message caption is too long")
        content: JSON = {kind: plain} if plain else {}
        if entities:
            content["entities" if kind == "text" else "caption_entities"] = entities
        return content

    def _caption(self, p: JSON) -> JSON:
        if not p.get("caption"):
            return {}
        return self._formatted(p["caption"], p.get("parse_mode"), p.get("caption_entities"), "caption")

    def _editable(self, p: JSON) -> StoredMessage:
        if "inline_message_id" in p or "chat_id" not in p or "message_id" not in p:
            raise bad_request("chat_id and message_id are required (inline messages are not emulated)")
        chat = self.target_chat(p["chat_id"])
        message = self.world.find_message(chat, p["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _edit(self, message: StoredMessage, replaced: tuple[str, ...], content: JSON, p: JSON, raw: Any) -> JSON:
        """Edits drop an inline keyboard that is not sent again, as Telegram does."""
        data = {k: v for k, v in message.data.items() if k not in (*replaced, "reply_markup", "edit_date")}
        data.update(content)
        if p.get("reply_markup"):
            data["reply_markup"] = p["reply_markup"]
        unchanged = {k: v for k, v in message.data.items() if k != "edit_date"}
        if data == unchanged:
            raise bad_request(NOT_MODIFIED)
        data["edit_date"] = int(self.world.clock())
        self.world.replace_content(message, data, raw_text=raw)
        if raw is not None:
            message.parse_mode = p.get("parse_mode")
        self.world.emit("message_edited", chat_id=message.chat_id, message=data)
        return data

    def _source_message(self, p: JSON, missing: str) -> StoredMessage:
        source_chat = self.world.resolve_chat(p["from_chat_id"])
        source = source_chat and self.world.find_message(source_chat, p["message_id"])
        if not source:
            raise bad_request(missing)
        return source

    def _photo_sizes(self, photo: UploadedFile | str) -> list[JSON]:
        if isinstance(photo, str):
            record = self._existing_file(photo)
            width, height = image_size(record.content) or (1, 1)
        else:
            width, height = image_size(photo.content) or (1, 1)
            record = self.world.add_file(photo.content, "photos", "jpg" if photo.content[:2] == b"\xff\xd8" else "png")
        return [{"file_id": record.file_id, "file_unique_id": record.file_unique_id,
                 "width": width, "height": height, "file_size": len(record.content)}]  # fmt: skip

    def _document(self, document: UploadedFile | str) -> JSON:
        if isinstance(document, str):
            record, name, mime = self._existing_file(document), None, None
        else:
            name, mime = document.filename, document.content_type
            extension = name.rsplit(".", 1)[-1] if "." in name else "bin"
            record = self.world.add_file(document.content, "documents", extension)
        data = {"file_id": record.file_id, "file_unique_id": record.file_unique_id, "file_size": len(record.content)}
        if name:
            data["file_name"] = name
        if mime:
            data["mime_type"] = mime
        return data

    def _existing_file(self, file_id: str) -> FileRecord:
        record = self.world.files.get(file_id)
        if record is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return record


def _parse(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            return parse_html(text)
        except HtmlParseError as error:
            raise bad_request(f"can't parse entities: {error}") from error
    if mode in ("", "markdown", "markdownv2"):
        return text.strip(), []  # Markdown is accepted but not interpreted by the emulator
    raise bad_request(f"unsupported parse_mode {parse_mode}")
