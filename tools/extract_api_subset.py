"""Regenerate aftercare_bot/sandbox/emulator/bot_api_subset.json from Telegram's API description.

Usage: python tools/extract_api_subset.py [path/to/api.json]

Keeps the methods the emulator implements, every type their parameters can contain (followed
transitively), and the types the emulator produces (not followed, to keep the file small).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from aftercare_bot.sandbox.emulator.spec import IMPLEMENTED_METHODS, PRODUCED_TYPES, SUBSET_PATH  # noqa: E402

DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "telegram-bot-api" / "api.json"  # the spec beside the checkout


def element_type(type_name: str) -> str:
    return re.sub(r"^(Array of )+", "", type_name)


def slim_fields(fields: list[dict]) -> list[dict]:
    return [{"name": f["name"], "types": f["types"], "required": f["required"]} for f in fields]


def slim_type(description: dict) -> dict:
    slim: dict = {}
    if "subtypes" in description:
        slim["subtypes"] = description["subtypes"]
    if "fields" in description:
        slim["fields"] = slim_fields(description["fields"])
    return slim


def parameter_types(api: dict, methods: tuple[str, ...]) -> set[str]:
    """All types reachable from the methods' parameters."""
    found: set[str] = set()
    pending = [element_type(t) for m in methods for f in api["methods"][m].get("fields", []) for t in f["types"]]
    while pending:
        name = pending.pop()
        if name in found or name not in api["types"]:
            continue
        found.add(name)
        description = api["types"][name]
        pending += description.get("subtypes", [])
        pending += [element_type(t) for f in description.get("fields", []) for t in f["types"]]
    return found


def produced_types(api: dict, methods: tuple[str, ...]) -> set[str]:
    names = set(PRODUCED_TYPES)
    names |= {element_type(t) for m in methods for t in api["methods"][m].get("returns", [])}
    for name in list(names):
        names |= set(api["types"].get(name, {}).get("subtypes", []))
    return {n for n in names if n in api["types"]}


def build_subset(api: dict) -> dict:
    missing = [m for m in IMPLEMENTED_METHODS if m not in api["methods"]]
    if missing:
        raise SystemExit(f"methods missing from the API description: {missing}")
    type_names = parameter_types(api, IMPLEMENTED_METHODS) | produced_types(api, IMPLEMENTED_METHODS)
    return {
        "version": api.get("version", ""),
        "methods": {
            m: {
                "fields": slim_fields(api["methods"][m].get("fields", [])),
                "returns": api["methods"][m].get("returns", []),
            }
            for m in IMPLEMENTED_METHODS
        },
        "types": {name: slim_type(api["types"][name]) for name in sorted(type_names)},
    }


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    subset = build_subset(json.loads(source.read_text(encoding="utf-8")))
    SUBSET_PATH.write_text(json.dumps(subset, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(subset['methods'])} methods and {len(subset['types'])} types to {SUBSET_PATH}")


if __name__ == "__main__":
    main()
