"""Triage rule files (messages/triage/<lang>.yaml): text normalisation, word matching, loading and validation.

Rule files hold all vocabulary; this module only knows the file *structure*, so adding a language is a new
file, never new code. Messages and rule terms go through the same normalisation, which is why it lives here.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml


class TriageLevel(StrEnum):
    URGENT = "urgent"
    CONCERN = "concern"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {TriageLevel.ROUTINE: 0, TriageLevel.CONCERN: 1, TriageLevel.URGENT: 2}

# --- text normalisation -------------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans(dict.fromkeys("’‘`´ʼ′", "'"))
# Emoji presentation selectors, joiners and skin tones: "👍🏽" and "❤️" should equal "👍" and "❤".
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")
_LONG_RUNS = re.compile(r"([^\W\d_])\1{2,}")
_DOUBLES = re.compile(r"(.)\1+")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*|[.,;:!?\n()\u2013\u2014]|[^\w\s]")

# Spanish opens a question or exclamation with ¿ and ¡: a sentence boundary too ("no sé ¿tengo fiebre?").
PUNCTUATION = frozenset(".,;:!?¿¡\n()\u2013\u2014")
SENTENCE_ENDS = frozenset(".!?¿¡\n")


def normalise(text: str) -> str:
    """Casefold, unify apostrophes, drop accents and emoji modifiers, shorten runs ("sooo" -> "soo")."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_APOSTROPHES))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return _LONG_RUNS.sub(r"\1\1", text)


def _keep(raw: str) -> str | None:
    if raw[0].isalnum():
        return raw.replace("'", "")
    if raw in PUNCTUATION:
        return raw
    # Emoji and other pictographs carry meaning (🩸, 🤒); ASCII symbols and quotes do not.
    if not raw.isascii() and unicodedata.category(raw)[0] == "S":
        return raw
    return None


# A capitalised word inside a sentence ("tell Aoife", "with thanks, Harold", "Dr. Morales"): a name or a place.
_NAME = re.compile(r"(?<![.!?¿¡\n]\s)(?<![.!?¿¡\n])(?<!^)\b([A-ZÀ-ÖØ-ÞА-ЯЁ][a-zß-öø-ÿа-яё]+)\b")
_TITLE = re.compile(r"\b(?:dr|mr|mrs|ms|miss|sr|sra|srta|dra)\.\s+([A-ZÀ-ÖØ-ÞА-ЯЁ][a-zß-öø-ÿа-яё]+)", re.IGNORECASE)


def names(text: str) -> frozenset[str]:
    """Words written as names, casefolded like tokens: never the first word of a sentence, never ALL CAPS, and
    none from someone Who Capitalises Every Word."""
    words = re.findall(r"[^\W\d_]{2,}", text)
    if sum(word[0].isupper() for word in words) * 4 > len(words) * 3:
        return frozenset()
    found = {m.group(1) for m in _NAME.finditer(text.strip())} | {m.group(1) for m in _TITLE.finditer(text)}
    return frozenset(token for name in found for token in tokenise(name))


def tokenise(text: str) -> list[str]:
    return [kept for raw in _TOKEN.findall(normalise(text)) if (kept := _keep(raw)) is not None]


def squeeze(word: str) -> str:
    """Doubled letters as single ones, so "puss" meets "pus" and "bledding" meets "bleeding"."""
    return _DOUBLES.sub(r"\1", word)


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one substitution, insertion, deletion or adjacent swap."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]


# --- transliteration ---------------------------------------------------------------------------------------


class Transliteration:
    """Latin-typed words read in the language's own script ("krov idet" as "кров идет"), from the rule file's
    matching.transliterate table: letter groups, longest first, each with one or more spellings."""

    MAX_VARIANTS = 16  # a long word with many ambiguous letters is read in its first few spellings only
    _CACHE_LIMIT = 20_000

    def __init__(self, table: Mapping[str, tuple[str, ...]]) -> None:
        self.table = dict(table)
        self.longest = max(map(len, self.table), default=1)
        self._cache: dict[str, tuple[str, ...]] = {}

    def variants(self, token: str) -> tuple[str, ...]:
        """The token's spellings in the other script; none unless it is a word of Latin letters only."""
        if not (token.isascii() and token.isalpha()):
            return ()
        found = self._cache.get(token)
        if found is None:
            if len(self._cache) > self._CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[token] = self._spell(token)
        return found

    def _spell(self, token: str) -> tuple[str, ...]:
        pieces: list[tuple[str, ...]] = []
        pos = 0
        while pos < len(token):
            for size in range(min(self.longest, len(token) - pos), 0, -1):
                choices = self.table.get(token[pos : pos + size])
                if choices is not None:
                    pieces.append(choices)
                    pos += size
                    break
            else:  # a letter the table does not know stays as it is
                pieces.append((token[pos],))
                pos += 1
        spellings = ("".join(parts) for parts in itertools.product(*pieces))
        return tuple(dict.fromkeys(s for s in itertools.islice(spellings, self.MAX_VARIANTS) if s != token))


# --- word patterns -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordPattern:
    text: str
    prefix: bool  # written with a trailing "*"


class Lexicon:
    """All words used by one language's terms; tells which of them a message token matches."""

    _CACHE_LIMIT = 20_000

    def __init__(
        self, fuzzy_min_length: int, protected: frozenset[str], fuzzy_stem_min_length: int | None = None
    ) -> None:
        self.fuzzy_min_length = fuzzy_min_length
        # A stem ("infect*") tolerates a wrong letter from this length on; an inflected language whose short
        # stems begin many everyday words sets it higher than for whole words.
        self.fuzzy_stem_min_length = fuzzy_min_length if fuzzy_stem_min_length is None else fuzzy_stem_min_length
        self.protected = protected
        self.patterns: list[WordPattern] = []
        self._ids: dict[WordPattern, int] = {}
        self._cache: dict[str, frozenset[int]] = {}

    def add(self, pattern: WordPattern) -> int:
        if pattern not in self._ids:
            self._ids[pattern] = len(self.patterns)
            self.patterns.append(pattern)
        return self._ids[pattern]

    def freeze(self) -> None:
        self._exact: dict[str, set[int]] = {}
        self._squeezed: dict[str, set[int]] = {}
        self._prefix: dict[str, set[int]] = {}
        self._fuzzy: dict[str, list[tuple[int, WordPattern]]] = {}
        for pid, pattern in enumerate(self.patterns):
            if pattern.prefix:
                self._prefix.setdefault(pattern.text, set()).add(pid)
            else:
                self._exact.setdefault(pattern.text, set()).add(pid)
                self._squeezed.setdefault(squeeze(pattern.text), set()).add(pid)
            fuzzy_from = self.fuzzy_stem_min_length if pattern.prefix else self.fuzzy_min_length
            if pattern.text.isalpha() and len(pattern.text) >= fuzzy_from:
                self._fuzzy.setdefault(pattern.text[0], []).append((pid, pattern))

    def matches(self, token: str, fuzzy: bool = True) -> frozenset[int]:
        key = token if fuzzy else "\0" + token  # read without spelling tolerance: cached apart
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > self._CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[key] = frozenset(self._match(token, fuzzy))
        return found

    def _match(self, token: str, fuzzy: bool = True) -> set[int]:
        ids = set(self._exact.get(token, ()))
        squeezed = squeeze(token)
        # Only a token with doubled letters that is not a word itself may lose them: "puss" is "pus", "god" is not
        # "good", and Russian "нее" (her) is not the negation "не".
        if squeezed != token and not ids:
            ids |= self._squeezed.get(squeezed, set())
        for word in {token, squeezed}:
            for k in range(1, len(word) + 1):
                ids |= self._prefix.get(word[:k], set())
        # Words the rules already know, or list as ordinary, are never read as misspellings of other words:
        # "stings" is not "stinks", "never" is not "fever".
        if ids or not fuzzy or not token.isalpha() or len(token) < 4 or token in self.protected:
            return ids
        for pid, pattern in self._fuzzy.get(token[0], ()):
            if pattern.prefix:
                size = len(pattern.text)
                hit = any(
                    within_one_edit(token[:k], pattern.text)
                    for k in (size - 1, size, size + 1)
                    if k <= len(token)
                )
            else:
                hit = within_one_edit(token, pattern.text)
            if hit:
                ids.add(pid)
        return ids


# --- compiled rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    id: str
    level: TriageLevel
    reason: str
    groups: tuple[tuple[int, ...], ...]  # term ids; the first group names the symptom, later ones qualify it
    within: str = "message"  # message | sentence | clause: where all groups must appear together
    unless: tuple[int, ...] = ()
    from_day: int | None = None
    until_day: int | None = None
    when_negated: TriageLevel | None = None
    negated_reason: str = ""
    clinical: bool = True  # false for rules about the aftercare itself (products, sun, gym): a question, not a symptom
    asks: bool = False  # what it finds is a question for staff even without a question mark (booking, prices)
    even_if_over: bool = False  # a warning sign even when told as over ("fainted earlier, fine now")
    own_only: bool = False  # only what the client says of themself ("my mum wants to book" is not a booking)
    past_is_over: bool = False  # a feeling told in the past is over ("I was nervous but you put me at ease")
    not_within: tuple[int, ...] = ()  # a term inside one of these does not count ("not bad", "stop worrying")

    def applies_on(self, day: int) -> bool:
        if self.from_day is not None and day < self.from_day:
            return False
        return self.until_day is None or day <= self.until_day


@dataclass
class Negation:
    before: tuple[int, ...]
    after: tuple[int, ...]
    reversed_by: tuple[int, ...]
    not_negations: tuple[int, ...]
    hard_breaks: frozenset[str]
    soft_breaks: frozenset[str]
    joiners: frozenset[str]
    window: int


@dataclass
class Questions:
    marks: tuple[str, ...]
    starters: tuple[int, ...]
    skip_words: frozenset[str]
    phrases: tuple[int, ...]
    not_questions: tuple[int, ...]


@dataclass
class History:
    """Symptoms told as over, or as someone else's: terms by what they mark (see the rule file's header)."""

    past: tuple[int, ...]
    others_past: tuple[int, ...]
    others: tuple[int, ...]
    own: tuple[int, ...]
    present: tuple[int, ...]
    possessive: tuple[int, ...]
    came_back: tuple[int, ...]
    returned: tuple[int, ...]
    resolved: tuple[int, ...]
    shared: tuple[int, ...] = ()  # "I have it too": the client named after someone else's symptom shares it
    apart_from: tuple[int, ...] = ()  # "everything else is fine": good news about the rest, not the symptom
    comparison: tuple[int, ...] = ()  # "than": a past marker right after it is a comparison about now
    for_client: tuple[int, ...] = ()  # "my daughter had her micro-needling with you": the writer is not the client
    elsewhere: tuple[int, ...] = ()  # "her micro-needling at another clinic": not a treatment here, so not for_client
    unrelated: tuple[int, ...] = ()  # "the bug going round school": someone else's illness, not the treatment's
    holds: tuple[int, ...] = ()  # "my daughter has the fever": words between a person and what they have
    reporting: tuple[int, ...] = ()  # "my husband says my face ...": the other person only reports it
    animals: tuple[int, ...] = ()  # a pet's symptom is never the client's ("my cat is sick")
    improved: tuple[int, ...] = ()  # "my acne scars look so much better": a lesser sign that is improving
    courtesy: tuple[int, ...] = ()  # politeness that says nothing about the body
    body: tuple[int, ...] = ()  # body parts and senses: named with nothing a clinical rule knows, not understood
    not_the_client: tuple[int, ...] = ()  # "not me", "nothing to do with me": someone else's, said outright
    worried_for: tuple[int, ...] = ()  # right after someone else: "my husband is worried about the pus" is hers
    ended: tuple[int, ...] = ()  # right after a symptom, says it is over: "the swelling went down"
    felt: tuple[int, ...] = ()  # "I was nervous": a feeling told as before, with nothing saying it still is


@dataclass(frozen=True)
class AskOption:
    id: str  # "none" for the button that names no warning sign
    label: str


@dataclass(frozen=True)
class AskBack:
    """The question the bot asks when it cannot place a symptom, and one button per warning-sign group."""

    question: str
    options: tuple[AskOption, ...]
    reason: str  # what staff read when a warning sign is pressed: {option}
    none_reason: str  # ... when "none of these" is pressed: {option}

    def option(self, option_id: str) -> AskOption | None:
        return next((o for o in self.options if o.id == option_id), None)


NO_WARNING_SIGN = "none"


@dataclass
class LanguageRules:
    """One rule file, compiled. Terms are tuples of word-pattern ids; everything refers to terms by index."""

    language: str
    source: Path
    lexicon: Lexicon
    terms: list[tuple[int, ...]]
    term_text: list[str]
    rewrites: list[tuple[tuple[str, ...], tuple[str, ...]]]
    labels: dict[TriageLevel, str]
    reasons: dict[str, str]
    phrase_gap: int
    max_unknown_words: int
    words_per_unknown_word: int  # a long message may have one unknown word in this many (0: no allowance)
    neutral_words: frozenset[str]
    negation: Negation
    questions: Questions
    history: History
    ask_back: AskBack | None  # None: the bot does not ask back in this language
    rules: tuple[Rule, ...]
    transliteration: Transliteration | None = None  # None: Latin words are read only as typed
    terms_by_first_word: dict[int, list[int]] = field(default_factory=dict)
    head_terms: frozenset[int] = frozenset()
    symptom_terms: frozenset[int] = frozenset()  # what rules above routine name (their first lists)
    clinical_heads: frozenset[int] = frozenset()  # what clinical rules name, good news included
    question_rules: frozenset[str] = frozenset()  # ids of rules whose findings ask something (asks: true)
    rule_terms: frozenset[int] = frozenset()  # every term a rule uses (history's markers are not among them)
    candidate_days: tuple[int, ...] = (0,)

    @functools.cached_property
    def rule_by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    # Lists of term ids as sets, made once each (keyed by identity: the lists live as long as the rules).
    _term_sets: dict[int, tuple[tuple[int, ...], frozenset[int]]] = field(default_factory=dict, repr=False)

    def term_set(self, term_ids: tuple[int, ...]) -> frozenset[int]:
        cached = self._term_sets.get(id(term_ids))
        if cached is None or cached[0] is not term_ids:
            cached = self._term_sets[id(term_ids)] = (term_ids, frozenset(term_ids))
        return cached[1]

    def unknown_words_allowed(self, words: int) -> int:
        per = self.words_per_unknown_word
        return max(self.max_unknown_words, words // per if per else 0)

    def tokens(self, text: str) -> list[str]:
        return rewrite(tokenise(text), self.rewrites)

    def forms(self, token: str) -> tuple[str, ...]:
        """The token as typed, then its transliterated spellings when the language has a table."""
        if self.transliteration is None:
            return (token,)
        return (token, *self.transliteration.variants(token))

    def matches(self, token: str) -> frozenset[int]:
        """Word patterns the token matches as typed or in any of its transliterated spellings."""
        forms = self.forms(token)
        if len(forms) == 1:
            return self.lexicon.matches(token)
        return frozenset().union(*(self.lexicon.matches(form) for form in forms))


def rewrite(tokens: list[str], rewrites: list[tuple[tuple[str, ...], tuple[str, ...]]]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for source, target in rewrites:
            if tuple(tokens[i : i + len(source)]) == source:
                out.extend(target)
                i += len(source)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


@dataclass(frozen=True)
class TriageRules:
    """Every language's compiled rules, loaded from one directory of <lang>.yaml files."""

    by_language: Mapping[str, LanguageRules]

    @classmethod
    def load(cls, triage_dir: Path) -> TriageRules:
        files = sorted(Path(triage_dir).glob("*.yaml"))
        if not files:
            raise ValueError(f"{triage_dir}: no triage rule files (<lang>.yaml) found")
        return cls({path.stem.casefold(): load_language(path) for path in files})

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_language))

    def for_language(self, language: str | None) -> LanguageRules | None:
        """Rules for "en", "en-GB", "EN_gb" ...; None when no file covers the language."""
        code = (language or "").strip().casefold().replace("_", "-")
        return self.by_language.get(code) or self.by_language.get(code.split("-")[0])


# --- loading and validation --------------------------------------------------------------------------------

REASON_KEYS = (
    "question",
    "photo",
    "media",
    "unrecognised",
    "too_many_unknown_words",
    "empty",
    "no_warning_signs",
    "language_not_configured",
    "other_language",
)
_TOP_KEYS = {
    "language",
    "labels",
    "reasons",
    "matching",
    "rewrite",
    "known_words",
    "neutral_words",
    "everyday_words",
    "negation",
    "questions",
    "vocab",
    "history",
    "ask_back",
    "rules",
}
_HISTORY_KEYS = {
    "past", "others_past", "others", "own", "present", "possessive", "came_back", "returned", "resolved",
    "reporting", "holds", "shared", "unrelated", "apart_from", "for_client", "comparison",
    "elsewhere", "animals", "improved", "felt", "ended", "worried_for", "courtesy", "body", "not_the_client",
}
_ASK_BACK_KEYS = {"question", "options", "reason", "none_reason"}
_NEGATION_KEYS = {
    "before",
    "after",
    "reversed_by",
    "not_negations",
    "hard_breaks",
    "soft_breaks",
    "joiners",
    "window",
}
_QUESTION_KEYS = {"marks", "starters", "skip_words", "phrases", "not_questions"}
_RULE_KEYS = {
    "id",
    "level",
    "reason",
    "terms",
    "all",
    "within",
    "unless",
    "from_day",
    "until_day",
    "when_negated",
    "negated_reason",
    "clinical",
    "asks",
    "even_if_over",
    "own_only",
    "past_is_over",
    "not_within",
}
_MATCHING_KEYS = {
    "phrase_gap", "max_unknown_words", "words_per_unknown_word", "fuzzy_min_length", "fuzzy_stem_min_length", "transliterate",
}


def load_language(path: Path) -> LanguageRules:
    """The rules of one file; a file read before and unchanged since is not compiled again."""
    try:
        stat = path.stat()
    except OSError:
        return _load_language.__wrapped__(path, 0, 0)  # explains what cannot be read
    return _load_language(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load_language(path: Path, _mtime_ns: int, _size: int) -> LanguageRules:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read triage rules: {exc}") from exc
    return _Compiler(path).compile(data)


class _Compiler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.vocab: dict[str, list[str]] = {}
        self.term_ids: dict[tuple[int, ...], int] = {}
        self.terms: list[tuple[int, ...]] = []
        self.term_text: list[str] = []
        self.rewrites: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def fail(self, where: str, message: str) -> ValueError:
        return ValueError(f"{self.path}: {where}: {message}")

    def compile(self, data: Any) -> LanguageRules:
        data = self.mapping(
            data, "file", _TOP_KEYS, required={"labels", "reasons", "negation", "questions", "rules"}
        )
        if data.get("language", self.path.stem) != self.path.stem:
            raise self.fail("language", f"is {data['language']!r} but the file is named {self.path.name}")
        matching = self.mapping(data.get("matching", {}), "matching", _MATCHING_KEYS)
        phrase_gap = self.integer(matching.get("phrase_gap", 2), "matching.phrase_gap", 0, 5)
        max_unknown = self.integer(matching.get("max_unknown_words", 3), "matching.max_unknown_words", 0, 100)
        per_unknown = self.integer(
            matching.get("words_per_unknown_word", 0), "matching.words_per_unknown_word", 0, 1000
        )
        fuzzy_min = self.integer(matching.get("fuzzy_min_length", 5), "matching.fuzzy_min_length", 3, 50)
        fuzzy_stem_min = self.integer(
            matching.get("fuzzy_stem_min_length", fuzzy_min), "matching.fuzzy_stem_min_length", 3, 50
        )
        transliteration = (
            self.transliteration(matching["transliterate"]) if "transliterate" in matching else None
        )
        for source, target in self.mapping(data.get("rewrite", {}), "rewrite").items():
            src, dst = self.text(source, "rewrite"), self.text(target, f"rewrite {source!r}")
            if not tokenise(src):
                raise self.fail("rewrite", f"{source!r} has no words")
            self.rewrites.append((tuple(tokenise(src)), tuple(tokenise(dst))))
        self.rewrites.sort(key=lambda pair: -len(pair[0]))
        neutral = self.words(data.get("neutral_words", []), "neutral_words")
        negation_data = self.mapping(
            data["negation"], "negation", _NEGATION_KEYS, required={"before", "after", "hard_breaks"}
        )
        hard = self.words(negation_data["hard_breaks"], "negation.hard_breaks")
        soft = self.words(negation_data.get("soft_breaks", []), "negation.soft_breaks")
        known = self.words(data.get("known_words", []), "known_words")
        self.lexicon = Lexicon(fuzzy_min, neutral | known | hard | soft, fuzzy_stem_min)
        for name, entries in self.mapping(data.get("vocab", {}), "vocab").items():
            self.vocab[self.text(name, "vocab")] = self.strings(entries, f"vocab {name!r}")
        negation = Negation(
            before=self.term_list(negation_data["before"], "negation.before"),
            after=self.term_list(negation_data["after"], "negation.after"),
            reversed_by=self.term_list(negation_data.get("reversed_by", []), "negation.reversed_by"),
            not_negations=self.term_list(negation_data.get("not_negations", []), "negation.not_negations"),
            hard_breaks=hard,
            soft_breaks=soft,
            joiners=self.words(negation_data.get("joiners", []), "negation.joiners"),
            window=self.integer(negation_data.get("window", 4), "negation.window", 1, 12),
        )
        q = self.mapping(data["questions"], "questions", _QUESTION_KEYS)
        questions = Questions(
            marks=tuple(normalise(m) for m in self.strings(q.get("marks", ["?"]), "questions.marks")),
            starters=self.term_list(q.get("starters", []), "questions.starters"),
            skip_words=self.words(q.get("skip_words", []), "questions.skip_words"),
            phrases=self.term_list(q.get("phrases", []), "questions.phrases"),
            not_questions=self.term_list(q.get("not_questions", []), "questions.not_questions"),
        )
        h = self.mapping(data.get("history", {}), "history", _HISTORY_KEYS)
        history = History(**{key: self.term_list(h.get(key, []), f"history.{key}") for key in sorted(_HISTORY_KEYS)})
        rules = self.rules(data["rules"])
        self.lexicon.freeze()
        first_word: dict[int, list[int]] = {}
        for tid, words in enumerate(self.terms):
            first_word.setdefault(words[0], []).append(tid)
        days = {0} | {r.from_day for r in rules if r.from_day is not None}
        days |= {r.until_day + 1 for r in rules if r.until_day is not None}
        return LanguageRules(
            language=self.path.stem,
            source=self.path,
            lexicon=self.lexicon,
            terms=self.terms,
            term_text=self.term_text,
            rewrites=self.rewrites,
            labels=self.labels(data["labels"]),
            reasons=self.reasons(data["reasons"]),
            phrase_gap=phrase_gap,
            max_unknown_words=max_unknown,
            words_per_unknown_word=per_unknown,
            # Everyday words only count as known; unlike neutral_words they do not stop a misspelt symptom
            # from matching ("breeding" may still be "bleeding").
            neutral_words=neutral | self.words(data.get("everyday_words", []), "everyday_words"),
            negation=negation,
            questions=questions,
            history=history,
            ask_back=self.ask_back(data["ask_back"]) if "ask_back" in data else None,
            rules=rules,
            transliteration=transliteration,
            terms_by_first_word=first_word,
            head_terms=frozenset(t for r in rules for t in r.groups[0]),
            symptom_terms=frozenset(t for r in rules if r.level is not TriageLevel.ROUTINE for t in r.groups[0]),
            clinical_heads=frozenset(t for r in rules if r.clinical for t in r.groups[0]),
            question_rules=frozenset(r.id for r in rules if r.asks),
            rule_terms=frozenset(t for r in rules for group in (*r.groups, r.unless, r.not_within) for t in group),
            candidate_days=tuple(sorted(days)),
        )

    # -- sections --

    def transliteration(self, data: Any) -> Transliteration:
        where = "matching.transliterate"
        table: dict[str, tuple[str, ...]] = {}
        for group, spellings in self.mapping(data, where).items():
            latin = normalise(self.text(group, where))
            if not (latin.isascii() and latin.isalpha()):
                raise self.fail(where, f"{group!r}: the groups are Latin letters ('zh', 'ya')")
            listed = spellings if isinstance(spellings, list) else [spellings]
            if not listed:
                raise self.fail(where, f"{group!r}: give at least one spelling")
            choices = []
            for spelling in listed:
                text = normalise(self.text(spelling, f"{where} {group!r}"))
                if not text.isalpha() or text.isascii():
                    raise self.fail(where, f"{group!r}: {spelling!r} must be letters of another script")
                choices.append(text)
            table[latin] = tuple(dict.fromkeys(choices))
        if not table:
            raise self.fail(where, "must map at least one Latin letter group")
        return Transliteration(table)

    def labels(self, data: Any) -> dict[TriageLevel, str]:
        data = self.mapping(
            data, "labels", {lvl.value for lvl in TriageLevel}, required={lvl.value for lvl in TriageLevel}
        )
        return {TriageLevel(k): self.text(v, f"labels.{k}") for k, v in data.items()}

    def reasons(self, data: Any) -> dict[str, str]:
        data = self.mapping(data, "reasons", set(REASON_KEYS), required=set(REASON_KEYS) - {"other_language"})
        return {k: self.text(v, f"reasons.{k}") for k, v in data.items()}

    def ask_back(self, data: Any) -> AskBack:
        data = self.mapping(data, "ask_back", _ASK_BACK_KEYS, required=_ASK_BACK_KEYS)
        options = []
        if not isinstance(data["options"], list) or len(data["options"]) < 2:
            raise self.fail("ask_back.options", "must list at least two options of {id, label}")
        for number, entry in enumerate(data["options"], start=1):
            where = f"ask_back.options #{number}"
            entry = self.mapping(entry, where, {"id", "label"}, required={"id", "label"})
            option_id = self.text(entry["id"], where + " id")
            if not option_id.isascii() or not option_id.replace("_", "").isalnum() or len(option_id) > 16:
                raise self.fail(where, f"id {option_id!r} must be up to 16 letters, digits or _")
            options.append(AskOption(option_id, self.text(entry["label"], where + " label")))
        ids = [o.id for o in options]
        if len(set(ids)) != len(ids) or NO_WARNING_SIGN not in ids:
            raise self.fail("ask_back.options", f"ids must differ, and one must be {NO_WARNING_SIGN!r}")
        return AskBack(
            question=self.text(data["question"], "ask_back.question"),
            options=tuple(options),
            reason=self.text(data["reason"], "ask_back.reason"),
            none_reason=self.text(data["none_reason"], "ask_back.none_reason"),
        )

    def rules(self, data: Any) -> tuple[Rule, ...]:
        if not isinstance(data, list) or not data:
            raise self.fail("rules", "must be a non-empty list of rules")
        rules: list[Rule] = []
        seen: set[str] = set()
        for number, entry in enumerate(data, start=1):
            rule_id = entry.get("id") if isinstance(entry, dict) else None
            where = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{number}"
            entry = self.mapping(entry, where, _RULE_KEYS, required={"id", "level", "reason"})
            rule_id = self.text(entry["id"], where + " id")
            if rule_id in seen:
                raise self.fail(where, "id is used by another rule")
            seen.add(rule_id)
            rules.append(self.rule(entry, where))
        return tuple(rules)

    def rule(self, entry: dict[str, Any], where: str) -> Rule:
        if ("terms" in entry) == ("all" in entry):
            raise self.fail(
                where, "needs exactly one of 'terms' (any one matches) or 'all' (one from each list)"
            )
        if "terms" in entry:
            groups: tuple[tuple[int, ...], ...] = (self.term_list(entry["terms"], where + " terms"),)
        else:
            lists = entry["all"]
            if not isinstance(lists, list) or len(lists) < 2:
                raise self.fail(where, "'all' must be a list of at least two lists of terms")
            groups = tuple(self.term_list(item, f"{where} all[{i}]") for i, item in enumerate(lists))
        within = entry.get("within", "message")
        if within not in ("message", "sentence", "clause"):
            raise self.fail(where, f"within must be message, sentence or clause, not {within!r}")
        from_day = self.day(entry.get("from_day"), where + " from_day")
        until_day = self.day(entry.get("until_day"), where + " until_day")
        if from_day is not None and until_day is not None and from_day > until_day:
            raise self.fail(where, f"from_day {from_day} is after until_day {until_day}")
        when_negated = (
            self.level(entry["when_negated"], where + " when_negated") if "when_negated" in entry else None
        )
        negated_reason = entry.get("negated_reason", "")
        if when_negated is not None:
            negated_reason = self.text(negated_reason, where + " negated_reason (needed with when_negated)")
        return Rule(
            id=entry["id"],
            level=self.level(entry["level"], where + " level"),
            reason=self.text(entry["reason"], where + " reason"),
            groups=groups,
            within=within,
            unless=self.term_list(entry["unless"], where + " unless") if "unless" in entry else (),
            from_day=from_day,
            until_day=until_day,
            when_negated=when_negated,
            negated_reason=negated_reason,
            clinical=self.flag(entry.get("clinical", True), where + " clinical"),
            asks=self.flag(entry.get("asks", False), where + " asks"),
            even_if_over=self.flag(entry.get("even_if_over", False), where + " even_if_over"),
            own_only=self.flag(entry.get("own_only", False), where + " own_only"),
            past_is_over=self.flag(entry.get("past_is_over", False), where + " past_is_over"),
            not_within=self.term_list(entry["not_within"], where + " not_within") if "not_within" in entry else (),
        )

    # -- terms --

    def term_list(self, data: Any, where: str) -> tuple[int, ...]:
        ids: list[int] = []
        for entry in self.expand(self.strings(data, where), where, ()):
            tid = self.term(entry, where)
            if tid not in ids:
                ids.append(tid)
        return tuple(ids)

    def expand(self, entries: list[str], where: str, seen: tuple[str, ...]) -> Iterable[str]:
        for entry in entries:
            if not entry.startswith("@"):
                yield entry
                continue
            name = entry[1:]
            if name not in self.vocab:
                raise self.fail(where, f"{entry!r} names no list under vocab")
            if name in seen:
                raise self.fail(where, f"vocab list {name!r} refers to itself")
            yield from self.expand(self.vocab[name], f"vocab {name!r}", (*seen, name))

    def term(self, text: str, where: str) -> int:
        words: list[tuple[str, bool]] = []  # (word, written with a trailing *)
        for piece in text.split():
            stem = piece.removesuffix("*")
            parts = tokenise(stem)
            if "*" in stem or (stem != piece and (len(parts) != 1 or len(parts[0]) < 3)):
                raise self.fail(where, f"{text!r}: '*' goes at the end of a word of 3+ letters ('blister*')")
            words.extend((part, stem != piece) for part in parts)
        if not any(prefix for _, prefix in words):
            words = [(word, False) for word in rewrite([word for word, _ in words], self.rewrites)]
        if not words:
            raise self.fail(where, f"{text!r} has no words")
        key = tuple(self.lexicon.add(WordPattern(word, prefix)) for word, prefix in words)
        if key not in self.term_ids:
            self.term_ids[key] = len(self.terms)
            self.terms.append(key)
            self.term_text.append(text)
        return self.term_ids[key]

    # -- scalars --

    def mapping(
        self, data: Any, where: str, allowed: set[str] | None = None, required: Iterable[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, "must be a mapping (key: value)")
        if allowed is not None and (unknown := set(map(str, data)) - allowed):
            raise self.fail(where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if missing := set(required) - set(data):
            raise self.fail(where, f"missing key(s) {sorted(missing)}")
        return data

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(
                where, f"must be non-empty text, got {value!r} (quote words like no, yes, on, off)"
            )
        return value

    def strings(self, data: Any, where: str) -> list[str]:
        if not isinstance(data, list):
            raise self.fail(where, "must be a list")
        return [self.text(item, where) for item in data]

    def words(self, data: Any, where: str) -> frozenset[str]:
        words: set[str] = set()
        for item in self.strings(data, where):
            tokens = rewrite(tokenise(item), self.rewrites)
            if len(tokens) != 1:
                raise self.fail(where, f"{item!r} must be a single word")
            words.add(tokens[0])
        return frozenset(words)

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"must be true or false, got {value!r}")
        return value

    def day(self, value: Any, where: str) -> int | None:
        return None if value is None else self.integer(value, where, 0, 3650)

    def level(self, value: Any, where: str) -> TriageLevel:
        try:
            return TriageLevel(value)
        except ValueError:
            raise self.fail(where, f"{value!r} is not a level; use urgent, concern or routine") from None
