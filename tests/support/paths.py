"""Where things are, however deep the test that asks."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: pyproject.toml, messages/, tools/
DATA = Path(__file__).resolve().parent / "data"  # data the tests read, such as the triage corpus
