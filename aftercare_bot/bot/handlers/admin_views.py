"""What admins see of the plans: lists, step cards, previews, history, and the buttons under them.

Buttons never carry ids to type: plans and steps are named by a short hash of their key (callback data
may hold 64 bytes, and keys may be 40 characters long), and every button is signed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from aftercare_bot.callbacks import Press
from aftercare_bot.db.refs import RowRef
from aftercare_bot.plans.editing import FILE_REVISION, TextVersion, sample_values
from aftercare_bot.plans.model import Plan, Step, format_duration
from aftercare_bot.services import Services
from aftercare_bot.texts import wording
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE, MAX_MESSAGE_LENGTH
from aftercare_bot.texts.rendering import PLAN_PLACEHOLDERS, Html, render
from aftercare_bot.texts.telegram_html import plain_text, visible_length

_REF_CHARS = 6
_SNIPPET = 70
_NAME_WORDS = 40  # characters of the text that name a step without a title


def ref(key: str) -> str:
    """A short, stable name for a plan or step key inside callback data."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:_REF_CHARS]


def button(
    svc: Services, label_key: str, ui_language: str, press: Press, /, *parts: object, **values: object
) -> InlineKeyboardButton:
    """A signed button; `values` fill in its label (they may include one called `language`)."""
    label = svc.label(label_key, ui_language, **values)
    return InlineKeyboardButton(label, callback_data=svc.signer.sign(press, *parts))


def find_plan(svc: Services, plan_ref: str) -> Plan | None:
    for treatment in svc.catalog.treatments():
        if ref(treatment) == plan_ref:
            return svc.catalog.get(treatment)
    return None


def find_step(plan: Plan, step_ref: str) -> Step | None:
    return next((step for step in plan.steps if ref(step.key) == step_ref), None)


def moment(svc: Services, at: datetime | None, language: str | None = None) -> str:
    return wording.moment(svc, at, language) if at else ""


def placeholder_list() -> Html:
    """The placeholders as code, which Telegram copies on a tap."""
    return Html(" · ".join(f"<code>{{{name}}}</code>" for name in sorted(PLAN_PLACEHOLDERS)))


def step_name(svc: Services, step: Step, language: str) -> str:
    """What a step is about: its title in the admin's language (else the clinic's, else English), else the first
    words of its text."""
    for candidate in (language, svc.settings.default_language, FALLBACK_LANGUAGE):
        if candidate in step.title:
            return plain_text(step.title[candidate])
    words = " ".join(plain_text(step.text(language)).split())
    return words if len(words) <= _NAME_WORDS else words[:_NAME_WORDS].rsplit(" ", 1)[0] + "…"


def named(svc: Services, plan: Plan | None, step_key: str, language: str) -> str:
    """The name of the step `step_key` of `plan`, or the key itself when the step is gone."""
    step = next((s for s in plan.steps if s.key == step_key), None) if plan is not None else None
    return step_name(svc, step, language) if step is not None else step_key


def when(svc: Services, step: Step, language: str) -> str:
    """When the step goes out, in words."""
    if step.due.offset is not None:
        return svc.label("admin_when_after", language, after=step.due.describe())
    return svc.label("admin_when_on_day", language, day=step.due.day, at=step.due.describe().rsplit(" ", 1)[-1])


def version_text(svc: Services, plan: Plan, language: str) -> str:
    revision = svc.catalog.revision(plan.treatment)
    if revision is None:
        return svc.label("admin_version_file", language)
    return svc.label("admin_version_number", language, revision=revision)


# --- plans and steps ------------------------------------------------------------------------------


def plans_list(svc: Services, language: str) -> tuple[str, InlineKeyboardMarkup]:
    rows = []
    for treatment in svc.catalog.treatments():
        plan = svc.catalog.get(treatment)
        assert plan is not None
        rows.append(
            [
                button(
                    svc,
                    "admin_plan_button",
                    language,
                    Press.PLAN,
                    ref(treatment),
                    title=plan.title_for(language, svc.settings.default_language),
                    treatment=treatment,
                )
            ]
        )
    return svc.text("admin_plans", language), InlineKeyboardMarkup(rows)


def plan_view(svc: Services, plan: Plan, language: str) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        svc.text(
            "admin_plan_header",
            language,
            title=plan.title_for(language, svc.settings.default_language),
            treatment=plan.treatment,
            version=version_text(svc, plan, language),
            languages=", ".join(plan.languages),
        )
    ]
    rows = []
    for step in plan.steps:
        name, timing = step_name(svc, step, language), when(svc, step, language)
        key = "admin_plan_step_line" if step.enabled else "admin_plan_step_line_off"
        lines.append(svc.text(key, language, step=name, timing=timing))
        label = "admin_step_button" if step.enabled else "admin_step_button_off"
        rows.append([button(
            svc, label, language, Press.STEP, ref(plan.treatment), ref(step.key), step=name, timing=timing
        )])
    plan_ref = ref(plan.treatment)
    rows.append([button(svc, "admin_button_add_step", language, Press.NEW_STEP, plan_ref)])
    rows.append([button(svc, "admin_button_copy_plan", language, Press.COPY_PLAN, plan_ref)])
    rows.append([button(svc, "admin_button_all_plans", language, Press.PLANS)])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def preview(
    svc: Services,
    plan: Plan,
    step: Step,
    text_language: str,
    template: str,
    *,
    first_name: str,
    client_name: str,
) -> str:
    """The message as a client would get it (HTML)."""
    values = sample_values(
        plan, step, text_language, svc.settings, first_name=first_name, client_name=client_name
    )
    return render(template, values)


def sample_preview(
    svc: Services, plan: Plan, step: Step, text_language: str, template: str, language: str
) -> str:
    return preview(
        svc,
        plan,
        step,
        text_language,
        template,
        first_name=svc.label("admin_sample_first_name", language),
        client_name=svc.label("admin_sample_client_name", language),
    )


def with_heading(heading: str, body: str) -> list[str]:
    """Heading and body in one message when they fit, else as two."""
    joined = f"{heading}\n\n{body}"
    return [joined] if visible_length(joined) <= MAX_MESSAGE_LENGTH else [heading, body]


def step_card(svc: Services, plan: Plan, step: Step, language: str) -> tuple[list[str], InlineKeyboardMarkup]:
    """One message (two when the text is very long): what the step is, when it goes out, a preview of its text
    for a sample client in the admin's language (or the clinic's), and the buttons."""
    yes, no = svc.label("admin_yes", language), svc.label("admin_no", language)
    html = svc.text(
        "admin_step_card",
        language,
        title=plan.title_for(language, svc.settings.default_language),
        step=step_name(svc, step, language),
        timing=when(svc, step, language),
        grace=format_duration(step.grace),
        status=svc.label("admin_status_on" if step.enabled else "admin_status_off", language),
        checkin=yes if step.checkin else no,
        languages=", ".join(sorted(step.texts)),
        version=version_text(svc, plan, language),
    )
    if step.warning_signs:  # tells admins why its edits are checked more strictly and it has to stay on
        html += "\n" + svc.text("admin_step_warning_signs", language)
    shown = next(
        (code for code in (language, svc.settings.default_language, FALLBACK_LANGUAGE) if code in step.texts),
        FALLBACK_LANGUAGE,
    )
    heading = html + "\n\n" + svc.text("admin_preview_heading", language, language=shown)
    messages = with_heading(heading, sample_preview(svc, plan, step, shown, step.texts[shown], language))
    p, s = ref(plan.treatment), ref(step.key)
    edit_buttons = [
        button(svc, "admin_button_edit", language, Press.EDIT_TEXT, p, s, code, language=code)
        for code in sorted(step.texts)
    ]
    rows = [edit_buttons[i : i + 3] for i in range(0, len(edit_buttons), 3)]
    rows.append([button(svc, "admin_button_add_language", language, Press.ADD_LANGUAGE, p, s)])
    rows.append(
        [
            button(svc, "admin_button_timing", language, Press.EDIT_TIMING, p, s),
            button(svc, "admin_button_grace", language, Press.EDIT_GRACE, p, s),
        ]
    )
    toggle = "admin_button_turn_off" if step.enabled else "admin_button_turn_on"
    rows.append([button(svc, toggle, language, Press.STEP_ON_OFF, p, s, 0 if step.enabled else 1)])
    rows.append(
        [
            button(svc, "admin_button_history", language, Press.STEP_HISTORY, p, s),
            button(svc, "admin_button_test", language, Press.TEST_STEP, p, s),
        ]
    )
    rows.append([button(svc, "admin_button_back_to_plan", language, Press.PLAN, p)])
    return messages, InlineKeyboardMarkup(rows)


# --- history --------------------------------------------------------------------------------------


def snippet(template: str) -> str:
    text = " ".join(plain_text(template).split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


def step_history(
    svc: Services, plan: Plan, step: Step, text_language: str, versions: Sequence[TextVersion], language: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    lines = [
        svc.text(
            "admin_history_header",
            language,
            step=step_name(svc, step, language),
            title=plan.title_for(language, svc.settings.default_language),
            language=text_language,
        )
    ]
    current = step.texts.get(text_language)
    rows = []
    for version in versions[-10:]:
        in_force = version is versions[-1] and version.text == current
        mark = svc.label("admin_history_in_force", language) if in_force else ""
        values = {"revision": version.revision, "snippet": snippet(version.text), "current": mark}
        if version.revision == FILE_REVISION:
            lines.append(svc.text("admin_history_line_file", language, **values))
        else:
            lines.append(
                svc.text(
                    "admin_history_line",
                    language,
                    at=moment(svc, version.at, language),
                    name=version.by_name or str(version.by_id or ""),
                    **values,
                )
            )
        if not in_force:
            rows.append(
                [
                    button(
                        svc,
                        "admin_button_restore",
                        language,
                        Press.RESTORE,
                        ref(plan.treatment),
                        ref(step.key),
                        text_language,
                        version.revision,
                        revision=version.revision,
                        language=text_language,
                    )
                ]
            )
    if not versions:
        lines.append(svc.text("admin_history_empty", language))
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


def confirm_buttons(svc: Services, draft: RowRef, language: str, *, testable: bool) -> InlineKeyboardMarkup:
    row = [button(svc, "admin_button_save", language, Press.SAVE, draft)]
    if testable:
        row.append(button(svc, "admin_button_test", language, Press.TEST_DRAFT, draft))
    row.append(button(svc, "admin_button_discard", language, Press.DISCARD, draft))
    return InlineKeyboardMarkup([row])
