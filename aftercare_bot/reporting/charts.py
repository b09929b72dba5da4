"""The report as one picture: six panels a manager reads at a glance, drawn with matplotlib's Agg backend (no
display needed). Only the object API is used, not pyplot, so drawing in a worker thread is safe."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aftercare_bot.db.repositories.report import (
    ALL,
    CAUSE_CHECKIN,
    CAUSE_MESSAGE,
    CAUSE_NO_RESPONSE,
    ReportFigures,
    Spread,
)

WIDTH_PX, HEIGHT_PX, DPI = 1600, 1800, 100
FUNNEL = ("links_made", "opened", "agreed", "finished")
EXITS = ("declined", "stopped", "blocked", "unreachable")
ANSWERS = ("ok", "worried", "urgent")
LEVELS = ("urgent", "concern")
CAUSES = (CAUSE_MESSAGE, CAUSE_CHECKIN, CAUSE_NO_RESPONSE)
MESSAGE_STATES = ("sent", "skipped", "quiet_held", "failed", "cancelled")
# Calm colours, with red kept for what needs attention.
BLUE, GREY, GREEN, AMBER, RED, TEAL = "#3b6ea5", "#9aa5b1", "#4c9f70", "#e0a030", "#c8453b", "#5aa5a0"
ANSWER_COLOURS = {"ok": GREEN, "worried": AMBER, "urgent": RED}
LEVEL_COLOURS = {"urgent": RED, "concern": AMBER}
MESSAGE_COLOURS = {"sent": GREEN, "skipped": GREY, "quiet_held": TEAL, "failed": RED, "cancelled": "#c7ccd1"}

Label = Callable[..., str]
Duration = Callable[[float | None], str]


@dataclass(frozen=True)
class Labels:
    """Every word on the chart, from the texts files in the admin's language."""

    get: Label
    steps: dict[str, str]

    @classmethod
    def from_texts(cls, label: Label, steps: dict[str, str]) -> Labels:
        return cls(label, steps)

    def __call__(self, key: str, **values: object) -> str:
        return self.get(f"report_chart_{key}", **values)

    def step(self, key: str) -> str:
        return self.steps.get(key, key.replace("_", " "))


def draw(found: ReportFigures, title: str, labels: Labels, duration: Duration) -> bytes:
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=20, fontweight="bold", x=0.03, ha="left", y=0.985)
    grid = figure.add_gridspec(3, 2, left=0.15, right=0.97, top=0.93, bottom=0.09, hspace=0.5, wspace=0.55)
    _funnel(figure.add_subplot(grid[0, 0]), found, labels)
    _replies(figure.add_subplot(grid[0, 1]), found, labels, duration)
    _answers(figure.add_subplot(grid[1, 0]), found, labels)
    _messages(figure.add_subplot(grid[1, 1]), found, labels)
    _cases(figure.add_subplot(grid[2, 0]), found, labels)
    _times(figure.add_subplot(grid[2, 1]), found, labels, duration)
    figure.text(0.03, 0.015, labels("safety", **found.case_events), fontsize=13)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _style(axes: Axes, title: str) -> None:
    axes.set_title(title, fontsize=15, fontweight="bold", loc="left", pad=12)
    axes.tick_params(labelsize=12)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _nothing(axes: Axes, labels: Labels) -> None:
    axes.text(0.5, 0.5, labels("nothing"), ha="center", va="center", fontsize=14, color=GREY,
              transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _legend_below(axes: Axes, *, columns: int, offset: float = -0.06) -> None:
    axes.legend(fontsize=12, frameon=False, loc="upper center", bbox_to_anchor=(0.5, offset), ncol=columns)


def _hbars(axes: Axes, names: list[str], values: list[float], colours: list[str], texts: list[str]) -> None:
    """Horizontal bars, the first at the top, each with its figure written after it."""
    positions = list(range(len(names)))[::-1]
    axes.barh(positions, values, color=colours, height=0.65)
    axes.set_yticks(positions, names)
    top = max(values, default=0) or 1
    axes.set_xlim(0, top * 1.3)
    for position, value, text in zip(positions, values, texts, strict=True):
        axes.text(value + top * 0.02, position, text, va="center", fontsize=12)


def _funnel(axes: Axes, found: ReportFigures, labels: Labels) -> None:
    _style(axes, labels("funnel"))
    names = [*FUNNEL, *EXITS]
    values = [found.funnel.get(name, 0) for name in names]
    if not any(values):
        _nothing(axes, labels)
        return
    colours = [BLUE] * len(FUNNEL) + [GREY] * len(EXITS)
    _hbars(axes, [labels(f"funnel_{name}") for name in names], values, colours, [str(v) for v in values])
    axes.axhline(len(EXITS) - 0.5, color=GREY, linewidth=0.8, linestyle=":")
    axes.set_xticks([])


def _replies(axes: Axes, found: ReportFigures, labels: Labels, duration: Duration) -> None:
    _style(axes, labels("replies"))
    steps = [step for step in found.checkin_steps if step.sent]
    if not steps:
        _nothing(axes, labels)
        return
    rates = [100 * step.answered / step.sent for step in steps]
    texts = [
        f"{round(rate)} % ({step.answered}/{step.sent})  "
        + labels("replies_median", median=duration(found.reply_times.get(step.step_key, Spread()).median))
        for rate, step in zip(rates, steps, strict=True)
    ]
    _hbars(axes, [labels.step(step.step_key) for step in steps], rates, [BLUE] * len(steps), texts)
    axes.set_xlim(0, 190)  # room for the figures after a full bar
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.set_xlabel(labels("replies_axis"), fontsize=12)


def _answers(axes: Axes, found: ReportFigures, labels: Labels) -> None:
    _style(axes, labels("answers"))
    days = list(found.answers_by_day)
    if not days:
        _nothing(axes, labels)
        return
    bottom = [0] * len(days)
    for answer in ANSWERS:
        counts = [found.answers_by_day[day].get(answer, 0) for day in days]
        axes.bar([str(day) for day in days], counts, bottom=bottom, color=ANSWER_COLOURS[answer],
                 label=labels(f"answer_{answer}"), width=0.7)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    for index, total in enumerate(bottom):
        axes.text(index, total, str(total), ha="center", va="bottom", fontsize=11)
    axes.set_ylim(0, max(bottom) * 1.2)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(labels("answers_axis"), fontsize=12)
    _legend_below(axes, columns=3, offset=-0.2)


def _cases(axes: Axes, found: ReportFigures, labels: Labels) -> None:
    _style(axes, labels("cases"))
    if not found.cases:
        _nothing(axes, labels)
        return
    positions = list(range(len(CAUSES)))[::-1]
    left = [0] * len(CAUSES)
    for level in LEVELS:
        counts = [found.cases.get((level, cause), 0) for cause in CAUSES]
        axes.barh(positions, counts, left=left, color=LEVEL_COLOURS[level], label=labels(f"level_{level}"),
                  height=0.6)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    top = max(left) or 1
    for position, total in zip(positions, left, strict=True):
        axes.text(total + top * 0.02, position, str(total), va="center", fontsize=12)
    axes.set_yticks(positions, [labels(f"cause_{cause}") for cause in CAUSES])
    axes.set_xlim(0, top * 1.3)
    axes.set_xticks([])
    _legend_below(axes, columns=2)


def _times(axes: Axes, found: ReportFigures, labels: Labels, duration: Duration) -> None:
    _style(axes, labels("times"))
    claim, resolve = found.claim_times.get(ALL, Spread()), found.resolve_times.get(ALL, Spread())
    if not claim.count and not resolve.count:
        _nothing(axes, labels)
        return
    names = [labels("claim"), labels("resolve")]
    medians = [claim.median or 0, resolve.median or 0]
    p90s = [claim.p90 or 0, resolve.p90 or 0]
    positions = [1.0, 0.0]
    height = 0.35
    axes.barh([p + height / 2 for p in positions], [m / 60 for m in medians], height=height, color=BLUE,
              label=labels("median"))
    axes.barh([p - height / 2 for p in positions], [p / 60 for p in p90s], height=height, color=GREY,
              label=labels("p90"))
    top = max(p90s + medians) / 60 or 1
    for position, median, p90 in zip(positions, medians, p90s, strict=True):
        axes.text(median / 60 + top * 0.02, position + height / 2, duration(median), va="center", fontsize=12)
        axes.text(p90 / 60 + top * 0.02, position - height / 2, duration(p90), va="center", fontsize=12)
    axes.set_yticks(positions, names)
    axes.set_xlim(0, top * 1.3)
    axes.set_xticks([])
    _legend_below(axes, columns=2)


def _messages(axes: Axes, found: ReportFigures, labels: Labels) -> None:
    _style(axes, labels("messages"))
    values = [found.total(state) for state in MESSAGE_STATES]
    if not any(values):
        _nothing(axes, labels)
        return
    _hbars(axes, [labels(state) for state in MESSAGE_STATES], values,
           [MESSAGE_COLOURS[state] for state in MESSAGE_STATES], [str(value) for value in values])
    axes.set_xticks([])
