"""The plans in force: the files in messages/plans, overridden by revisions edited from Telegram."""

from __future__ import annotations

from pathlib import Path

from aftercare_bot.plans.model import Plan, load_plans


class PlanCatalog:
    def __init__(self, plans: dict[str, Plan], revisions: dict[str, int] | None = None) -> None:
        self._files = dict(plans)
        self._plans = dict(plans)
        self._revisions = dict(revisions or {})
        self._ignored: dict[str, int] = {}  # revisions found invalid, so they are not read again
        self.refreshed_at = float("-inf")  # time.monotonic() of the last look for newer revisions

    @classmethod
    def from_files(cls, messages_dir: Path) -> PlanCatalog:
        return cls(load_plans(messages_dir / "plans"))

    def get(self, treatment: str) -> Plan | None:
        return self._plans.get(treatment)

    def file_plan(self, treatment: str) -> Plan | None:
        """The plan as its file has it, whatever was edited since (None for plans created in Telegram)."""
        return self._files.get(treatment)

    def treatments(self) -> list[str]:
        return sorted(self._plans)

    def warning_steps(self, treatment: str) -> set[str]:
        """Keys of the steps marked warning_signs in the plan file or in the plan in force: marks stay."""
        plans = (self._files.get(treatment), self._plans.get(treatment))
        return {step.key for plan in plans if plan is not None for step in plan.steps if step.warning_signs}

    def revision(self, treatment: str) -> int | None:
        """The database revision in force, or None while the plan file is used as shipped."""
        return self._revisions.get(treatment)

    def newest_seen(self, treatment: str) -> int:
        """The newest revision already put in force or found invalid (0 for none)."""
        return max(self._revisions.get(treatment, 0), self._ignored.get(treatment, 0))

    def ignore(self, treatment: str, revision: int) -> None:
        self._ignored[treatment] = max(revision, self._ignored.get(treatment, 0))

    def replace(self, plan: Plan, revision: int) -> bool:
        """Put a revision in force unless a newer one already is (saves and refreshes may cross)."""
        current = self._revisions.get(plan.treatment)
        if current is not None and revision <= current:
            return False
        self._plans[plan.treatment] = plan
        self._revisions[plan.treatment] = revision
        return True
