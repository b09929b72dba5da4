"""Runs every benchmark against the local emulator and writes results/report.md and results/report.json.

    .venv/bin/python -m benchmarks              # full size; SQLite (+ PostgreSQL if TEST_DATABASE_URL)
    .venv/bin/python -m benchmarks --size tiny  # a quick check that everything works
    .venv/bin/python -m benchmarks --postgres postgresql://postgres@127.0.0.1:5432/postgres

Each measurement runs in a process of its own, the emulator in another one, all on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import run_child
from benchmarks.machine import describe_machine
from benchmarks.report import render_markdown

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "capacity": {"rows": 150, "chunks": 3, "rounds": 1},
        "flood": {"rows": 60},
        "scale": {"sizes": [300, 1_200], "passes": 5},
        "inbound": {"messages": 30, "rate": 100, "calm_messages": 10, "calm_rate": 10},
        "peer": {"messages": 1_000},
        "report": {"deliveries": 6_000, "cases": 100, "runs": 2},
        "bursts": {"bursts": [[10, 100], [40, 100, "paid"]]},
    },
    "full": {
        "capacity": {"rows": 10_000, "chunks": 10, "rounds": 2},
        "flood": {"rows": 10_000},
        "scale": {"sizes": [10_000, 100_000, 1_000_000], "passes": 50},
        "inbound": {"messages": 1_000, "rate": 100, "calm_messages": 200, "calm_rate": 5},
        "peer": {"messages": 100_000},
        "report": {"deliveries": 1_000_000, "cases": 10_000, "runs": 5},
        "bursts": {"bursts": [[10, 100], [100, 100], [1_000, 100], [100, 20], [100, 100, "paid"],
                              [1_000, 100, "paid"]]},
    },
}
SECTIONS = ("capacity", "flood", "scale", "inbound", "bursts", "peer", "report")
MODULES = {"capacity": "dispatch_capacity", "flood": "flood", "scale": "scale", "inbound": "inbound",
           "bursts": "bursts", "peer": "peer", "report": "report_figures"}
# Generous bounds per section (seconds), so that a hang fails the run instead of blocking it.
TIMEOUTS = {"capacity": 1800, "flood": 1500, "scale": 3600, "inbound": 1200, "bursts": 1500, "peer": 1800,
            "report": 3600}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"),
                        help="a PostgreSQL server URL (a database is created and dropped on it); "
                             "default: $TEST_DATABASE_URL; an empty value means SQLite only")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where report.md and report.json go")
    return parser.parse_args(argv)


def run_section(name: str, size: dict[str, Any], postgres: str | None) -> dict[str, Any]:
    arguments = dict(size)
    if name in ("scale", "peer", "report"):
        arguments["backends"] = ["sqlite", "postgresql"] if postgres else ["sqlite"]
        arguments["postgres"] = postgres
    started = time.perf_counter()
    result = run_child(MODULES[name], arguments, TIMEOUTS[name])
    result["section_seconds"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    options.postgres = options.postgres or None
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"size": options.size, "machine": describe_machine(options.postgres),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "sections": {}}
    options.out.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        print(f"[benchmark] {name} ...", file=sys.stderr, flush=True)
        report["sections"][name] = run_section(name, SIZES[options.size][name], options.postgres)
        print(f"[benchmark] {name} done in {report['sections'][name]['section_seconds']:.0f} s",
              file=sys.stderr, flush=True)
        # Written after every section, so that a long run shows its progress.
        (options.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    report["load_average_after"] = list(os.getloadavg())
    (options.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (options.out / "report.md").write_text(render_markdown(report))
    print(f"[benchmark] wrote {options.out / 'report.md'} and report.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
