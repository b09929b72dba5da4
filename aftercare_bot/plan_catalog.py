"""The plans in force: the files in messages/plans, overridden by revisions edited from Telegram."""

from __future__ import annotations

from pathlib import Path

from aftercare_bot.plan import Plan, load_plans


class PlanCatalog:
    def __init__(self, plans: dict[str, Plan], revisions: dict[str, int] | None = None) -> None:
        self._plans = dict(plans)
        self._revisions = dict(revisions or {})

    @classmethod
    def from_files(cls, messages_dir: Path) -> PlanCatalog:
        return cls(load_plans(messages_dir / "plans"))

    def get(self, treatment: str) -> Plan | None:
        return self._plans.get(treatment)

    def treatments(self) -> list[str]:
        return sorted(self._plans)

    def revision(self, treatment: str) -> int | None:
        """The database revision in force, or None while the plan file is used as shipped."""
        return self._revisions.get(treatment)

    def replace(self, plan: Plan, revision: int) -> None:
        self._plans[plan.treatment] = plan
        self._revisions[plan.treatment] = revision
