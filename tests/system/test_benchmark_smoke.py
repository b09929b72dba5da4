"""The benchmark at its smallest size: it must run to the end and report every section with numbers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

SECTION_HEADINGS = ("## 1. Dispatch capacity", "## 2. Flood-limit fidelity", "## 3. Scale",
                    "## 4. Inbound", "## 4b. Bursts", "## 5. Against the naive design",
                    "## 6. The manager's report")


def positive(value: object) -> bool:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return is_number and math.isfinite(value) and value > 0  # type: ignore[arg-type,operator]


def test_tiny_benchmark_writes_both_reports_with_every_section(tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if name != "TEST_DATABASE_URL"}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--postgres", "", "--out", str(tmp_path)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=480, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    report = json.loads((tmp_path / "report.json").read_text())
    sections = report["sections"]
    assert set(sections) == {"capacity", "flood", "scale", "inbound", "bursts", "peer", "report"}

    free, paid = sections["bursts"]["bursts"]
    for burst in (free, paid):
        assert burst["answered"] == burst["red_flags"] == burst["cases_shown"], "every writer answered, case shown"
        assert burst["plan_messages"] == 20 and burst["flood_limited"] == 0
    assert (free["tier"], free["paid_broadcasts"], paid["tier"]) == ("free", 0, "paid")
    assert paid["paid_broadcasts"] > 0 and paid["stars_spent"] == paid["paid_broadcasts"] * 0.1

    capacity = sections["capacity"]
    assert all(positive(capacity[key]) for key in ("bare_client_rate", "bot_rate", "ratio"))

    flood = sections["flood"]
    assert flood["drained"] and flood["recorded_sent"] == flood["rows"]
    assert positive(flood["rate"]) and isinstance(flood["too_many_requests"], int)
    assert flood["max_per_chat_in_any_second"] == 1, "two messages reached one chat within a second"

    scale = sections["scale"]
    assert [row["backend"] for row in scale["rows"]] == ["sqlite", "sqlite"]
    for row in scale["rows"]:
        assert all(positive(row[key]) for key in ("pending", "run_due_ms", "next_due_ms", "rss_mb"))
    assert isinstance(scale["flat"]["sqlite"]["flat"], bool)

    for inbound in (sections["inbound"], sections["inbound"]["calm"]):
        assert inbound["cards"] == inbound["messages"] and inbound["missing"] == 0
        assert positive(inbound["p50_ms"]) and inbound["p99_ms"] >= inbound["p50_ms"]
        assert positive(inbound["card_rate"])

    peer = sections["peer"]
    assert peer["naive"]["jobs"] == peer["messages"]
    assert positive(peer["naive"]["start_seconds"]) and positive(peer["bot"]["sqlite"]["start_seconds"])
    assert all(positive(value) for value in peer["ratios"]["sqlite"].values())

    [figures] = sections["report"]["rows"]
    assert figures["year_deliveries"] == figures["deliveries"] and figures["year_cases"] > 0
    assert all(positive(figures[key]) for key in ("year_seconds", "month_seconds", "draw_seconds", "png_bytes"))

    markdown = (tmp_path / "report.md").read_text()
    for heading in SECTION_HEADINGS:
        assert heading in markdown
    assert "nan" not in markdown.lower()
