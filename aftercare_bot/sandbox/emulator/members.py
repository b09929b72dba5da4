"""Members of emulated groups as the Bot API describes them (ChatMember objects)."""

from __future__ import annotations

from aftercare_bot.sandbox.emulator.models import JSON
from aftercare_bot.sandbox.emulator.spec import ApiSpec, load_spec

MEMBER_TYPES = {
    "creator": "ChatMemberOwner", "administrator": "ChatMemberAdministrator", "member": "ChatMemberMember",
    "restricted": "ChatMemberRestricted", "left": "ChatMemberLeft", "kicked": "ChatMemberBanned",
}  # fmt: skip
_FLAG_EXCEPTIONS = {"can_be_edited": False, "is_anonymous": False, "is_member": True}


def chat_member(status: str, user: JSON, spec: ApiSpec | None = None) -> JSON:
    """A ChatMember object of the subtype Telegram uses for ``status``; administrators hold every
    right, restricted members none, with the flags taken from the spec so none is missing."""
    member: JSON = {"status": status, "user": user}
    description = (spec or load_spec()).types[MEMBER_TYPES[status]]
    for field in description.get("fields", []):
        if field["required"] and field["types"] == ["Boolean"]:
            member[field["name"]] = _FLAG_EXCEPTIONS.get(field["name"], status == "administrator")
    if status in ("restricted", "kicked"):
        member["until_date"] = 0
    return member
