"""Phone numbers as one canonical string (E.164), so that the booking system's "07700 900123" and the
"447700900123" Telegram sends for the same phone compare equal."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str, region: str) -> str | None:
    """The number in E.164 (+447700900123), or None when it is not a valid number. Numbers without a country
    code are read as numbers of `region`, the clinic's country."""
    text = raw.strip()
    if not text:
        return None
    candidates = [text]
    # Telegram's contact numbers carry the country code but no "+".
    if text[0] != "+" and text.isdigit() and not text.startswith("0"):
        candidates.insert(0, "+" + text)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
