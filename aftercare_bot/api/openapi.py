"""The OpenAPI 3.1 document of /api/v1, its schemas generated from the typed models the API itself uses."""

from __future__ import annotations

import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from aftercare_bot.api.models import EnrolmentCreated, EnrolmentStatus, Error
from aftercare_bot.clients.booking import EnrolmentFields

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        401: "No API key, or one that is not known.",
        403: "The API key was revoked.",
        404: "No enrolment has this external_id.",
        409: "The enrolment cannot change: the client already answered, or it was cancelled or erased.",
        422: "Wrong fields: every one is named in `fields`.",
        429: "This key sent too many requests; wait for Retry-After seconds.",
    }
    return {str(code): _json("Error", meaning[code]) for code in codes}


@functools.cache
def document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(model, "validation" if model is EnrolmentFields else "serialization")
         for model in (EnrolmentFields, EnrolmentCreated, EnrolmentStatus, Error)],
        ref_template=REF,
    )
    external_id = {"name": "external_id", "in": "path", "required": True, "schema": {"type": "string"},
                   "description": "The booking system's id given when enrolling."}
    auth = _errors(401, 403, 429)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Aftercare bot enrolment API",
            "version": "1",
            "description": "Enrol clients from a booking system: each enrolment gives a one-time Telegram link "
                           "the client opens to agree to their aftercare plan. Nothing is sent before they agree.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/enrolments": {"post": {
                "summary": "Enrol a client, or answer the enrolment already made for this external_id",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("EnrolmentFields")}}},
                "responses": {
                    "201": _json("EnrolmentCreated", "Enrolled: give the client the link (or the QR code)."),
                    "200": _json("EnrolmentCreated", "Made before: the same details change nothing; new details "
                                 "update it while the client has not answered."),
                    "400": _json("Error", "The body is not JSON."),
                    **auth, **_errors(409, 422),
                },
            }},
            "/enrolments/{external_id}": {
                "parameters": [external_id],
                "get": {"summary": "Where the enrolment stands, with no clinical detail",
                        "responses": {"200": _json("EnrolmentStatus", "The status."), **auth, **_errors(404)}},
                "delete": {"summary": "The appointment was cancelled: the link stops working and the plan stops",
                           "responses": {"200": _json("EnrolmentStatus", "Cancelled (or cancelled already)."),
                                         **auth, **_errors(404)}},
            },
            "/enrolments/{external_id}/qr.png": {
                "parameters": [external_id],
                "get": {"summary": "A QR code of the client's link",
                        "responses": {"200": {"description": "PNG image",
                                              "content": {"image/png": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}},
                                      **auth, **_errors(404, 409)}},
            },
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A key made with /apikeys or `aftercare-bot apikey create`.",
            }},
        },
    }
