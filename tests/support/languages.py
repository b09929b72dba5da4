"""A copy of the shipped messages/ with a small second language, for tests of how languages are chosen and used.

French is used because the safety checks know its urgent-care words; only a few texts are written in it, the
rest fall back to English as they would for a clinic part-way through a translation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aftercare_bot.config import SHIPPED_MESSAGES_DIR

FRENCH = {
    "language_name": "Français",
    "language_choose": "Dans quelle langue dois-je vous écrire ? Maintenant : {language}.",
    "language_unknown": "Désolé, je ne sais pas écrire en « {language} ». Choisissez l'une de ces langues :",
    "language_chosen": "C'est fait — je vous écrirai désormais en {language}.",
    "help": "Aide de {clinic_name}. Appelez la clinique au {clinic_phone}. En cas d'urgence, appelez le 15.",
    "esc_safety_urgent": "⚠️ Appelez {clinic_name} au {clinic_phone}. Si vous avez du mal à respirer, appelez le 15.",
    "checkin_button_ok": "🙂 Comme prévu",
    "checkin_button_worried": "😟 Quelque chose m'inquiète",
    "checkin_button_urgent": "🚨 Saignement, pus, fièvre",
    "esc_card_header_urgent": "🚨 <b>URGENT — signe d'alerte possible</b> (cas #{number})",
    "report_title": "Les soins à {clinic_name} : {start} – {end}",
    "menu_help": "Qu'est-ce que c'est, et comment joindre la clinique",
    "menu_language": "Choisir la langue des messages",
    "bot_description": "Les conseils de {clinic_name} après votre soin.",
    "unknown_command": "Désolé, je ne connais pas cette commande.",
    "button_not_understood": "Désolé, ce bouton n'est plus valable.",
}


def messages_with_french(folder: Path) -> Path:
    """`folder`/messages: the shipped plans, English texts and triage rules, plus texts/fr with FRENCH."""
    target = folder / "messages"
    # English alone besides: the tests know which languages there are, whatever others the clinic ships.
    shutil.copytree(SHIPPED_MESSAGES_DIR / "plans", target / "plans")
    shutil.copytree(SHIPPED_MESSAGES_DIR / "texts" / "en", target / "texts" / "en")
    (target / "triage").mkdir()
    shutil.copy(SHIPPED_MESSAGES_DIR / "triage" / "en.yaml", target / "triage" / "en.yaml")
    lines = [f"{key}: {_quoted(text)}" for key, text in FRENCH.items()]
    (target / "texts" / "fr").mkdir()
    (target / "texts" / "fr" / "client.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
