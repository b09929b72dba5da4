"""Plans edited from Telegram, without Telegram: drafts, revisions, history, restore, and enrolled clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from aftercare_bot.db.models import Delivery, DeliveryState, PlanDraft, PlanRevision
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import plan_revisions
from aftercare_bot.plans import editing
from aftercare_bot.plans.changes import ChangeRefused, check_text
from aftercare_bot.plans.editing import Actor
from aftercare_bot.texts.catalog import Texts
from tests.support.paths import ROOT

TEXTS = Texts.load(ROOT / "messages" / "texts")

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)  # a Tuesday; Europe/London is on UTC in January
ADMIN = Actor(900001, "Alex")
OTHER_ADMIN = Actor(900003, "Sam")
PLAN = "microneedling"
# same_evening tells clients about warning signs: its texts must keep the clinic's phone and urgent-care advice.
EVENING = "Evening {first_name}: for bleeding call {clinic_phone}; for difficulty breathing call emergency services."


async def change(rig, actor: Actor = ADMIN, **fields) -> editing.Saved:  # type: ignore[no-untyped-def]
    """Prepare a change as an admin would, then confirm it."""
    services = rig.services
    async with services.session_factory.begin() as session:
        prepared = await editing.prepare(
            session, services.catalog, {"treatment": PLAN, **fields}, actor=actor, now=rig.clock.now()
        )
    return await editing.confirm(
        services.session_factory,
        services.catalog,
        prepared.draft,
        actor=actor,
        now=rig.clock.now(),
        settings=services.settings,
    )


async def deliveries(rig, step_key: str | None = None) -> list[Delivery]:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        query = select(Delivery).order_by(Delivery.id)
        if step_key:
            query = query.where(Delivery.step_key == step_key)
        return list((await session.scalars(query)).all())


async def test_a_confirmed_text_is_a_new_revision_used_for_the_next_message(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    saved = await change(rig, op="text", step="same_evening", language="en", text=EVENING)
    assert saved.revision == 1
    assert rig.services.catalog.revision(PLAN) == 1
    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()
    phone = rig.services.settings.clinic_phone
    assert [m.html for m in rig.sender.sent] == [EVENING.format(first_name="Ann", clinic_phone=phone)]
    [evening] = await deliveries(rig, "same_evening")
    assert evening.plan_revision == 1, "the message records the template version it used"
    async with rig.services.session_factory() as session:
        row = await session.scalar(select(PlanRevision))
    assert (row.created_by, row.created_by_name, row.note) == (ADMIN.user_id, "Alex", "text same_evening en")
    assert SESSION <= row.created_at <= rig.clock.now()


async def test_history_lists_each_version_of_a_text_and_restore_brings_one_back(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    original = rig.services.catalog.get(PLAN).step("day2_sun").text("en")
    await change(rig, op="text", step="day2_sun", language="en", text="Second version")
    await change(rig, op="timing", step="day2_sun", due="day 2 at 11:00")  # not a text change
    await change(rig, OTHER_ADMIN, op="text", step="day2_sun", language="en", text="Third version")
    services = rig.services
    async with services.session_factory() as session:
        versions = await editing.history(session, services.catalog, PLAN, "day2_sun", "en")
    assert [(v.revision, v.text, v.by_name) for v in versions] == [
        (0, original, ""),
        (1, "Second version", "Alex"),
        (3, "Third version", "Sam"),
    ]

    async with services.session_factory() as session:
        restore = await editing.restore_change(session, services.catalog, PLAN, "day2_sun", "en", 0)
    saved = await change(rig, **{k: v for k, v in restore.items() if k != "treatment"})
    assert saved.revision == 4
    assert services.catalog.get(PLAN).step("day2_sun").text("en") == original
    assert services.catalog.get(PLAN).step("day2_sun").due.describe() == "day 2 at 11:00", "timing kept"
    async with services.session_factory() as session:
        versions = await editing.history(session, services.catalog, PLAN, "day2_sun", "en")
        with pytest.raises(ChangeRefused):
            await editing.restore_change(session, services.catalog, PLAN, "day2_sun", "en", 2)
    assert [v.revision for v in versions] == [0, 1, 3, 4]


async def test_a_timing_change_moves_waiting_messages_only(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()  # the evening message is sent
    saved = await change(rig, op="timing", step="same_evening", due="2h")
    assert saved.rollout.moved == 0
    [evening] = await deliveries(rig, "same_evening")
    assert evening.state == DeliveryState.SENT and evening.due_at == SESSION + timedelta(hours=4)

    saved = await change(rig, op="timing", step="day1_checkin", due="day 1 at 15:30")
    assert saved.rollout.moved == 1
    [checkin] = await deliveries(rig, "day1_checkin")
    assert checkin.due_at == checkin.send_at == datetime(2026, 1, 14, 15, 30, tzinfo=UTC)
    assert checkin.expires_at == checkin.due_at + timedelta(hours=8)

    saved = await change(rig, op="grace", step="day1_checkin", grace="2h")
    [checkin] = await deliveries(rig, "day1_checkin")
    assert saved.rollout.moved == 1 and checkin.expires_at == checkin.due_at + timedelta(hours=2)


async def test_a_step_moved_into_the_past_beyond_its_grace_is_skipped(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    rig.clock.set(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    saved = await change(rig, op="timing", step="day2_sun", due="day 1 at 10:00")
    assert (saved.rollout.moved, saved.rollout.skipped) == (0, 1)
    [sun] = await deliveries(rig, "day2_sun")
    assert sun.state == DeliveryState.SKIPPED


async def test_turning_a_step_off_and_on_again(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    saved = await change(rig, op="enabled", step="day2_sun", enabled=False)
    assert saved.rollout.cancelled == 1
    assert [d.state for d in await deliveries(rig, "day2_sun")] == [DeliveryState.CANCELLED]

    saved = await change(rig, op="enabled", step="day2_sun", enabled=True)
    assert saved.rollout.created == 1
    assert [d.state for d in await deliveries(rig, "day2_sun")] == [
        DeliveryState.CANCELLED,
        DeliveryState.PENDING,
    ]
    rig.clock.set(datetime(2026, 1, 15, 10, 0, 1, tzinfo=UTC))
    await rig.dispatcher.run_due()
    assert sum("sensitive to the sun" in m.html for m in rig.sender.sent) == 1

    # Sent already: turning it off and on again does not send it twice.
    await change(rig, op="enabled", step="day2_sun", enabled=False)
    saved = await change(rig, op="enabled", step="day2_sun", enabled=True)
    assert saved.rollout.created == 0


async def test_turning_on_a_step_whose_grace_has_passed_schedules_nothing(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    await change(rig, op="enabled", step="day1_checkin", enabled=False)
    rig.clock.set(datetime(2026, 1, 14, 18, 0, 1, tzinfo=UTC))  # day 1 at 10:00 + 8h grace are over
    saved = await change(rig, op="enabled", step="day1_checkin", enabled=True)
    assert saved.rollout.created == 0


async def test_a_step_turned_off_while_waiting_in_the_queue_is_not_sent(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    # Another replica turned it off; this one's catalog already has the change but the row is still waiting.
    from aftercare_bot.plans.documents import plan_to_document, read_document

    document = plan_to_document(rig.services.catalog.get(PLAN))
    [day1] = [step for step in document["steps"] if step["key"] == "day1_checkin"]
    day1["enabled"] = False
    plan, _ = read_document(document)
    rig.services.catalog.replace(plan, 7)
    rig.clock.set(datetime(2026, 1, 14, 10, 0, 1, tzinfo=UTC))
    report = await rig.dispatcher.run_due()
    assert report.cancelled == 1 and rig.sender.sent == []


async def test_an_added_step_reaches_clients_already_enrolled(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann", session_at=SESSION)
    await rig.enrol(5002, "Bo", session_at=SESSION - timedelta(days=20))  # too late for a day-1 step
    saved = await change(
        rig,
        op="add_step",
        step="day1_evening",
        due="day 1 at 19:00",
        grace="4h",
        text="Evening {first_name}!",
    )
    assert saved.rollout.created == 1
    [row] = await deliveries(rig, "day1_evening")
    assert row.client_id == 1 and row.due_at == datetime(2026, 1, 14, 19, 0, tzinfo=UTC)
    rig.clock.set(datetime(2026, 1, 14, 19, 0, 1, tzinfo=UTC))
    await rig.dispatcher.run_due()
    assert "Evening Ann!" in [m.html for m in rig.sender.sent]
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="add_step", step="day1_evening", due="1d", grace="4h", text="again")
    assert refused.value.key == "admin_key_taken"


async def test_a_plan_copied_for_a_new_treatment_is_used_for_new_enrolments(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    services = rig.services
    saved = await change(rig, op="copy_plan", source=PLAN, **{"treatment": "peel"}, title="Chemical peel")
    assert saved.revision == 1 and services.catalog.get("peel").title["en"] == "Chemical peel"
    assert services.catalog.treatments() == ["microneedling", "peel"]
    accepted = await rig.enrol(treatment="peel", session_at=SESSION)
    assert accepted.scheduled == 6
    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()
    [delivery] = [d for d in await deliveries(rig) if d.state == DeliveryState.SENT]
    assert delivery.plan_revision == 1
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="copy_plan", source=PLAN, **{"treatment": "peel"}, title="Again")
    assert refused.value.key == "admin_key_taken"


async def test_drafts_belong_to_their_author_and_are_used_once(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    services = rig.services
    async with services.session_factory.begin() as session:
        prepared = await editing.prepare(
            session,
            services.catalog,
            {"op": "text", "treatment": PLAN, "step": "day2_sun", "language": "en", "text": "Sun!"},
            actor=ADMIN,
            now=rig.clock.now(),
        )

    async def confirm(actor: Actor, now: datetime) -> editing.Saved:
        return await editing.confirm(
            services.session_factory,
            services.catalog,
            prepared.draft,
            actor=actor,
            now=now,
            settings=services.settings,
        )

    with pytest.raises(ChangeRefused):
        await confirm(OTHER_ADMIN, rig.clock.now())
    with pytest.raises(ChangeRefused):
        await confirm(ADMIN, rig.clock.now() + timedelta(days=2))
    assert (await confirm(ADMIN, rig.clock.now())).revision == 1
    with pytest.raises(ChangeRefused):
        await confirm(ADMIN, rig.clock.now())
    async with services.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(PlanRevision)) == 1


async def test_an_invalid_plan_is_refused_with_the_plan_check_explanation(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="text", step="day2_sun", language="en", text="Hi {frist_name}")
    assert refused.value.key == "admin_plan_invalid"
    explained = TEXTS.get(refused.value.key, "en", **refused.value.values)
    assert "step 'day2_sun', text 'en': unknown placeholder {frist_name} — did you mean {first_name}?" in explained
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="text", step="day2_sun", language="de", text="Hallo")
    assert refused.value.key == "admin_language_needs_title"
    saved = await change(
        rig, op="text", step="day2_sun", language="de", text="Hallo {first_name}", title="Microneedling"
    )
    assert saved.plan.languages == ("de", "en", "ru")
    assert saved.plan.step("day2_sun").text("de") == "Hallo {first_name}"
    assert saved.plan.step("day3_warning_signs").text("de").startswith("Hello"), "falls back to English"


async def test_another_replica_picks_up_a_revision_at_its_next_refresh(make_settings, rigs) -> None:
    settings = make_settings()
    first, second = rigs(settings, SESSION, "a"), rigs(settings, SESSION, "b")
    await change(first, op="text", step="day2_sun", language="en", text="From the first replica")
    assert second.services.catalog.revision(PLAN) is None
    assert await editing.refresh(second.services.session_factory, second.services.catalog) == [PLAN]
    assert second.services.catalog.get(PLAN).step("day2_sun").text("en") == "From the first replica"
    assert await editing.refresh(second.services.session_factory, second.services.catalog) == []

    # The dispatcher's pass looks at most every few seconds.
    catalog = second.services.catalog
    await change(first, op="text", step="day2_sun", language="en", text="Second edit")
    assert await editing.refresh_now_and_then(second.services.session_factory, catalog) == [PLAN]
    await change(first, op="text", step="day2_sun", language="en", text="Third edit")
    assert await editing.refresh_now_and_then(second.services.session_factory, catalog) == []
    catalog.refreshed_at -= editing.REFRESH_EVERY
    assert await editing.refresh_now_and_then(second.services.session_factory, catalog) == [PLAN]
    assert catalog.get(PLAN).step("day2_sun").text("en") == "Third edit" and catalog.revision(PLAN) == 3


async def test_a_stored_revision_that_no_longer_passes_the_checks_is_ignored(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    from aftercare_bot.plans.documents import plan_to_document

    document = plan_to_document(rig.services.catalog.get(PLAN))
    document["steps"][0]["text"]["en"] = "{unknown_placeholder}"
    async with rig.services.session_factory.begin() as session:
        await plan_revisions.add(session, treatment=PLAN, revision=1, document=document, note="",
                                 created_by=None, created_by_name="", now=SESSION)
    assert await editing.refresh(rig.services.session_factory, rig.services.catalog) == []
    assert rig.services.catalog.revision(PLAN) is None
    assert "{unknown_placeholder}" not in rig.services.catalog.get(PLAN).step("same_evening").text("en")


def test_text_checks_explain_what_to_fix() -> None:
    assert check_text("Hello {first_name}, <b>welcome</b>").ok
    assert check_text("  \n ").empty
    [problem] = check_text("Hello {frist_name}").problems
    assert "did you mean {first_name}?" in TEXTS.describe(problem)
    [problem] = check_text("Hello <b>{first_name}").problems
    assert TEXTS.describe(problem) == "Line 1: the tag <b> is never closed — add </b> after the bold words"
    assert check_text("{first_name.__class__}").problems
    assert check_text("{first_name} " + "x" * 4070).too_long
    assert check_text("Al " + "x" * 4000).ok


# --- warning-sign steps ------------------------------------------------------------------------------


async def revisions_count(rig) -> int:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        return await session.scalar(select(func.count()).select_from(PlanRevision))


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("Evening {first_name}! Any questions, just write.", {"no_clinic_phone", "no_urgent_care"}),
        ("Evening {first_name}! Questions? {clinic_phone}", {"no_urgent_care"}),
        ("Evening {first_name}! If breathing is hard, call emergency services.", {"no_clinic_phone"}),
    ],
)
async def test_a_warning_sign_text_without_phone_or_advice_is_refused_kindly(
    make_settings, rigs, text: str, missing: set[str]
) -> None:
    rig = rigs(make_settings(), SESSION)
    before = rig.services.catalog.get(PLAN)
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="text", step="same_evening", language="en", text=text)
    assert refused.value.key == "admin_warning_text_refused"
    found = {p.values["problem"].key.removeprefix("problem_safety_") for p in refused.value.values["problems"]}
    assert found == missing
    explained = TEXTS.label(refused.value.key, "en", **refused.value.values)
    assert explained.startswith("Sorry, this can't be saved: this message tells clients about warning signs")
    assert "step 'same_evening', text 'en': this message tells clients about warning signs" in explained
    assert "Nothing was changed." in explained and "{clinic_phone}" in explained
    assert rig.services.catalog.get(PLAN) is before and await revisions_count(rig) == 0


async def test_a_translation_of_a_warning_sign_step_must_keep_them_too(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    fields = {"op": "text", "step": "day3_warning_signs", "language": "de", "title": "Microneedling"}
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, **fields, text="Hallo {first_name}, bei Fragen: {clinic_phone}")
    assert refused.value.key == "admin_warning_text_refused"
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, **fields | {"language": "fi"}, text="Soita {clinic_phone} tai 112")
    [unchecked] = refused.value.values["problems"]
    assert unchecked.values["problem"].key == "problem_safety_language_unchecked"
    saved = await change(rig, **fields, text="Hallo {first_name}: {clinic_phone}, im Notfall den Notruf 112.")
    assert saved.plan.step("day3_warning_signs").warning_signs is True


async def test_restoring_a_version_is_held_to_the_same_checks(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    # A revision saved before the mark existed: same_evening without the mark and without the clinic's phone.
    from aftercare_bot.plans.documents import plan_to_document

    document = plan_to_document(rig.services.catalog.get(PLAN))
    document["steps"][0]["text"]["en"] = "Evening {first_name}, call emergency services if in doubt."
    for step in document["steps"]:
        del step["warning_signs"]
    async with rig.services.session_factory.begin() as session:
        await plan_revisions.add(session, treatment=PLAN, revision=1, document=document, note="",
                                 created_by=None, created_by_name="", now=SESSION)
    # It is not put in force: the step is still marked by the plan file, so its text must keep the phone.
    assert await editing.refresh(rig.services.session_factory, rig.services.catalog) == []
    assert rig.services.catalog.revision(PLAN) is None
    # Nor can it be restored, and no other change is saved on top of it until the text is fixed.
    async with rig.services.session_factory() as session:
        restore = await editing.restore_change(session, rig.services.catalog, PLAN, "same_evening", "en", 1)
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, **restore)
    assert refused.value.key == "admin_warning_text_refused"
    saved = await change(rig, op="text", step="same_evening", language="en", text=EVENING)
    assert saved.revision == 2 and saved.plan.step("same_evening").warning_signs is True


async def test_a_copied_plan_keeps_its_warning_sign_marks(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    saved = await change(rig, op="copy_plan", source=PLAN, **{"treatment": "peel"}, title="Chemical peel")
    marked = {step.key for step in saved.plan.steps if step.warning_signs}
    assert marked == {"same_evening", "day3_warning_signs", "day7_checkin"}
    with pytest.raises(ChangeRefused):
        await change(rig, op="text", step="day7_checkin", language="en", text="How are you?", treatment="peel")


# --- warning-sign steps stay on ----------------------------------------------------------------------------


async def drafts_count(rig) -> int:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        return await session.scalar(select(func.count()).select_from(PlanDraft))


@pytest.mark.parametrize("step", ["same_evening", "day3_warning_signs", "day7_checkin"])
async def test_a_warning_sign_step_cannot_be_turned_off(make_settings, rigs, step: str) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(session_at=SESSION)
    before = rig.services.catalog.get(PLAN)
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="enabled", step=step, enabled=False)
    assert (refused.value.key, refused.value.values) == ("admin_warning_step_stays_on", {"step": step})
    explained = TEXTS.get(refused.value.key, "en", **refused.value.values)
    assert explained.startswith(f"Sorry, <b>{step}</b> can't be turned off: it tells clients the warning signs")
    assert "Nothing was changed." in explained and "{clinic_phone}" in explained
    assert rig.services.catalog.get(PLAN) is before
    assert await revisions_count(rig) == 0 and await drafts_count(rig) == 0, "not even a draft is kept"
    assert [d.state for d in await deliveries(rig, step)] == [DeliveryState.PENDING]
    # Everything else about it can still change.
    saved = await change(rig, op="timing", step=step, due="day 3 at 11:00")
    assert saved.plan.step(step).enabled and saved.plan.step(step).warning_signs


async def test_a_draft_to_turn_one_off_is_refused_when_saved(make_settings, rigs) -> None:
    # A draft kept from before warning-sign steps had to stay on: pressing its Save changes nothing.
    rig = rigs(make_settings(), SESSION)
    services = rig.services
    async with services.session_factory.begin() as session:
        draft = await plan_revisions.add_draft(
            session,
            user_id=ADMIN.user_id,
            treatment=PLAN,
            change={"op": "enabled", "treatment": PLAN, "step": "day3_warning_signs", "enabled": False},
            now=rig.clock.now(),
        )
    with pytest.raises(ChangeRefused) as refused:
        await editing.confirm(
            services.session_factory,
            services.catalog,
            RowRef.of(draft),
            actor=ADMIN,
            now=rig.clock.now(),
            settings=services.settings,
        )
    assert refused.value.key == "admin_warning_step_stays_on"
    assert await revisions_count(rig) == 0 and services.catalog.get(PLAN).step("day3_warning_signs").enabled


async def test_a_copied_plan_keeps_its_warning_sign_steps_on(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await change(rig, op="copy_plan", source=PLAN, **{"treatment": "peel"}, title="Chemical peel")
    copied = rig.services.catalog.get("peel")
    assert {s.key for s in copied.steps if s.warning_signs} == {"same_evening", "day3_warning_signs", "day7_checkin"}
    with pytest.raises(ChangeRefused) as refused:
        await change(rig, op="enabled", **{"treatment": "peel"}, step="day7_checkin", enabled=False)
    assert refused.value.key == "admin_warning_step_stays_on"


async def test_a_revision_saved_with_a_warning_sign_step_off_is_used_with_it_on(
    make_settings, rigs, caplog: pytest.LogCaptureFixture
) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann", session_at=SESSION)
    from aftercare_bot.plans.documents import plan_to_document

    # Saved when turning it off was still possible: day 3 off (its message cancelled), and a new day-2 text.
    document = plan_to_document(rig.services.catalog.get(PLAN))
    for step in document["steps"]:
        if step["key"] == "day3_warning_signs":
            step["enabled"] = False
        if step["key"] == "day2_sun":
            step["text"]["en"] = "Sun cream, {first_name}!"
    async with rig.services.session_factory.begin() as session:
        await plan_revisions.add(session, treatment=PLAN, revision=1, document=document,
                                 note="enabled day3_warning_signs off", created_by=ADMIN.user_id,
                                 created_by_name="Alex", now=SESSION)
        await session.execute(
            update(Delivery).where(Delivery.step_key == "day3_warning_signs").values(state=DeliveryState.CANCELLED)
        )

    assert await editing.refresh(rig.services.session_factory, rig.services.catalog) == [PLAN]
    in_force = rig.services.catalog.get(PLAN)
    assert rig.services.catalog.revision(PLAN) == 1, "the clinic's other edits are kept"
    assert in_force.step("day2_sun").text("en") == "Sun cream, {first_name}!"
    assert in_force.step("day3_warning_signs").enabled is True
    assert "warning-sign step(s) day3_warning_signs turned off; they are kept on" in caplog.text

    bo = await rig.enrol(5002, "Bo", session_at=SESSION)
    assert bo.scheduled == 6, "clients enrolled from now on get it"
    # The next saved change puts it back into the plans of the clients already enrolled.
    saved = await change(rig, op="grace", step="week6_results", grace="4d")
    assert saved.rollout.created == 1
    assert sorted(d.state for d in await deliveries(rig, "day3_warning_signs")) == sorted(
        [DeliveryState.CANCELLED, DeliveryState.PENDING, DeliveryState.PENDING]
    )
    async with rig.services.session_factory() as session:
        stored = await session.scalar(select(PlanRevision).where(PlanRevision.revision == 2))
    assert next(s for s in stored.document["steps"] if s["key"] == "day3_warning_signs")["enabled"] is True
