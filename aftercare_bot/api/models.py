"""What the API answers, as typed models: the OpenAPI document is generated from these and the request model."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from aftercare_bot.clients.booking import Status


class EnrolmentCreated(BaseModel):
    id: str = Field(description="The bot's own reference for this enrolment.", examples=["7-3f9a1c0b2d4e"])
    external_id: str = Field(examples=["apt-2026-11-20-0042"])
    link: str = Field(description="The client's one-time link; give it to them by text message or e-mail.",
                      examples=["https://t.me/glow_aftercare_bot?start=Q2xpbmljTGlua0V4YW1wbGUwMDAwMDAx"])
    qr_png_url: str = Field(description="A QR code of the link (PNG); needs the same API key.",
                            examples=["/api/v1/enrolments/apt-2026-11-20-0042/qr.png"])
    expires_at: datetime = Field(description="The link works until then.")
    status: Status


class Progress(BaseModel):
    messages_sent: int
    messages_planned: int


class EnrolmentStatus(BaseModel):
    external_id: str
    status: Status = Field(description="link_made: not opened yet; opened: opened, not answered; agreed: the "
                           "plan is running; declined; expired: the link was not used in time; cancelled; "
                           "stopped: the client or the clinic stopped the plan; finished; erased: the client's "
                           "data was erased at their request or after the retention period.")
    link_expires_at: datetime | None = None
    opened_at: datetime | None = None
    agreed_at: datetime | None = None
    progress: Progress


class FieldError(BaseModel):
    field: str = Field(examples=["session_start"])
    problem: str = Field(examples=["is required"])


class Error(BaseModel):
    error: str = Field(description="A stable code: unauthorized, forbidden, not_found, conflict, "
                       "validation_failed, bad_request, too_many_requests.", examples=["validation_failed"])
    message: str = Field(examples=["2 fields are wrong"])
    fields: list[FieldError] = Field(default_factory=list, description="With validation_failed: every wrong field.")
