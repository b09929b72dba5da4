"""A client whose Telegram is in Spanish is asked, answered and cared for in Spanish."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from aftercare_bot.clock import ManualClock
from tests.support.fast_rig import FastRig

ANA_ID = 5001
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def rig(make_settings) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    rig.assert_healthy()
    await rig.stop()


async def test_consent_plan_messages_and_help_come_in_spanish(rig: FastRig) -> None:
    ana = await rig.enrol(ANA_ID, "Ana López", language="es-MX")
    texts = [message.plain_text or "" for message in rig.telegram.sent_messages(ana)]
    consent = next(text for text in texts if "¿Quieres recibir estos mensajes?" in text)
    assert "después de tu tratamiento de Microneedling" in consent
    assert "6 mensajes breves durante unas 6 semanas" in consent
    assert texts[-1].startswith("Gracias, ya está todo listo.")

    rig.clock.advance(timedelta(hours=5))
    await rig.run_due()
    evening = rig.last_bot_message(ana).plain_text or ""
    assert evening.startswith("Hola, Ana. Gracias por visitarnos hoy en Glow & Co <Clinic>.")
    assert "Llámanos enseguida al +44 20 7946 0000" in evening
    assert "llama a emergencias" in evening

    await rig.command(ana, "help")
    assert "llama a emergencias" in (rig.last_bot_message(ana).plain_text or "")
