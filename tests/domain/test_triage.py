"""Triage: the labelled corpora (recall of warning signs above all), negation, spelling, days, rule files."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage
from tests.support.paths import DATA, ROOT

TRIAGE_DIR = ROOT / "messages" / "triage"
# One labelled corpus per language that has rules: tests/support/data/triage_corpus_<lang>.yaml.
CORPORA = {
    lang: yaml.safe_load((DATA / f"triage_corpus_{lang}.yaml").read_text(encoding="utf-8"))
    for lang in ("en", "es", "ru")
}
URGENT, CONCERN, ROUTINE = TriageLevel.URGENT, TriageLevel.CONCERN, TriageLevel.ROUTINE


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    return TriageRules.load(TRIAGE_DIR)


def run(rules: TriageRules, text: str | None, day: int | None = 1, **kwargs: Any) -> TriageResult:
    return triage(rules, text, language="en", day_since_session=day, **kwargs)


def level(rules: TriageRules, text: str | None, day: int | None = 1, **kwargs: Any) -> TriageLevel:
    return run(rules, text, day, **kwargs).level


Outcome = tuple[dict[str, Any], TriageLevel, TriageResult]


@pytest.fixture(scope="module", params=sorted(CORPORA))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def outcomes(rules: TriageRules, language: str) -> list[Outcome]:
    """Every entry of the language's corpus with its expected level and what triage made of it."""
    return [
        (
            item,
            TriageLevel(item["level"]),
            triage(
                rules,
                item["text"],
                language=language,
                day_since_session=item["day"],
                has_photo=item.get("photo", False),
                has_media=item.get("media", False),
            ),
        )
        for item in CORPORA[language]
    ]


def describe(item: dict[str, Any], result: TriageResult) -> str:
    return f"  day {item['day']}: {item['text']!r} -> {result.level.value} {list(result.reasons)}"


# --- the labelled corpora ---------------------------------------------------------------------------------


def test_every_rule_file_has_a_corpus() -> None:
    assert sorted(CORPORA) == sorted(p.stem for p in TRIAGE_DIR.glob("*.yaml"))


def test_corpus_is_large_and_covers_every_level(language: str) -> None:
    corpus = CORPORA[language]
    counts = Counter(item["level"] for item in corpus)
    assert len(corpus) >= 240
    assert counts["urgent"] >= 90 and counts["concern"] >= 60 and counts["routine"] >= 40, counts
    repeated = [key for key, n in Counter((item["text"], item["day"]) for item in corpus).items() if n > 1]
    assert not repeated, f"duplicate corpus entries: {repeated}"


def test_every_urgent_message_is_caught(outcomes: list[Outcome]) -> None:
    misses = [
        describe(item, result)
        for item, expected, result in outcomes
        if expected is URGENT and result.level is not URGENT
    ]
    assert not misses, f"{len(misses)} warning sign(s) missed:\n" + "\n".join(misses)


def test_no_urgent_message_is_ever_routine(outcomes: list[Outcome]) -> None:
    routine = [
        describe(item, result)
        for item, expected, result in outcomes
        if expected is URGENT and result.level is ROUTINE
    ]
    assert not routine, "warning signs classified routine:\n" + "\n".join(routine)


def test_precision_recall_table_and_non_urgent_accuracy(
    outcomes: list[Outcome], language: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        f"triage corpus ({language}): {len(outcomes)} messages",
        f"{'level':<8} {'n':>4} {'precision':>10} {'recall':>8}",
    ]
    for lvl in (URGENT, CONCERN, ROUTINE):
        true_positive = sum(1 for _, expected, result in outcomes if expected is lvl and result.level is lvl)
        predicted = sum(1 for _, _, result in outcomes if result.level is lvl)
        actual = sum(1 for _, expected, _ in outcomes if expected is lvl)
        precision = true_positive / predicted if predicted else 1.0
        lines.append(f"{lvl.value:<8} {actual:>4} {precision:>10.1%} {true_positive / actual:>8.1%}")
    non_urgent = [(item, expected, result) for item, expected, result in outcomes if expected is not URGENT]
    correct = sum(1 for _, expected, result in non_urgent if result.level is expected)
    accuracy = correct / len(non_urgent)
    lines.append(f"non-urgent accuracy: {correct}/{len(non_urgent)} = {accuracy:.1%}")
    wrong = [
        describe(item, result) + f" (labelled {expected.value})"
        for item, expected, result in non_urgent
        if result.level is not expected
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines + wrong))
    assert accuracy >= 0.85, f"non-urgent accuracy {accuracy:.1%} is below 85%:\n" + "\n".join(wrong)


# --- negation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "no bleeding, just a bit pink",
        "not bleeding anymore",
        "no pus",
        "without fever",
        "I don't have a fever",
        "never had blisters",
        "it stopped bleeding",
        "the bleeding has stopped",
        "there isn't any swelling",
        "no fever or chills",
        "hasn't bled since",
    ],
)
def test_negated_warning_signs_are_not_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is not URGENT


@pytest.mark.parametrize(
    "text",
    [
        "no fever but it is bleeding a lot",
        "not sure but I think there's pus",
        "no pain the bleeding is heavy",
        "won't stop bleeding",
        "doesn't stop bleeding",
        "can't stop the bleeding",
        "bleeding hasn't stopped",
        "it never stopped bleeding",
        "I can't breathe",
        "isn't itchy, it's blistering",
        "no fever chills though",
        "I don't think it's infected",
        "no, it's bleeding",
    ],
)
def test_negation_does_not_reach_a_later_warning_sign(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is URGENT


def test_negated_acknowledgement_is_a_concern(rules: TriageRules) -> None:
    assert level(rules, "all good") is ROUTINE
    assert level(rules, "not good") is CONCERN
    assert level(rules, "it doesn't look normal") is CONCERN
    assert level(rules, "no problems") is ROUTINE


@pytest.mark.parametrize(
    "text",
    [
        "I feel dizzy and sick",
        "my face is numb",
        "HELP!!!",
        "help me",
        "🆘",
        "im freaking out",
        "cant feel my lip",
        "my vision has gone blurry",
        "feel like im going to faint",
        "its gushing blood",
        "my face is huge",
    ],
)
def test_systemic_signs_numbness_and_cries_for_help_are_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 0) is URGENT


@pytest.mark.parametrize(
    "text",
    [
        "thanks for all your help!",
        "can you help me choose a sunscreen?",
        "no help needed, all fine",
        "not numb anymore",
        "the numbness wore off after an hour",
        "no allergic reaction, the serum was fine",
        "i was panicking for nothing, it's calmed down",
        "huge thanks, my face looks great",
        "a bit dizzy",
    ],
)
def test_look_alikes_of_the_new_warning_signs_are_not_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 0) is not URGENT


# --- spelling, emoji, unicode -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "bleding",
        "bleedin",
        "bledding",
        "BLEEEEDING!!!",
        "puss",
        "feaver",
        "fevr",
        "blisterz",
        "swolen lips",
        "swollon eyes",
        "infecshun",
        "rashes",
        "hivez",
        "can't breath",
        "difficulty breathing",
        "shortness of breath",
        "Bleeding",
        "ＢＬＥＥＤＩＮＧ",
        "it’s infected",
        "🩸",
        "🤒",
        "🌡️",
        "infected.",
        "i can't BREATHE",
    ],
)
def test_misspellings_case_and_emoji_are_understood(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is URGENT


@pytest.mark.parametrize(
    "text", ["never had any problems", "fewer spots than last time 😊", "my sister lives nearby"]
)
def test_ordinary_words_are_not_misread_as_symptoms(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is not URGENT


@pytest.mark.parametrize(
    "text", ["👍", "👍🏽", "🙏", "😊", "❤️", "ok", "Thanks!", "all good", "fine", "as expected"]
)
def test_acknowledgements_are_routine(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 2) is ROUTINE


def test_reasons_name_the_sign_and_the_rule(rules: TriageRules) -> None:
    result = run(rules, "thanks, it's still bleeding", 0)
    assert result.level is URGENT
    assert any(r.startswith("red flag: bleeding") and "'bleeding'" in r for r in result.reasons), (
        result.reasons
    )
    assert result.reasons[0].startswith("red flag")
    assert "bleeding" in result.rule_ids and "acknowledgement" in result.rule_ids


# --- days -------------------------------------------------------------------------------------------------


def test_redness_is_expected_early_and_a_concern_later(rules: TriageRules) -> None:
    text = "a bit red like a sunburn, as you said"
    assert [level(rules, text, day) for day in (0, 1, 2, 3, 5)] == [
        ROUTINE,
        ROUTINE,
        ROUTINE,
        CONCERN,
        CONCERN,
    ]


def test_increasing_redness_is_urgent_after_day_2(rules: TriageRules) -> None:
    assert level(rules, "more red today", 1) is CONCERN
    assert level(rules, "more red today", 4) is URGENT
    assert level(rules, "the redness is getting worse", 1) is URGENT
    assert level(rules, "the redness is getting worse", 4) is URGENT


def test_unknown_day_counts_as_every_day(rules: TriageRules) -> None:
    assert level(rules, "a bit red", None) is CONCERN
    assert level(rules, "more red today", None) is URGENT
    assert level(rules, "thanks", None) is ROUTINE


# --- attachments, empty and unknown text, languages -------------------------------------------------------


def test_attachments_and_empty_messages(rules: TriageRules) -> None:
    assert level(rules, "", 1) is ROUTINE
    assert level(rules, None, 1) is ROUTINE
    assert level(rules, "   ", 1) is ROUTINE
    assert level(rules, "", 1, has_photo=True) is CONCERN
    assert level(rules, None, 1, has_media=True) is CONCERN
    assert level(rules, "thanks 👍", 1, has_photo=True) is CONCERN
    assert level(rules, "it's bleeding", 1, has_photo=True) is URGENT


def test_questions_and_unrecognised_text_are_concerns(rules: TriageRules) -> None:
    assert level(rules, "can I wear makeup tomorrow") is CONCERN
    assert level(rules, "all good?") is CONCERN
    assert level(rules, "hmm") is CONCERN
    assert level(rules, "thanks! my face went all squidgy and blotchy and gloopy and crinkled") is CONCERN
    # Names written as names are known words: a thank-you that names the staff is routine, lower case is not.
    assert level(rules, "Thanks! My cousin Marguerite flew to Lisbon with Yolanda and Bartholomew") is ROUTINE
    assert level(rules, "thanks! my cousin marguerite flew to lisbon with yolanda and bartholomew") is CONCERN
    assert level(rules, "will do, thanks") is ROUTINE


def test_languages(rules: TriageRules) -> None:
    assert rules.languages == tuple(sorted(p.stem for p in TRIAGE_DIR.glob("*.yaml")))
    assert triage(rules, "thanks", language="en-GB", day_since_session=1).level is ROUTINE
    # No rules for the language: never routine, but warning signs still found through the other files.
    unknown = triage(rules, "thanks", language="xx", day_since_session=1)
    assert unknown.level is CONCERN and "language_not_configured" in unknown.rule_ids
    assert triage(rules, "bleeding a lot", language="xx", day_since_session=1).level is URGENT


# --- rule files -------------------------------------------------------------------------------------------

MINIMAL = {
    "labels": {"urgent": "dringend", "concern": "ansehen", "routine": "normal"},
    "reasons": {
        key: key
        for key in (
            "question",
            "photo",
            "media",
            "unrecognised",
            "too_many_unknown_words",
            "empty",
            "no_warning_signs",
            "language_not_configured",
        )
    },
    "negation": {
        "before": ["kein", "keine", "nicht"],
        "after": ["vorbei"],
        "hard_breaks": ["aber"],
        "reversed_by": ["aufhören"],
    },
    "questions": {"starters": ["ist es"]},
    "vocab": {"blutung": ["blut*", "🩸"]},
    "rules": [
        {"id": "blutung", "level": "urgent", "reason": "Blutung", "terms": ["@blutung"]},
        {
            "id": "rötung",
            "level": "routine",
            "reason": "Rötung wie erwartet",
            "terms": ["rot", "gerötet"],
            "until_day": 2,
        },
        {"id": "danke", "level": "routine", "reason": "Dank", "terms": ["danke*"]},
    ],
}


def write_rules(tmp_path: Path, data: Any, name: str = "de.yaml") -> Path:
    (tmp_path / name).write_text(
        data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
    return tmp_path


def test_a_new_language_needs_only_a_file(tmp_path: Path) -> None:
    rules = TriageRules.load(write_rules(tmp_path, MINIMAL))
    assert rules.languages == ("de",)

    def de(text: str, day: int | None = 1) -> TriageLevel:
        return triage(rules, text, language="de", day_since_session=day).level

    assert de("Es blutet immer noch") is URGENT  # "blutet" via blut*
    assert de("keine Blutung, danke") is ROUTINE
    assert de("Blutung vorbei") is ROUTINE
    assert de("hört nicht aufhören zu bluten") is URGENT
    assert de("leicht gerötet", 1) is ROUTINE
    assert de("leicht gerötet", 4) is CONCERN  # unknown at day 4 -> no rule fires -> not recognised
    assert de("Dankeschön") is ROUTINE
    assert de("ist es normal") is CONCERN


def broken(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    for key, value in changes.items():
        data[key] = value
    return data


def rule_with(**fields: Any) -> list[dict[str, Any]]:
    return [{"id": "blutung", "level": "urgent", "reason": "Blutung", "terms": ["blut*"], **fields}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (broken(rules=rule_with(level="urgnt")), "rule 'blutung' level: 'urgnt' is not a level"),
        (
            broken(rules=[{"id": "x", "level": "urgent", "terms": ["a"]}]),
            "rule 'x': missing key(s) ['reason']",
        ),
        (
            broken(rules=rule_with(terms=["blut", True])),
            "rule 'blutung' terms: must be non-empty text, got True",
        ),
        (broken(rules=rule_with(terms=["@nirgends"])), "'@nirgends' names no list under vocab"),
        (broken(rules=rule_with(from_days=3)), "rule 'blutung': unknown key(s) ['from_days']"),
        (broken(rules=rule_with(from_day=5, until_day=2)), "rule 'blutung': from_day 5 is after until_day 2"),
        (broken(rules=rule_with(from_day=-1)), "rule 'blutung' from_day: must be a whole number"),
        (broken(rules=rule_with(terms=["bl*ut"])), "'*' goes at the end of a word"),
        (broken(rules=rule_with(all=[["blut"], ["viel"]])), "needs exactly one of 'terms'"),
        (broken(rules=rule_with(within="day")), "within must be message, sentence or clause"),
        (broken(rules=rule_with(when_negated="concern")), "negated_reason"),
        (broken(rules=[*rule_with(), *rule_with()]), "rule 'blutung': id is used by another rule"),
        (broken(rules=[]), "rules: must be a non-empty list"),
        (broken(language="fr"), "language: is 'fr' but the file is named de.yaml"),
        (broken(labels={"urgent": "x"}), "labels: missing key(s) ['concern', 'routine']"),
        (
            broken(negation={"before": ["kein"], "after": [], "hard_breaks": ["aber zwar"]}),
            "must be a single word",
        ),
        (broken(vocab={"a": ["@a"]}, rules=rule_with(terms=["@a"])), "vocab list 'a' refers to itself"),
        ("rules: [unclosed", "cannot read triage rules"),
    ],
)
def test_bad_rule_files_fail_with_file_and_rule(tmp_path: Path, data: Any, message: str) -> None:
    write_rules(tmp_path, data)
    with pytest.raises(ValueError) as excinfo:
        TriageRules.load(tmp_path)
    assert "de.yaml" in str(excinfo.value)
    assert message in str(excinfo.value)


def test_empty_rule_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no triage rule files"):
        TriageRules.load(tmp_path)


# --- Latin-typed words (matching.transliterate) and stems' spelling tolerance ------------------------------

CYRILLIC = {
    "language": "ru",
    "labels": {"urgent": "срочно", "concern": "посмотреть", "routine": "обычное"},
    "reasons": dict(MINIMAL["reasons"]),
    "matching": {
        "transliterate": {"zh": "ж", "sh": "ш", "a": "а", "r": "р", "z": "з", "h": "х", "g": "г", "n": "н",
                          "o": "о", "y": ["ы", "й"], "k": "к", "e": ["е", "э"], "t": "т", "p": "п", "l": "л"},
    },
    "negation": {"before": ["не", "нет"], "after": ["прошел"], "hard_breaks": ["но"]},
    "questions": {"starters": ["можно"]},
    "rules": [
        {"id": "fever", "level": "urgent", "reason": "жар", "terms": ["жар"]},
        {"id": "pus", "level": "urgent", "reason": "гной", "terms": ["гной"]},
        {"id": "ok", "level": "routine", "reason": "ок", "terms": ["ok", "ок", "это"]},
    ],
}


def test_latin_typed_words_are_read_through_the_table(tmp_path: Path) -> None:
    rules = TriageRules.load(write_rules(tmp_path, CYRILLIC, "ru.yaml"))

    def ru(text: str) -> TriageResult:
        return triage(rules, text, language="ru", day_since_session=1)

    assert ru("zhar").level is URGENT  # "zh" is one letter, not "z" + "h" ("зхар")
    assert ru("ZHAR!").level is URGENT
    assert ru("у меня жар").level is URGENT
    assert ru("gnoy").level is URGENT  # "y" read as й
    assert ru("ne zhar").level is not URGENT  # the negation is read through the table too
    assert ru("zhar proshel").level is not URGENT
    assert "'zhar'" in ru("zhar").reasons[0]  # staff read the client's own spelling
    assert ru("ok").level is ROUTINE  # a Latin term still matches as typed
    assert ru("eto").level is ROUTINE  # "e" read as э
    assert ru("xyzzy").level is CONCERN  # letters the table does not know stay as they are


def test_latin_words_are_read_as_typed_when_the_clients_language_has_no_file(tmp_path: Path) -> None:
    write_rules(tmp_path, MINIMAL)
    rules = TriageRules.load(write_rules(tmp_path, CYRILLIC, "ru.yaml"))
    assert triage(rules, "zhar", language="ru", day_since_session=1).level is URGENT
    assert triage(rules, "zhar", language="xx", day_since_session=1).level is CONCERN
    assert triage(rules, "жар", language="xx", day_since_session=1).level is URGENT


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"ж": "zh"}, "the groups are Latin letters"),
        ({"zh": "zh"}, "must be letters of another script"),
        ({"zh": []}, "give at least one spelling"),
        ({"zh": ["ж", 5]}, "must be non-empty text"),
        ({}, "must map at least one Latin letter group"),
    ],
)
def test_bad_transliteration_tables_fail(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(CYRILLIC)
    data["matching"]["transliterate"] = table
    write_rules(tmp_path, data, "ru.yaml")
    with pytest.raises(ValueError) as excinfo:
        TriageRules.load(tmp_path)
    assert "ru.yaml: matching.transliterate" in str(excinfo.value) and message in str(excinfo.value)


def test_stems_tolerate_a_wrong_letter_only_from_their_own_length(tmp_path: Path) -> None:
    data = copy.deepcopy(MINIMAL)
    data["rules"] = [*data["rules"], {"id": "eiter", "level": "urgent", "reason": "Eiter", "terms": ["eitrig*"]}]

    def level_of(text: str) -> TriageLevel:
        return triage(TriageRules.load(write_rules(tmp_path, data)), text, language="de", day_since_session=1).level

    assert level_of("eitrige Stelle") is URGENT
    assert level_of("eitrhge Stelle") is URGENT  # one letter wrong in a 6-letter stem: tolerated by default
    data["matching"] = {"fuzzy_stem_min_length": 7}
    assert level_of("eitrhge Stelle") is not URGENT
    assert level_of("eitrige Stelle") is URGENT


# --- properties -------------------------------------------------------------------------------------------

RED_FLAGS = [
    "it is still bleeding",
    "there is pus",
    "I have a fever",
    "my lips are swollen",
    "I can't breathe",
    "it's infected",
    "🩸",
    "hives all over",
    "the pain is unbearable",
    "blisters on my cheek",
]
DAYS = st.one_of(st.none(), st.integers(min_value=0, max_value=60))


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(st.none(), st.text()), day=DAYS, photo=st.booleans(), media=st.booleans())
def test_triage_never_raises_and_always_returns_a_level(
    rules: TriageRules,
    text: str | None,
    day: int | None,
    photo: bool,
    media: bool,
) -> None:
    result = triage(rules, text, language="en", day_since_session=day, has_photo=photo, has_media=media)
    assert isinstance(result.level, TriageLevel)
    assert result.reasons
    if photo or media:
        assert result.level is not ROUTINE


@settings(max_examples=100, deadline=None)
@given(text=st.text(), flag=st.sampled_from(RED_FLAGS), day=DAYS)
def test_a_red_flag_after_any_text_is_urgent(
    rules: TriageRules, text: str, flag: str, day: int | None
) -> None:
    assert level(rules, f"{text}\n{flag}", day) is URGENT
    assert level(rules, f"{flag}\n{text}", day) is URGENT


# --- time, person, and what the bot asks back ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "had a fever last month but nothing since",
        "my friend had an infection after hers",
        "was worried about pus but there isn't any",
        "it was swollen yesterday but it's back to normal",
        "It bled a tiny bit on the night, stopped straight away, nothing since",
        "Thought I had a temperature last night but the thermometer said 36.8 so panic over",
        "My husband says his shaving rash is worse than my face ever was 😂 all good here",
        "mum had a cold sore last week and i was worried id catch one but nope, lips are clear",
        "my daughter has the fever and vomiting bug from school, I'm fine",
        "had a temp on sunday but it was the flu, long gone now",
        "false alarm on the blister, nothing there",
        "the nurse asked if i had any pus and honestly no, none at all",
        "the swelling from tuesday is completely gone, back to normal",
    ],
)
def test_past_resolved_or_someone_elses_symptoms_are_not_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 3) is not URGENT


@pytest.mark.parametrize(
    "text",
    [
        "had a fever yesterday and still have it",
        "bleeding stopped yesterday but started again this morning and now it wont stop",
        "I've got a fever but otherwise fine",
        "my husband says my lip is swollen",
        "Bled a lot last night, stopped, then started again this morning all over the pillow",
        "been sick 5 times since this morning, cant keep water down",
        "the pain is no longer manageable with paracetamol or ibuprofen",
        "Not sleeping because of the pain, nothing touches it",
        "a patch by my nose has gone a dusky bluish colour",
        "my face went white in a patch and it's cold",
        "something is very wrong",
        "should I go to a&e?",
        "my eyes are almost closed",
        "cold sore round my mouth since the session",
        "a painful lump filled with fluid",
        "redder every day",
        "my husband says my face looks more red than yesterday and its spreading",
        "my friend and I both had a reaction, my lips are still swollen",
        "the serum my friend recommended stings like mad and my face is swelling up",
        "painkillers arent touching this pain",
        "the tightness I mentioned last week has not gone away and now it is hot and swollen",
        "somebody help me",
        "fainted in the shower earlier, fine now tho",
        "my eye went blurry for a bit this morning, back to normal now",
        "my sister had a rash after hers and I've got one too",
        "the red patch is bigger than yesterday and it has gone past the line i drew",
        "open sore on my chin, raw and wet and wont scab over",
        "theres a gross smell coming off my cheek",
        "got some blisters on my forehead after the cream yesterday. everything else is fine",
        "had a fever last night, otherwise all good",
        "had blisters come up yesterday, I'm fine",
    ],
)
def test_present_warning_signs_in_new_words_are_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 4) is URGENT, run(rules, text, 4)


def test_good_news_is_turned_round_only_by_a_cue_before_it(rules: TriageRules) -> None:
    # "gone now" after the emoji is about the rash, not the client's mood.
    assert level(rules, "thought i had a rash coming but it was just the pillowcase 😂 gone now", 2) is ROUTINE
    assert level(rules, "not fine at all", 2) is not ROUTINE


def test_a_message_no_rule_finds_anything_in_is_asked_back(rules: TriageRules) -> None:
    # Everyday words may still describe a warning sign nobody wrote a rule for.
    for text in ("my face looks like a pizza", "the room is going round", "I look like a different person"):
        result = run(rules, text, 3)
        assert result.level is CONCERN and result.ask_back, result


def test_someone_elses_symptom_is_theirs_but_the_clients_fainting_counts_even_when_over(rules: TriageRules) -> None:
    assert level(rules, "my friend fainted at her wedding last year, I'm fine", 3) is not URGENT
    assert level(rules, "my daughter has the tummy bug going round her school, my own face is fine", 3) is not URGENT
    # Without saying it is unrelated, someone else's present symptom in this chat is most likely the client's.
    assert level(rules, "my wife keeps being sick since we got home", 0) is URGENT


def test_a_warning_sign_in_another_shipped_language_counts(rules: TriageRules) -> None:
    result = run(rules, "mi cara está muy hinchada y los labios también, me cuesta tragar", 0)
    assert result.level is URGENT and "other_language" in result.rule_ids, result
    # Understood in the client's own language: the other languages are not asked.
    assert "other_language" not in run(rules, "all good, thanks!", 3).rule_ids


def test_booking_and_product_questions_are_questions_not_clinical(rules: TriageRules) -> None:
    for text in ("r u guys open on sundays", "how much is a course of 3 sessions?", "can i wear makeup tomorrow?"):
        result = run(rules, text, 2)
        assert result.level is CONCERN and result.is_question and not result.ask_back, (text, result)
    result = run(rules, "my cheek feels a bit lumpy", 4)
    assert result.level is CONCERN and result.ask_back and not result.is_question
    for text in ("hi there", "No change, all calm 👍", "all healed and glowing, best money I've spent this year ✨"):
        assert level(rules, text, 5) is ROUTINE, text


def test_the_rule_file_has_an_ask_back_with_a_none_option(rules: TriageRules) -> None:
    ask = rules.for_language("en").ask_back
    assert ask is not None and ask.option("none") is not None and len(ask.options) >= 6


@pytest.mark.parametrize(
    ("language", "text"),
    [
        # Another shipped language, next to words the client's own language knows.
        ("ru", "ok my face is swollen"), ("ru", "thanks, my lips are swollen 🙏"), ("ru", "ok, bleeding"),
        ("es", "ok, bleeding"), ("en", "gracias, tengo fiebre"), ("en", "ok, губы опухли"), ("en", "ok sangra"),
        # Russian "неё" (her, it) is not the negation "не".
        ("ru", "на щеке ранка, из неё течёт гной"), ("ru", "пишу за маму, у неё гной"),
        # A question does not say a symptom is over, and neither does good news about something else.
        ("en", "I had a fever last night, is that normal?"),
        ("en", "had a high temperature last night, I finished work early"),
        ("es", "tuve fiebre anoche, era de 39"), ("ru", "вчера была температура 39, я спала весь день"),
        # Something said to be unrelated in another clause does not make a present symptom someone else's.
        ("en", "my wife is bleeding a lot, nothing to do with the kids"),
        ("en", "my daughter has really swollen lips, she's just back from school"),
        # "of it" is not someone else; the client has it too.
        ("es", "la costra se cayó y de ella sale pus"), ("ru", "у сына температура, у меня тоже"),
        ("ru", "моя мама делала у вас процедуру, у неё сильный отёк"),
    ],
)
def test_warning_signs_that_once_slipped_through_are_urgent(rules: TriageRules, language: str, text: str) -> None:
    result = triage(rules, text, language=language, day_since_session=2)
    assert result.level is URGENT, result


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "the room is going round"), ("es", "la lengua no me cabe en la boca"),
     ("ru", "язык не помещается во рту"), ("es", "se me cayó un lado de la cara")],
)
def test_words_no_rule_knows_are_never_routine(rules: TriageRules, language: str, text: str) -> None:
    result = triage(rules, text, language=language, day_since_session=2)
    assert result.level is URGENT or result.ask_back, result


def test_staff_read_the_reasons_in_their_own_language_with_the_clients_words_as_written(rules: TriageRules) -> None:
    result = triage(rules, "из щеки течёт гной", language="ru", day_since_session=2, reasons_in="en")
    assert result.level is URGENT
    assert result.reasons[0].startswith("red flag: pus") and "('" in result.reasons[0], result.reasons
    assert triage(rules, "из щеки течёт гной", language="ru", day_since_session=2).reasons[0].startswith("тревожный")


def test_what_is_over_or_not_the_clients_does_not_raise_a_card(rules: TriageRules) -> None:
    # Said to be over right after it, or part of what says so; until it comes back.
    assert level(rules, "the swelling went down the next morning, very happy", 2) is ROUTINE
    assert level(rules, "peeling's done, face is baby soft 😍", 5) is ROUTINE
    assert level(rules, "the swelling went down but now its back", 2) is not ROUTINE
    assert level(rules, "the bleeding was just pouring out", 0) is URGENT
    # A lesser sign told as improving; a warning sign is not discounted that way.
    assert level(rules, "my acne scars look so much better already", 21) is ROUTINE
    assert level(rules, "the pus looks so much better", 4) is URGENT
    # A feeling told as before; still felt, it counts.
    assert level(rules, "I was so nervous but you made me feel at ease, thank you", 0) is ROUTINE
    assert level(rules, "I was nervous and still am", 0) is CONCERN
    # Someone else's: a pet, a wish to book, a treatment at another clinic, hoping not to share it.
    assert level(rules, "my cat is sick this week, face is all fine", 6) is ROUTINE
    assert level(rules, "my mom wants to book after seeing my results", 14) is ROUTINE
    assert level(rules, "can i book my next session", 14) is CONCERN
    assert level(rules, "my sister got a rash from her microneedling at another clinic, mine is totally fine", 3) \
        is ROUTINE
    assert level(rules, "my daughter had her microneedling with you friday, she has a rash now", 3) is URGENT
    assert level(rules, "my sister had a rash after hers, hoping i dont get the same. mines fine", 2) is ROUTINE


def test_confusion_and_collapse_are_urgent(rules: TriageRules) -> None:
    assert level(rules, "she's a bit confused and not making much sense", 2) is URGENT
    assert level(rules, "I was muddled earlier but seem fine now", 0) is URGENT
    assert level(rules, "im confused about when to use the serum", 2) is CONCERN
    assert level(rules, "felt lightheaded and went down in the kitchen, feel ok now", 0) is URGENT


def test_what_a_symptom_became_and_who_writes(rules: TriageRules) -> None:
    # "gone kind of puffy" says what the lip became: neither a negation nor "it is over".
    assert level(rules, "my bottom lip has gone kind of puffy", 2) is URGENT
    assert level(rules, "the swelling has gone, all good", 2) is ROUTINE
    # Someone writing from the client's phone speaks for the client.
    assert level(rules, "its my mums account, she had the treatment thursday and shes shivering", 3) is URGENT
    # A lump and its fluid in two sentences.
    assert level(rules, "a lump came up under my jaw. feels squishy like theres fluid in it", 9) is URGENT
    assert level(rules, "its been raining nonstop here, face is fine", 8) is ROUTINE


def test_a_long_message_may_have_a_few_more_unknown_words(rules: TriageRules) -> None:
    lang = rules.by_language["en"]
    assert lang.unknown_words_allowed(10) == lang.max_unknown_words
    assert lang.unknown_words_allowed(120) == 120 // lang.words_per_unknown_word
    assert level(rules, "thanks! my face went all squidgy and blotchy and gloopy and crinkled", 2) is CONCERN


def test_family_writing_for_the_client_and_treatments_elsewhere(rules: TriageRules) -> None:
    # Someone else's present symptom, with a possessive, stays the client's unless said to be unrelated.
    assert level(rules, "He won't message himself but his forehead is puffy and oozing", 4) is URGENT
    assert level(rules, "my friend reacted to botox at another clinic, her face swollen, mine is fine", 5) is ROUTINE
    assert level(rules, "feels like my face is on fire and nothing helps, cant sleep", 1) is URGENT
    assert level(rules, "took 2 panadol and the pain hasnt budged", 2) is URGENT
    assert level(rules, "its prob nothing but my eyelids have doubled in size", 2) is URGENT


def test_what_looks_over_or_elsewhere_but_is_not(rules: TriageRules) -> None:
    # Words that end a symptom in one reading and carry it on in another.
    for text in ("The bleeding has lasted over an hour", "My temperature has passed 38",
                 "The bleeding started after the numbing wore off", "My lip is swollen and I'm done with it",
                 "My eyes are so swollen it stopped me seeing"):
        assert level(rules, text, 3) is URGENT, text
    # Another clinic named, but the writer still speaks for this clinic's client.
    assert level(rules, "Writing for my daughter, she had her microneedling with you (she usually goes to "
                        "another clinic). She has a high fever", 3) is URGENT
    assert level(rules, "She had her microneedling with you not at another clinic, she's been vomiting", 3) is URGENT
    # A pet only owns the symptom it is said to have; someone else worried is not the client understood.
    assert level(rules, "After walking the dog the bleeding started again", 3) is URGENT
    assert triage(rules, "He's worried because I keep gagging", language="en", day_since_session=3).ask_back
    # Confused about the instructions is a question; confused as a state is a warning sign.
    assert level(rules, "Sorry I'm confused, do I wash my face tonight or tomorrow?", 0) is CONCERN
    assert level(rules, "im kinda confused today, keep forgetting what i was doing", 1) is URGENT
    # Capitalised descriptions next to a body part are not names.
    assert triage(rules, "Now My Face Is Gloopy, Manky, Mingin And Crispy", language="en",
                  day_since_session=3).level is CONCERN


def test_gaps_a_review_found(rules: TriageRules) -> None:
    for text in ("The bleeding stopped and started all night",
                 "The pus cleared out this morning but it's filling up again",
                 "Took the dog out and the swelling got way worse",
                 "My husband is worried about the pus"):
        assert level(rules, text, 3) is URGENT, text


def test_bleeding_told_without_the_word_and_expectations(rules: TriageRules) -> None:
    assert level(rules, "been dabbing it for 45 mins and it still comes away bright red every time", 0) is URGENT
    assert level(rules, "lil bit of blood still comin thru the gauze, changed it 4 times", 0) is URGENT
    assert level(rules, "no swelling no nothing, honestly was expecting worse", 1) is ROUTINE
    assert level(rules, "not me but my husband's hay fever is going mental", 5) is not URGENT
    # A flush after drinks stays worth a look even when it has settled.
    assert level(rules, "had a few glasses of prosecco and my face went really flushed, back to normal now", 2) \
        is CONCERN


def test_someone_elses_wish_is_near_them_and_past_slips_still_count(rules: TriageRules) -> None:
    assert level(rules, "My sister is asking whether you sell gift vouchers.", None) is CONCERN
    assert level(rules, "sat at the kids football match for 2 hours without spf, totally forgot", 2) is CONCERN
    assert level(rules, "did a sauna session yday, went quite red after but calmed down a bit", 2) is CONCERN
    assert level(rules, "just booked flights to lisbon for my 60th!! skin will be ready 😎", 12) is ROUTINE
    assert level(rules, "can barely swallow, voice sounds weird", 0) is URGENT
    assert level(rules, "the face is paining me since night, even paracetamol did not do anything", 2) is URGENT


def test_a_second_reviews_findings(rules: TriageRules) -> None:
    for text in ("the painkillers aren't working anymore", "the swelling isn't going down anymore",
                 "I had a temperature last night, the procedure itself was a piece of cake",
                 "it could be getting worse", "morning, one side of my face has dropped",
                 "thanks. I can barely see out of my left eye", "got the message. I keep nodding off",
                 "my eyesight has gone funny", "I can't cope with the pain, nothing helps",
                 "my husband says I'm confused", "my cheek feels like it's full of water"):
        assert level(rules, text, 3) is URGENT, text
    # A body part named with only politeness around it is not understood; good news about it is.
    assert triage(rules, "before and after pics: my cheek looks all squiffy", language="en",
                  day_since_session=3).ask_back
    assert level(rules, "my face is glowing", 3) is ROUTINE
    assert level(rules, "so happy with my acne scars, you can barely see them now", 28) is not URGENT


def test_what_the_lips_became_and_what_was_feared(rules: TriageRules) -> None:
    assert level(rules, "my lips have gone like a blowfish 🐡 woke up like this", 1) is URGENT
    assert level(rules, "was expecting to be way worse tbh, just a bit pink this morning", 1) is ROUTINE
    assert level(rules, "no problems at all, wasnt even that red really", 1) is ROUTINE
    assert level(rules, "my cheek is pink and getting worse", 1) is URGENT


def test_a_fever_kept_down_by_paracetamol_is_not_over(rules: TriageRules) -> None:
    assert level(rules, "had a temp of 38.9 last night but sorted it with paracetamol. skin fine-ish", 3) is URGENT
    assert level(rules, "had a fever last month but nothing since", 3) is ROUTINE


def test_numbers_and_someone_elses_illness(rules: TriageRules) -> None:
    # A number is not read as another language's temperature; words are.
    assert level(rules, "got carded at the liquor store today at 38 😂 im crediting you guys", 21) is ROUTINE
    assert level(rules, "температура 38", 3) is URGENT
    assert level(rules, "my son's ear infection is awful, not me haha, I'm fine", 3) is not URGENT
    assert level(rules, "still dripping a bit from my chin, been like 3 hrs", 0) is URGENT


def test_someone_elses_illness_said_outright(rules: TriageRules) -> None:
    for text in ("my daughter has a horrible cold sore at the moment, not me, I'm fine!",
                 "my mums come out in a rash from her new washing powder, nothing to do with me"):
        assert level(rules, text, 5) is ROUTINE, text
    assert level(rules, "my mate Sarah has a cold sore (she's had no treatment lol)", 5) is not URGENT
    # Without the client saying so, someone else's present symptom stays the client's.
    assert level(rules, "my wife is bleeding a lot, nothing to do with the kids", 0) is URGENT
    assert level(rules, "my daughter had the treatment with you, she has a cold sore now", 3) is URGENT
    assert level(rules, "haha i keep forgetting i even had it done, zero drama", 6) is not URGENT
