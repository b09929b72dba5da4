"""A plain `pip install .` (a wheel, not an editable checkout) carries the default messages and finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aftercare_bot.config import SHIPPED_MESSAGES_DIR, default_messages_dir
from tests.support.paths import ROOT

REPO = ROOT
PACKAGED = "aftercare_bot/bundled_messages"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # The build backend comes from the test extras, so the build needs no network and no fresh environment.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True, capture_output=True, cwd=out,
    )
    (built,) = out.glob("aftercare_bot-*.whl")
    return built


def test_wheel_carries_every_message_file_unchanged(wheel: Path) -> None:
    sources = [p for p in (REPO / "messages").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert any(p.parent.name == "plans" for p in sources)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for source in sources:
            packaged = f"{PACKAGED}/{source.relative_to(REPO / 'messages').as_posix()}"
            assert packaged in names, f"{packaged} is missing from {wheel.name}"
            assert archive.read(packaged) == source.read_bytes()
        # The migrations and the sandbox page are data files too; `run` and `sandbox` fail without them.
        assert "aftercare_bot/migrations/env.py" in names
        assert "aftercare_bot/sandbox/emulator/static/index.html" in names
        assert not any(n.startswith("messages/") for n in names)


def test_installed_wheel_reads_its_packaged_messages(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    # The installed copy must shadow this checkout's package; cwd is outside the checkout for the same reason.
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("MESSAGES_DIR", None)
    probe = "import aftercare_bot.config as c; print(c.__file__); print(c.SHIPPED_MESSAGES_DIR)"
    result = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=env, cwd=tmp_path
    )
    module_file, messages_dir = result.stdout.split()
    assert Path(module_file).is_relative_to(site)
    assert Path(messages_dir) == site / PACKAGED
    check = subprocess.run(
        [sys.executable, "-m", "aftercare_bot", "plan", "check"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_checkout_uses_its_top_level_messages_folder() -> None:
    assert REPO / "messages" == SHIPPED_MESSAGES_DIR


def test_default_directory_resolution(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "aftercare_bot").mkdir(parents=True)
    (checkout / "messages" / "plans").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\n")
    assert default_messages_dir(checkout / "aftercare_bot") == checkout / "messages"

    # Installed: a stray messages/ beside the package in site-packages is not the clinic's folder.
    site = tmp_path / "site-packages"
    (site / "aftercare_bot" / "bundled_messages" / "plans").mkdir(parents=True)
    (site / "messages" / "plans").mkdir(parents=True)
    assert default_messages_dir(site / "aftercare_bot") == site / "aftercare_bot" / "bundled_messages"

    # A checkout whose messages/ lost its plans falls back to the packaged copy rather than an empty folder.
    (checkout / "messages" / "plans").rmdir()
    assert default_messages_dir(checkout / "aftercare_bot") == checkout / "aftercare_bot" / "bundled_messages"
