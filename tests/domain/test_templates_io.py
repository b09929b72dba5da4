"""`templates export` and `templates import`: files and database agree, and imports are all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare_bot.cli import main
from aftercare_bot.db.models import PlanRevision
from aftercare_bot.plans import editing, templates_io
from aftercare_bot.plans.editing import Actor
from aftercare_bot.plans.model import check_plans
from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.problem_reports import describe
from tests.support.paths import ROOT

TEXTS = Texts.load(ROOT / "messages" / "texts")
SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)
ADMIN = Actor(900001, "Alex")


async def edit(rig, change: dict) -> None:  # type: ignore[no-untyped-def]
    services = rig.services
    async with services.session_factory.begin() as session:
        prepared = await editing.prepare(
            session, services.catalog, change, actor=ADMIN, now=rig.clock.now()
        )
    await editing.confirm(
        services.session_factory,
        services.catalog,
        prepared.draft,
        actor=ADMIN,
        now=rig.clock.now(),
        settings=services.settings,
    )


async def revisions(rig) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        rows = await session.scalars(select(PlanRevision).order_by(PlanRevision.id))
        return [(row.treatment, row.revision, row.note) for row in rows]


async def export(rig, folder: Path) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    written = await templates_io.export_plans(rig.services.session_factory, rig.services.catalog, folder)
    return {path.name: path.read_bytes() for path in sorted(written)}


async def import_(rig, folder: Path) -> templates_io.ImportReport:  # type: ignore[no-untyped-def]
    return await templates_io.import_plans(
        rig.services.session_factory,
        rig.services.catalog,
        folder,
        settings=rig.services.settings,
        now=rig.clock.now(),
    )


async def test_export_then_import_changes_nothing_and_exports_the_same_bytes(
    make_settings, rigs, tmp_path
) -> None:
    rig = rigs(make_settings(), SESSION)
    text = "Line one\n\n<b>Line</b> three: {first_name}   \nwith 'quotes' &amp; \"more\""
    await edit(
        rig, {"op": "text", "treatment": "microneedling", "step": "day2_sun", "language": "en", "text": text}
    )
    await edit(
        rig, {"op": "copy_plan", "treatment": "peel", "source": "microneedling", "title": "Peel: light"}
    )
    await edit(rig, {"op": "enabled", "treatment": "peel", "step": "day2_sun", "enabled": False})
    before = await revisions(rig)

    first = await export(rig, tmp_path / "one")
    assert sorted(first) == ["microneedling.yaml", "peel.yaml"]
    assert check_plans(tmp_path / "one") == [], "an export passes `plan check`"
    report = await import_(rig, tmp_path / "one")
    assert report.errors == [] and report.saved == {} and report.unchanged == ["microneedling", "peel"]
    assert await revisions(rig) == before
    assert await export(rig, tmp_path / "two") == first, "export -> import -> export is byte-identical"
    assert b"enabled: false" in first["peel.yaml"]


async def test_import_saves_one_revision_per_changed_plan(make_settings, rigs, tmp_path) -> None:
    rig = rigs(make_settings(), SESSION)
    await edit(
        rig, {"op": "copy_plan", "treatment": "peel", "source": "microneedling", "title": "Chemical peel"}
    )
    files = tmp_path / "plans"
    await export(rig, files)
    peel = (files / "peel.yaml").read_text()
    (files / "peel.yaml").write_text(peel.replace("due: 4h", "due: 5h"))
    (files / "new_one.yaml").write_text(peel.replace("treatment: peel", "treatment: new_one"))
    report = await import_(rig, files)
    assert report.saved == {"peel": 2, "new_one": 1} and report.unchanged == ["microneedling"]
    assert rig.services.catalog.get("peel").step("same_evening").due.describe() == "5h"
    assert rig.services.catalog.get("new_one") is not None
    assert [r for r in await revisions(rig) if r[2].startswith("import")] == [
        ("new_one", 1, "import new_one.yaml"),
        ("peel", 2, "import peel.yaml"),
    ]


async def test_import_is_all_or_nothing(make_settings, rigs, tmp_path) -> None:
    rig = rigs(make_settings(), SESSION)
    files = tmp_path / "plans"
    await export(rig, files)
    good = (files / "microneedling.yaml").read_text()
    (files / "microneedling.yaml").write_text(good.replace("due: 4h", "due: 6h"))
    (files / "broken.yaml").write_text(
        good.replace("treatment: microneedling", "treatment: broken").replace(
            "{first_name}", "{frist_name}", 1
        )
    )
    report = await import_(rig, files)
    assert report.saved == {}
    assert any("did you mean {first_name}?" in describe(error, TEXTS) for error in report.errors)
    assert await revisions(rig) == []
    assert rig.services.catalog.get("microneedling").step("same_evening").due.describe() == "4h"


async def test_import_refuses_warning_sign_texts_without_phone_or_advice(make_settings, rigs, tmp_path) -> None:
    rig = rigs(make_settings(), SESSION)
    files = tmp_path / "plans"
    await export(rig, files)
    good = (files / "microneedling.yaml").read_text()
    assert good.count("warning_signs: true") == 3, "the export keeps the marks"
    (files / "microneedling.yaml").write_text(
        good.replace("due: 4h", "due: 6h").replace("<b>Contact us at once on {clinic_phone}</b>", "Contact us")
    )
    report = await import_(rig, files)
    assert report.saved == {} and await revisions(rig) == []
    [error] = [describe(error, TEXTS) for error in report.errors]
    line = next(n for n, text in enumerate(good.splitlines(), 1) if "it is three days since" in text)
    assert error.startswith(
        f"plans/microneedling.yaml:{line}: step 'day3_warning_signs', text 'en': this message tells clients"
        " about warning signs, so it must always say how to reach the clinic — keep {clinic_phone} in it"
    )


async def test_import_cannot_take_the_warning_sign_mark_off_a_step(make_settings, rigs, tmp_path) -> None:
    rig = rigs(make_settings(), SESSION)
    files = tmp_path / "plans"
    await export(rig, files)
    good = (files / "microneedling.yaml").read_text()
    without_mark = good.replace("    warning_signs: true\n", "", 1)  # same_evening
    (files / "microneedling.yaml").write_text(without_mark.replace("{clinic_phone}", "us", 2))  # both in same_evening
    report = await import_(rig, files)
    assert report.saved == {} and await revisions(rig) == []
    [error] = [describe(error, TEXTS) for error in report.errors]
    line = next(n for n, text in enumerate(good.splitlines(), 1) if "key: same_evening" in text)
    assert error.startswith(f"plans/microneedling.yaml:{line}: step 'same_evening' tells clients about warning signs")
    assert "keep the line warning_signs: true in it" in error


async def test_import_cannot_turn_a_warning_sign_step_off_nor_leave_it_out(make_settings, rigs, tmp_path) -> None:
    rig = rigs(make_settings(), SESSION)
    await edit(
        rig, {"op": "copy_plan", "treatment": "peel", "source": "microneedling", "title": "Chemical peel"}
    )
    before = await revisions(rig)
    files = tmp_path / "plans"
    await export(rig, files)
    good = (files / "microneedling.yaml").read_text()
    # An allowed change in the other plan, so that the import is seen to be all or nothing.
    (files / "peel.yaml").write_text((files / "peel.yaml").read_text().replace("due: 4h", "due: 5h"))
    day7 = good.index("  - key: day7_checkin")
    marked, marked_off = "    warning_signs: true\n", "    warning_signs: true\n    enabled: false\n"
    off = good[:day7] + good[day7:].replace(marked, marked_off, 1)
    (files / "microneedling.yaml").write_text(off)
    report = await import_(rig, files)
    assert report.saved == {} and await revisions(rig) == before
    line = next(n for n, text in enumerate(off.splitlines(), 1) if text == "    enabled: false")
    assert [describe(error, TEXTS) for error in report.errors] == [
        f"plans/microneedling.yaml:{line}: step 'day7_checkin' tells clients about warning signs"
        " (warning_signs: true), so it cannot be turned off — remove the line enabled: false; to change what it"
        " says, edit its text, keeping {clinic_phone} and the urgent-care advice"
    ]

    # Unmarked as well as off: the mark is what the plan in force asks for.
    (files / "microneedling.yaml").write_text(off.replace(marked_off, "    enabled: false\n"))
    report = await import_(rig, files)
    [error] = [describe(error, TEXTS) for error in report.errors]
    assert "step 'day7_checkin' tells clients about warning signs" in error and "keep the line warning_signs" in error

    # Left out of the file altogether.
    day3 = good.index("  - key: day3_warning_signs")
    (files / "microneedling.yaml").write_text(good[:day3] + good[good.index("  - key: day7_checkin") :])
    report = await import_(rig, files)
    assert [describe(error, TEXTS) for error in report.errors] == [
        "plans/microneedling.yaml: step 'day3_warning_signs' tells clients about warning signs (it is marked"
        " warning_signs: true in the plan in use) and is missing from this file — put it back, so that clients keep"
        " learning the warning signs, how to reach the clinic and when to seek urgent care"
    ]
    assert report.saved == {} and await revisions(rig) == before
    assert rig.services.catalog.get("peel").step("same_evening").due.describe() == "4h"


def test_the_command_line_exports_and_imports(make_settings, monkeypatch, tmp_path, capsys) -> None:
    settings = make_settings()
    for name, value in {
        "TELEGRAM_BOT_TOKEN": settings.telegram_bot_token.get_secret_value(),
        "DATABASE_URL": settings.database_url,
        "CLINIC_PHONE": settings.clinic_phone,
        "ADMIN_IDS": ",".join(str(i) for i in settings.admin_ids),
        "MESSAGES_DIR": str(settings.messages_dir),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["templates", "export", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "microneedling.yaml").is_file()
    text = (tmp_path / "out" / "microneedling.yaml").read_text()
    (tmp_path / "out" / "microneedling.yaml").write_text(text.replace("grace: 3d", "grace: 4d"))
    assert main(["templates", "import", str(tmp_path / "out")]) == 0
    assert "microneedling: saved as revision 1" in capsys.readouterr().out
    (tmp_path / "out" / "microneedling.yaml").write_text(text.replace("grace: 3d", "grase: 3d"))
    assert main(["templates", "import", str(tmp_path / "out")]) == 1
    output = capsys.readouterr().out
    assert "did you mean 'grace'?" in output and "Nothing was imported." in output
    (tmp_path / "out" / "microneedling.yaml").write_text(text.replace("call emergency services", "call us"))
    assert main(["templates", "import", str(tmp_path / "out")]) == 1
    output = capsys.readouterr().out
    assert "step 'same_evening', text 'en': this message tells clients about warning signs" in output
    assert "2 problems found" in output and "Nothing was imported." in output


@pytest.fixture(autouse=True)
def _quiet_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")


async def test_an_import_is_in_the_history_with_who_imported_and_from_which_file(
    make_settings, rigs, tmp_path
) -> None:
    rig = rigs(make_settings(), SESSION)
    folder = tmp_path / "plans"
    await export(rig, folder)
    source = folder / "microneedling.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("how is your skin today", "how is it"), "utf-8")
    await templates_io.import_plans(
        rig.services.session_factory, rig.services.catalog, folder, settings=rig.services.settings,
        now=rig.clock.now(), by="maria (command line import)",
    )
    async with rig.services.session_factory() as session:
        [change] = await editing.recent_changes(session)
    assert (change.op, change.detail, change.by_name) == ("import", "microneedling.yaml", "maria (command line import)")
    what = TEXTS.label("admin_note_import", "en", detail=change.detail)
    line = TEXTS.label("admin_recent_line", "en", at="", treatment=change.treatment, revision=change.revision,
                       name=change.by_name, what=what)
    assert "by maria (command line import): imported from the file microneedling.yaml" in line
