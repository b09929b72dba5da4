"""QR codes for links: enrolment links and the clinic's front-desk link."""

from __future__ import annotations

import io

import segno


def qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()
