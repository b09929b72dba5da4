"""`aftercare-bot templates export|import`: the plans in force as files, and files back into the database.

Files in messages/plans are the defaults the bot ships with; edits made from Telegram live in the database.
Export writes what is in force (each file overlaid with its newest revision) in the plan file format, one
<treatment>.yaml per plan. Import checks a folder of such files exactly like `aftercare-bot plan check` and
then stores, in one transaction, a new revision of every plan that differs from the plan in force — all
of them or, when any file has a problem, none. A step marked `warning_signs: true` in the plan in force must
stay in the file and keep its mark (and, like every such step, stay on), so that no import takes the warning
signs out of clients' plans or frees their texts from the clinical safety checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot.config import Settings
from aftercare_bot.plans import editing
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.plans.documents import document_to_yaml, plan_to_document
from aftercare_bot.plans.model import Plan, PlanError, check_plans, load_plans
from aftercare_bot.texts.catalog import display_path
from aftercare_bot.texts.problems import problem, sorted_by_place

IMPORT_NOTE = "import"


@dataclass
class ImportReport:
    errors: list[PlanError] = field(default_factory=list)
    saved: dict[str, int] = field(default_factory=dict)  # treatment -> new revision
    unchanged: list[str] = field(default_factory=list)


async def export_plans(
    session_factory: async_sessionmaker[AsyncSession], catalog: PlanCatalog, target: Path
) -> list[Path]:
    """Write <treatment>.yaml for every plan in force into `target`; returns the files written."""
    await editing.refresh(session_factory, catalog)
    files = {}
    for treatment in catalog.treatments():
        plan = catalog.get(treatment)
        assert plan is not None
        files[f"{treatment}.yaml"] = document_to_yaml(plan_to_document(plan))
    return _write(target, files)


def _write(target: Path, files: dict[str, str]) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


async def import_plans(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: PlanCatalog,
    source: Path,
    *,
    settings: Settings,
    now: datetime,
    by: str = "",
) -> ImportReport:
    """Save every changed plan of `source` as a new revision, or nothing if any file has a problem; `by` says who
    imported (the history shows it, with the file each plan came from)."""
    errors = check_plans(source)
    if errors:
        return ImportReport(errors=errors)
    plans = load_plans(source)
    await editing.refresh(session_factory, catalog)
    if errors := sorted_by_place([e for plan in plans.values() for e in _removed_marks(plan, catalog, source)]):
        return ImportReport(errors=errors)
    documents = {treatment: plan_to_document(plan) for treatment, plan in plans.items()}
    notes = {
        treatment: f"{IMPORT_NOTE} {plan.path.name if plan.path else treatment + '.yaml'}"
        for treatment, plan in plans.items()
    }
    async with session_factory.begin() as session:
        saved = await editing.save_documents(
            session, catalog, documents, notes=notes, actor=None, by_name=by, now=now, settings=settings
        )
    editing.put_in_force(catalog, saved)
    return ImportReport(
        saved={treatment: item.revision for treatment, item in saved.items()},
        unchanged=sorted(set(plans) - set(saved)),
    )


def _removed_marks(plan: Plan, catalog: PlanCatalog, source: Path) -> list[PlanError]:
    """Warning-sign steps of the plan in force that the file unmarks (at the step's line) or leaves out."""
    marked = catalog.warning_steps(plan.treatment)
    shown = display_path(plan.path, source) if plan.path else f"{plan.treatment}.yaml"
    in_file = {step.key for step in plan.steps}
    unmarked = [
        PlanError(shown, step.line, problem("problem_plan_warning_mark_removed", step=step.key))
        for step in plan.steps
        if step.key in marked and not step.warning_signs
    ]
    left_out = [
        PlanError(shown, 0, problem("problem_plan_warning_step_removed", step=key))
        for key in sorted(marked - in_file)
    ]
    return left_out + unmarked
