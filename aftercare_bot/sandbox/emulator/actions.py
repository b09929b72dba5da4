"""What people do in the emulated Telegram: each action stores a message and queues an Update."""

from __future__ import annotations

import hashlib
import re
import secrets

from aftercare_bot.sandbox.emulator.html_entities import utf16_length
from aftercare_bot.sandbox.emulator.media import colour_for, image_size, solid_png
from aftercare_bot.sandbox.emulator.members import chat_member
from aftercare_bot.sandbox.emulator.models import JSON, ChatHandle, FileRecord, StoredMessage, UserHandle
from aftercare_bot.sandbox.emulator.world import ChatRef, MessageRef, UserRef, WorldState

_COMMAND = re.compile(r"(?<![\w/])/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{3,32})?")
PHOTO_SIZES = ((90, 90), (320, 320))


def command_entities(text: str) -> list[JSON]:
    """bot_command entities, found the way Telegram clients find them."""
    return [
        {"type": "bot_command", "offset": utf16_length(text[: m.start()]), "length": utf16_length(m.group())}
        for m in _COMMAND.finditer(text)
    ]


class World(WorldState):
    """The emulated Telegram, with the actions tests (or a sandbox page) perform as users.

    Actions return the queued Update as a dict; wherever a message is expected, a
    :class:`StoredMessage`, a Message dict or an Update dict holding a message is accepted.
    """

    def send_text(
        self, user: UserRef, text: str, chat: ChatRef | None = None, reply_to: MessageRef | int | None = None
    ) -> JSON:
        content: JSON = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return self._user_message(user, chat, content, reply_to)

    def send_command(
        self,
        user: UserRef,
        command: str,
        args: str | None = None,
        chat: ChatRef | None = None,
        *,
        mention: bool = False,
    ) -> JSON:
        """``/command args``; with ``mention`` it is addressed as ``/command@bot_username``."""
        text = "/" + command.removeprefix("/")
        if mention:
            text += f"@{self.bot.username}"
        return self.send_text(user, f"{text} {args}" if args else text, chat)

    def send_photo(
        self,
        user: UserRef,
        caption: str | None = None,
        chat: ChatRef | None = None,
        reply_to: MessageRef | int | None = None,
        content: bytes | None = None,
    ) -> JSON:
        """A photo; by default a generated one in two sizes, or ``content`` (a PNG or JPEG) as sent."""
        if content is not None:
            size = image_size(content)
            if size is None:
                raise ValueError("a photo must be a PNG or JPEG image")
            extension = "jpg" if content.startswith(b"\xff\xd8") else "png"
            images = [(*size, content, extension)]
        else:
            seed = self.next_id()
            images = [(w, h, solid_png(w, h, colour_for(seed)), "png") for w, h in PHOTO_SIZES]
        sizes = []
        for width, height, image, extension in images:
            record = self.add_file(image, "photos", extension)
            sizes.append({
                "file_id": record.file_id, "file_unique_id": record.file_unique_id,
                "width": width, "height": height, "file_size": len(record.content),
            })  # fmt: skip
        return self._user_message(user, chat, self._with_caption({"photo": sizes}, caption), reply_to)

    def send_voice(
        self, user: UserRef, duration: int = 3, chat: ChatRef | None = None, reply_to: MessageRef | int | None = None
    ) -> JSON:
        record = self.add_file(b"OggS" + secrets.token_bytes(60), "voice", "oga")
        voice = {**self._file_fields(record), "duration": duration, "mime_type": "audio/ogg"}
        return self._user_message(user, chat, {"voice": voice}, reply_to)

    def send_video(
        self,
        user: UserRef,
        caption: str | None = None,
        duration: int = 5,
        chat: ChatRef | None = None,
        reply_to: MessageRef | int | None = None,
    ) -> JSON:
        record = self.add_file(b"\x00\x00\x00\x18ftypmp42" + secrets.token_bytes(60), "videos", "mp4")
        video = {**self._file_fields(record), "width": 640, "height": 360, "duration": duration,
                 "mime_type": "video/mp4"}  # fmt: skip
        return self._user_message(user, chat, self._with_caption({"video": video}, caption), reply_to)

    def send_document(
        self,
        user: UserRef,
        file_name: str = "document.pdf",
        content: bytes = b"%PDF-1.4\n%emulated\n",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat: ChatRef | None = None,
        reply_to: MessageRef | int | None = None,
    ) -> JSON:
        extension = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        record = self.add_file(content, "documents", extension)
        document = {**self._file_fields(record), "file_name": file_name, "mime_type": mime_type}
        return self._user_message(user, chat, self._with_caption({"document": document}, caption), reply_to)

    def send_sticker(self, user: UserRef, emoji: str = "👍", chat: ChatRef | None = None) -> JSON:
        record = self.add_file(b"RIFF" + secrets.token_bytes(40) + b"WEBP", "stickers", "webp")
        sticker = {**self._file_fields(record), "type": "regular", "width": 512, "height": 512,
                   "is_animated": False, "is_video": False, "emoji": emoji}  # fmt: skip
        return self._user_message(user, chat, {"sticker": sticker}, None)

    def send_location(
        self, user: UserRef, latitude: float = 52.37, longitude: float = 4.89, chat: ChatRef | None = None
    ) -> JSON:
        return self._user_message(user, chat, {"location": {"latitude": latitude, "longitude": longitude}}, None)

    def send_contact(
        self, user: UserRef, phone_number: str = "+15550100", first_name: str | None = None, chat: ChatRef | None = None
    ) -> JSON:
        """Shares a contact; by default the sender's own (as a "share my phone number" button does)."""
        sender = self._user(user)
        contact = {"phone_number": phone_number, "first_name": first_name or sender.first_name}
        if first_name is None:
            contact["user_id"] = sender.id
        return self._user_message(user, chat, {"contact": contact}, None)

    def edit_text(self, message: MessageRef, new_text: str) -> JSON:
        """The author edits one of their text messages (an ``edited_message`` update)."""
        stored = self._message(message)
        if stored.from_bot or "text" not in stored.data:
            raise ValueError("only a user's own text messages can be edited this way")
        data = {k: v for k, v in stored.data.items() if k != "entities"}
        data.update(text=new_text, edit_date=int(self.clock()))
        if command_entities(new_text):
            data["entities"] = command_entities(new_text)
        self.replace_content(stored, data, raw_text=new_text)
        return self.queue_update("edited_message", data)

    def press_button(self, user: UserRef, message: MessageRef, callback_data: str, *, forged: bool = False) -> JSON:
        """Press an inline button of a bot message; the query id is the update's callback_query.id.

        ``forged`` sends data the message does not (or no longer) carry, as a tampering client or a
        press on a stale keyboard would.
        """
        stored = self._message(message)
        if not forged and callback_data not in stored.callback_data:
            raise ValueError(f"{stored!r} has no button with callback_data {callback_data!r}: {stored.callback_data}")
        sender = self._user(user)
        query_id = str(self.next_id() * 1_000_003 + sender.id)
        query = {
            "id": query_id,
            "from": sender.to_json(),
            "message": stored.data,
            "chat_instance": hashlib.sha1(str(stored.chat_id).encode()).hexdigest()[:16],
            "data": callback_data,
        }
        self.callback_queries[query_id] = query
        return self.queue_update("callback_query", query)

    def change_membership(self, group: ChatRef, user: UserRef, status: str, *, by: UserRef | None = None) -> JSON:
        """Someone joins, leaves or is removed from a group: a chat_member update, which Telegram sends only to
        a bot that administers the group and asked for it in allowed_updates."""
        chat, member = self._chat(group), self._user(user)
        old = self.member_status(chat, member)
        self.add_member(chat, member, status)
        return self.queue_update("chat_member", {
            "chat": chat.to_json(),
            "from": self._user(by if by is not None else member).to_json(),
            "date": int(self.clock()),
            "old_chat_member": chat_member(old, member.to_json()),
            "new_chat_member": chat_member(status, member.to_json()),
        })

    def channel_post(self, chat: ChatRef, text: str) -> JSON:
        channel = self._chat(chat)
        if channel.type != "channel":
            raise ValueError(f"chat {channel.id} is not a channel")
        message = self.store_message(channel, None, {"sender_chat": channel.to_json(), "text": text})
        return self.queue_update("channel_post", message.data)

    # -- helpers ---------------------------------------------------------------------------------

    def _user_message(
        self, user: UserRef, chat: ChatRef | None, content: JSON, reply_to: MessageRef | int | None
    ) -> JSON:
        sender = self._user(user)
        target = self._chat(sender.id if chat is None else chat)
        self._check_can_post(sender, target)
        if reply_to is not None:
            replied = self._replied(target, reply_to)
            quoted = {k: v for k, v in replied.data.items() if k != "reply_to_message"}
            content = {**content, "reply_to_message": quoted}
        message = self.store_message(target, sender, content)
        return self.queue_update("message", message.data)

    def _check_can_post(self, sender: UserHandle, chat: ChatHandle) -> None:
        if chat.type == "private" and chat.id != sender.id:
            raise ValueError(f"user {sender.id} cannot write in the private chat of {chat.id}")
        if chat.type in ("group", "supergroup") and self.member_status(chat, sender) in ("left", "kicked"):
            raise ValueError(f"user {sender.id} is not a member of chat {chat.id}; call add_member first")
        if chat.type == "channel":
            raise ValueError("use channel_post() for channels")

    def _replied(self, chat: ChatHandle, reply_to: MessageRef | int) -> StoredMessage:
        if isinstance(reply_to, int):
            found = self.find_message(chat, reply_to)
            if found is None:
                raise KeyError(f"message {chat.id}/{reply_to} not found")
            return found
        return self._message(reply_to)

    @staticmethod
    def _with_caption(content: JSON, caption: str | None) -> JSON:
        if caption:
            content["caption"] = caption
            entities = command_entities(caption)
            if entities:
                content["caption_entities"] = entities
        return content

    @staticmethod
    def _file_fields(record: FileRecord) -> JSON:
        return {"file_id": record.file_id, "file_unique_id": record.file_unique_id, "file_size": len(record.content)}
