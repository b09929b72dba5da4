"""A plan as a document: the plain structure of a plan file, as stored in the database and written to files.

A document is a dict with the same fields as a file in messages/plans (see messages/README.md):

    {"treatment": "microneedling", "title": {"en": "Micro-needling"},
     "steps": [{"key": "same_evening", "due": "4h", "grace": "8h", "checkin": False, "enabled": True,
                "warning_signs": True, "text": {"en": "Hello {first_name} ..."}}, ...]}

Documents are checked by turning them into the file format and reading that with plan.py, so a plan edited
from Telegram or imported passes exactly the checks of `aftercare-bot plan check`.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

import yaml

from aftercare_bot.plans.model import LONG_SAMPLE_VALUES, Plan, PlanError, format_duration, read_plan_text

Document = dict[str, Any]


def plan_to_document(plan: Plan) -> Document:
    return {
        "treatment": plan.treatment,
        "title": dict(plan.title),
        "steps": [
            {
                "key": step.key,
                "due": step.due.describe(),
                "grace": format_duration(step.grace),
                "checkin": step.checkin,
                "enabled": step.enabled,
                "warning_signs": step.warning_signs,
                "text": dict(step.texts),
                **({"title": dict(step.title)} if step.title else {}),
            }
            for step in plan.steps
        ],
    }


def document_to_yaml(document: Mapping[str, Any]) -> str:
    """The document in the plan file format: texts with line breaks as `|` blocks, `enabled` only when off,
    `warning_signs` only when on."""
    steps = []
    for step in document.get("steps", []):
        written = {name: step[name] for name in ("key", "title", "due", "grace", "checkin") if name in step}
        if step.get("enabled", True) is not True:
            written["enabled"] = step["enabled"]
        if step.get("warning_signs", False) is not False:
            written["warning_signs"] = step["warning_signs"]
        written["text"] = step.get("text")
        steps.append(written)
    ordered = {"treatment": document.get("treatment"), "title": document.get("title"), "steps": steps}
    text = yaml.dump(
        ordered,
        Dumper=_PlanDumper,
        sort_keys=False,
        allow_unicode=True,
        width=10_000,
        default_flow_style=False,
    )
    # An empty line between steps, as in the shipped files; text lines are indented deeper, so never match.
    head, first, rest = text.partition("\n  - key:")
    return head + first + rest.replace("\n  - key:", "\n\n  - key:")


def read_document(
    document: Mapping[str, Any], *, sample_values: Mapping[str, str] = LONG_SAMPLE_VALUES
) -> tuple[Plan | None, list[PlanError]]:
    """The plan a document describes, checked as its file would be; (None, problems) when it is not valid."""
    treatment = document.get("treatment")
    name = treatment if isinstance(treatment, str) and treatment else "plan"
    return read_plan_text(document_to_yaml(document), name, sample_values=sample_values)


def normalised(document: Mapping[str, Any]) -> Document | None:
    """The document as the plan it describes would write it, or None when it is not valid.

    Two documents that mean the same plan (a missing `checkin: false`, "1d" against "24h") normalise alike.
    """
    plan, errors = read_document(document)
    return None if errors or plan is None else plan_to_document(plan)


def copied(document: Mapping[str, Any]) -> Document:
    return copy.deepcopy(dict(document))


def with_warning_marks(document: Mapping[str, Any], marked: Collection[str]) -> Document:
    """The document with `warning_signs: true` on every step whose key is in `marked`.

    A step once marked stays marked: revisions saved before the mark existed, or edited without it, get it
    back here, so their texts are held to the same checks as the plan file's.
    """
    result = copied(document)
    for step in result.get("steps", []):
        if isinstance(step, dict) and step.get("key") in marked:
            step["warning_signs"] = True
    return result


class _PlanDumper(yaml.SafeDumper):
    """Writes lists indented under their key, as the shipped plan files are."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to quoting by itself when a block cannot hold the text (e.g. trailing spaces).
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PlanDumper.add_representer(str, _represent_text)
