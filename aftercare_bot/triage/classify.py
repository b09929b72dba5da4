"""Red-flag triage of client messages: urgent, concern or routine, with the reasons why.

The vocabulary lives in messages/triage/<lang>.yaml (see the comments there); this module only applies it:
normalise -> tokenise -> find every term (with spelling tolerance) -> work out which terms are negated ->
fire rules -> take the highest level. Clinical safety shapes the choices: anything unclear goes up a level,
negation only ever covers the symptom right next to its cue, and an unknown day counts as every day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from aftercare_bot.triage.history import past_or_others, said_by_others
from aftercare_bot.triage.rules import (
    PUNCTUATION,
    SENTENCE_ENDS,
    LanguageRules,
    Rule,
    TriageLevel,
    TriageRules,
    names,
    normalise,
)

__all__ = ["TriageLevel", "TriageResult", "TriageRules", "triage"]

Span = tuple[int, int]


@dataclass(frozen=True)
class TriageResult:
    level: TriageLevel
    reasons: tuple[str, ...]  # for staff, highest level first
    rule_ids: tuple[str, ...] = ()  # machine-readable: rule ids plus question/photo/media/unrecognised/...
    # A question about the aftercare itself (booking, products, when to exercise): for staff, not a symptom.
    is_question: bool = False
    # Concern about a symptom (or words the rules do not know) with no warning sign found: the client is asked
    # which warning sign, if any, applies (the rule file's ask_back).
    ask_back: bool = False
    unknown_words: int = 0  # words of the message the rules do not know


# Marks that open what they ask or exclaim (Spanish), where "?" and "!" close it.
_OPENING_MARKS = frozenset("¿¡")
# Notes that say nothing about a symptom: with a question, they leave it a question.
_NOT_UNDERSTOOD = frozenset({"unrecognised", "too_many_unknown_words", "language_not_configured"})
_NOT_CLINICAL = _NOT_UNDERSTOOD | {"question"}


@dataclass
class _Finding:
    level: TriageLevel
    reason: str
    rule_id: str
    clinical: bool = True
    snippet: str | None = None  # the client's words a rule matched; None for a check that is not a rule
    negated: bool = False  # said with a negation ("not fine"): the rule's negated_reason

    def said_in(self, lang: LanguageRules) -> str:
        """The reason in another language's words, for staff who read that language; as found if it has no
        rule or text of that name. The client's words are quoted as written."""
        label = lang.labels[self.level]
        if self.snippet is None:
            text = lang.reasons.get(self.rule_id)
            return f"{label}: {text}" if text else self.reason
        rule = lang.rule_by_id.get(self.rule_id)
        if rule is None:
            return self.reason
        return f"{label}: {rule.negated_reason if self.negated else rule.reason} ('{self.snippet}')"


def triage(
    rules: TriageRules,
    text: str | None,
    *,
    language: str,
    day_since_session: int | None,
    has_photo: bool = False,
    has_media: bool = False,
    reasons_in: str | None = None,
) -> TriageResult:
    """`reasons_in`: the language staff read the reasons in (their rules' words), if not the client's."""
    lang = rules.for_language(language)
    if lang is not None:
        staff = rules.for_language(reasons_in) if reasons_in else None
        own = _Analysis(lang, text or "")
        result = _triage_in(lang, text or "", day_since_session, has_photo, has_media, reasons_in=staff,
                            analysis=own)
        return _in_another_language(rules, own, result, day_since_session) or result
    # No rules for this language: try every language we have, and never call the message routine. Latin words
    # are read as typed only: reading them as another script is a habit of that language's own clients, and
    # would turn English words into Russian ones ("temperature" -> "температуре").
    results = [
        _triage_in(rules.by_language[code], text or "", day_since_session, has_photo, has_media,
                   transliterate=False)
        for code in rules.languages
    ]
    best = max(results, key=lambda r: r.level.rank)
    first = rules.by_language[rules.languages[0]]
    note = f"{first.labels[TriageLevel.CONCERN]}: {first.reasons['language_not_configured']} ({language!r})"
    level = best.level if best.level is TriageLevel.URGENT else TriageLevel.CONCERN
    question = best.is_question and level is TriageLevel.CONCERN
    return TriageResult(level, (*best.reasons, note), (*best.rule_ids, "language_not_configured"),
                        is_question=question, ask_back=level is TriageLevel.CONCERN and not question)


def _in_another_language(
    rules: TriageRules, own: _Analysis, result: TriageResult, day: int | None
) -> TriageResult | None:
    """A client may write in another language the bot has rules for ("ok, губы опухли" from an English client):
    when a word of the message is unknown to their own language's rules, a warning sign that another language's
    rules find counts. Those read words exactly as written (no spelling tolerance, no other script), so an
    English word is not taken for a misspelt Spanish one."""
    if result.level is TriageLevel.URGENT or (result.unknown_words == 0 and "unrecognised" not in result.rule_ids):
        return None
    # Only the words the client's own language does not know are read the other way ("pus" in an English
    # message is English, and the English rules have already weighed it).
    lang = own.lang
    # Numbers are read by every language alike: "38" in "carded at 38" is an age, not a Russian temperature.
    known = {pos for pos, token in enumerate(own.tokens)
             if own.words[pos] or token in lang.neutral_words or not token.isalpha()}
    for code in rules.languages:
        other = rules.by_language[code]
        if other is lang:
            continue
        found = _triage_in(other, own.text, day, False, False, foreign=known)
        if found.level is TriageLevel.URGENT:
            reason = lang.reasons.get("other_language", "{language}").format(language=code)
            note = f"{lang.labels[TriageLevel.CONCERN]}: {reason}"
            return TriageResult(found.level, (*found.reasons, note), (*found.rule_ids, "other_language"))
    return None


def _triage_in(
    lang: LanguageRules, text: str, day: int | None, photo: bool, media: bool, *, transliterate: bool = True,
    foreign: set[int] | None = None, reasons_in: LanguageRules | None = None, analysis: _Analysis | None = None,
) -> TriageResult:
    """Triage in one language. `foreign`: positions of words another language already knows; those words do
    not count here, and the rest are read exactly as written. `analysis`: the message already analysed."""
    if analysis is None:
        analysis = _Analysis(lang, text, transliterate=transliterate and foreign is None, fuzzy=foreign is None,
                             ignore=foreign or set())
    days = (day,) if day is not None else lang.candidate_days
    outcomes = [_decide(lang, analysis, d, photo, media) for d in days]
    findings = max(outcomes, key=lambda found: found[0].level.rank)
    level = findings[0].level
    # A question whose only findings are about the aftercare (or words not known) goes to staff as a question.
    concerns = [f for f in findings if f.level is not TriageLevel.ROUTINE]
    not_clinical = [f for f in concerns if not f.clinical]
    # Only about the aftercare, booking or products, and asked as such (or about booking): a question for staff.
    # A question the rules do not understand at all may be about a symptom: it is asked back instead.
    about_aftercare = any(f.rule_id not in _NOT_CLINICAL for f in not_clinical)
    understood = not any(f.rule_id in _NOT_UNDERSTOOD for f in concerns)
    question = (
        level is TriageLevel.CONCERN
        and len(not_clinical) == len(concerns)
        and (
            any(f.rule_id in lang.question_rules for f in not_clinical)
            or (analysis.is_question and (about_aftercare or understood))
        )
    )
    # A symptom (or words not understood) with no warning sign: the client is asked which one, if any, applies.
    unplaced = any(f.clinical or f.rule_id in _NOT_UNDERSTOOD for f in concerns)
    said_in = reasons_in if reasons_in is not None and reasons_in is not lang else None
    return TriageResult(
        level,
        tuple(f.said_in(said_in) if said_in else f.reason for f in findings),
        tuple(dict.fromkeys(f.rule_id for f in findings)),
        is_question=question,
        ask_back=level is TriageLevel.CONCERN and not question and unplaced,
        unknown_words=analysis.unknown_words,
    )


def _decide(lang: LanguageRules, analysis: _Analysis, day: int, photo: bool, media: bool) -> list[_Finding]:
    labels, reasons = lang.labels, lang.reasons
    concern = TriageLevel.CONCERN

    def note(key: str) -> _Finding:
        return _Finding(concern, f"{labels[concern]}: {reasons[key]}", key, key not in _NOT_CLINICAL)

    findings = [found for rule in lang.rules if rule.applies_on(day) for found in analysis.fire(rule)]
    # Understood = some rule fired today, or the client negated something ("no fever", "nope, nothing").
    understood = (bool(findings) or analysis.negation_seen or bool(analysis.discounted) or analysis.others_wish) \
        and not analysis.body_unplaced
    if analysis.is_question:
        findings.append(note("question"))
    if photo:
        findings.append(note("photo"))
    if media:
        findings.append(note("media"))
    if not analysis.text.strip():
        if not findings:
            routine = TriageLevel.ROUTINE
            findings.append(_Finding(routine, f"{labels[routine]}: {reasons['empty']}", "empty"))
    elif not understood:
        findings.append(note("unrecognised"))
    elif analysis.unknown_words > (lang.max_unknown_words if analysis.unknown_near_body
                                   else lang.unknown_words_allowed(analysis.word_count)):
        findings.append(note("too_many_unknown_words"))
    if not findings:
        routine = TriageLevel.ROUTINE
        findings.append(
            _Finding(routine, f"{labels[routine]}: {reasons['no_warning_signs']}", "no_warning_signs")
        )
    findings.sort(key=lambda f: -f.level.rank)
    return findings


class _Analysis:
    """Everything about one message that does not depend on the day: term spans and negated positions."""

    def __init__(
        self, lang: LanguageRules, text: str, *, transliterate: bool = True, fuzzy: bool = True,
        ignore: set[int] | None = None,
    ) -> None:
        self.ignore = ignore or set()
        self.lang = lang
        self.text = text
        self.tokens = lang.tokens(text)
        # Each token as typed and, in a language with a transliteration table, as read in its own script.
        self.forms = [lang.forms(t) if transliterate else (t,) for t in self.tokens]
        self.words = [lang.matches(t) if transliterate else lang.lexicon.matches(t, fuzzy) for t in self.tokens]
        self.word_positions: dict[tuple[int, Span], tuple[int, ...]] = {}
        self.spans = self._find_terms()
        self.clause_of, self.sentence_of = self._segments()
        self.written_as_names = names(text)
        self.negated, self.negated_before = self._negated_positions()
        self.came_back_at = [s for s, _ in self._spans_of(lang.history.came_back) if s not in self.negated]
        self.theirs, self.discounted, self.improved, self.felt_before = past_or_others(self)
        self.others_say = said_by_others(self)
        # "my mum wants to book": understood, and not the client's. Someone else worried says nothing about
        # what the client wrote, so it does not make a message understood.
        self.others_wish = any(span[0] in self.others_say for rule in lang.rules if rule.own_only and not rule.clinical
                               for span in self._spans_of(rule.groups[0]))
        self.is_question = self._is_question()
        self.negation_seen, self.unknown_words, self.unknown_near_body = self._coverage()
        self.word_count = sum(token.isalpha() for token in self.tokens)
        self.body_unplaced = self._body_unplaced()

    # -- term matching --

    def _is(self, pos: int, words: frozenset[str]) -> bool:
        return any(form in words for form in self.forms[pos])

    def _is_break(self, pos: int, soft: bool = False) -> bool:
        negation = self.lang.negation
        return (
            self.tokens[pos] in PUNCTUATION
            or self._is(pos, negation.hard_breaks)
            or (soft and self._is(pos, negation.soft_breaks))
        )

    def _find_terms(self) -> dict[int, list[Span]]:
        spans: dict[int, list[Span]] = defaultdict(list)
        for start, word_ids in enumerate(self.words):
            for word_id in word_ids:
                for tid in self.lang.terms_by_first_word.get(word_id, ()):
                    positions = self._extend(self.lang.terms[tid], start)
                    span = (start, positions[-1] + 1) if positions else None
                    if span is not None and span not in spans[tid]:
                        spans[tid].append(span)
                        self.word_positions[tid, span] = positions
        return spans

    def _extend(self, words: tuple[int, ...], start: int) -> tuple[int, ...] | None:
        """Positions of the phrase's words from start, allowing a few other words between them."""
        positions = [start]
        for word_id in words[1:]:
            pos = positions[-1]
            for nxt in range(pos + 1, min(len(self.tokens), pos + 2 + self.lang.phrase_gap)):
                if word_id in self.words[nxt]:
                    positions.append(nxt)
                    break
                if self._is_break(nxt):
                    return None
            else:
                return None
        return tuple(positions)

    def _spans_of(self, term_ids: tuple[int, ...]) -> list[Span]:
        found = self.spans
        if len(term_ids) > len(found):  # a long list against the few terms a message has
            wanted = self.lang.term_set(term_ids)
            return sorted(span for tid, spans in found.items() if tid in wanted for span in spans)
        return sorted(span for tid in term_ids for span in found.get(tid, ()))

    def _found(self, term_ids: frozenset[int]) -> list[Span]:
        """Spans of the terms of a (large) set that the message has."""
        return sorted(span for tid, spans in self.spans.items() if tid in term_ids for span in spans)

    def _segments(self) -> tuple[list[int], list[int]]:
        clause, sentence = [], []
        c = s = 0
        for pos, token in enumerate(self.tokens):
            if self._is_break(pos):
                c += 1
            if token in SENTENCE_ENDS:
                s += 1
            clause.append(c)
            sentence.append(s)
        return clause, sentence

    # -- negation --

    def _negated_positions(self) -> tuple[set[int], set[int]]:
        """Negated positions, and those negated by a cue before them ("not fine", unlike "fine 😂 gone now")."""
        negation = self.lang.negation
        claimed: set[int] = set()  # cue tokens that are part of something else ("not sure", "can't breathe")
        for tid, spans in self.spans.items():
            if (
                len(self.lang.terms[tid]) > 1
                and tid in self.lang.rule_terms
                and tid not in negation.before
                and tid not in negation.after
            ):
                for span in spans:
                    claimed.update(self.word_positions[tid, span])
        for start, end in self._spans_of(negation.not_negations):
            claimed.update(range(start, end))

        negated: set[int] = set()
        negated_before: set[int] = set()
        heads_from, heads_to = self._head_index()
        reversed_spans = self._spans_of(negation.reversed_by)
        before = self._spans_of(negation.before)
        for cue in before:
            if claimed.intersection(range(*cue)):
                continue
            # "won't stop", "isn't going down": the cue negates the stopping, so the symptom still counts.
            hit = next(
                (
                    r
                    for r in reversed_spans
                    if cue[1] <= r[0] < cue[1] + negation.window
                    and not any(self._is_break(p) or p in heads_from for p in range(cue[1], r[0]))
                ),
                None,
            )
            if hit is not None:
                claimed.update(range(*cue))
                claimed.update(range(*hit))
                negated.update(range(*hit))
                negated_before.update(range(*hit))
        symptoms_at = {start for start, _ in self._found(self.lang.symptom_terms)}
        for start, end in self._spans_of(negation.after):
            if not claimed.intersection(range(start, end)) and not self._becomes(end, symptoms_at):
                scope = self._backward_scope(start, heads_to)
                negated.update(scope)
                if any(pos in heads_from for pos in scope):
                    # "bleeding has stopped 👍": it negated what came before, so not what follows.
                    claimed.update(range(start, end))
        for start, end in before:
            if not claimed.intersection(range(start, end)):
                negated_before.update(self._forward_scope(end, heads_from))
        return negated | negated_before, negated_before

    def _body_unplaced(self) -> bool:
        """The message names a body part, and nothing a clinical rule knows and no negation: "morning, one side of
        my face has dropped". Politeness does not place it; "my face is glowing" and "no pain" do."""
        lang = self.lang
        body = {start for start, _ in self._spans_of(lang.history.body)}
        if not body:
            return False
        # The body part itself ("lips" is what a rule about the lips names first) does not place it either.
        said = body | {pos for start, end in self._spans_of(lang.history.courtesy) for pos in range(start, end)}
        placed = any(start not in said for start, _ in self._found(lang.clinical_heads))
        return not (placed or self._spans_of(lang.negation.before) or self._spans_of(lang.negation.after))

    def _becomes(self, cue_end: int, symptoms_at: set[int]) -> bool:
        """ "gone kind of puffy", "went really red": the cue says what it turned into, so it negates nothing."""
        for pos in range(cue_end, min(len(self.tokens), cue_end + 3)):
            if pos in symptoms_at:
                return True
            if self._is_break(pos) or self.tokens[pos] in self.lang.negation.joiners:
                return False
        return False

    def _head_index(self) -> tuple[dict[int, int], dict[int, int]]:
        """Symptom phrases (not qualifiers like "severe"): start -> furthest end, end -> earliest start."""
        heads_from: dict[int, int] = {}
        heads_to: dict[int, int] = {}
        for start, end in self._found(self.lang.head_terms):
            heads_from[start] = max(end, heads_from.get(start, end))
            heads_to[end] = min(start, heads_to.get(end, start))
        return heads_from, heads_to

    def _forward_scope(self, cue_end: int, heads_from: dict[int, int]) -> range:
        """A cue covers words up to and including the first symptom after it, and symptoms joined by "or"."""
        window, count = self.lang.negation.window, len(self.tokens)
        pos = cue_end
        while pos < min(count, cue_end + window) and not self._is_break(pos, soft=True):
            if pos in heads_from:
                end = heads_from[pos]
                while end < count and self._is(end, self.lang.negation.joiners):
                    nxt = next(
                        (
                            p
                            for p in range(end + 1, min(count, end + 1 + window))
                            if p in heads_from or self._is_break(p, soft=True)
                        ),
                        None,
                    )
                    if nxt is None or nxt not in heads_from:
                        break
                    end = heads_from[nxt]
                return range(cue_end, end)
            pos += 1
        return range(cue_end, pos)

    def _backward_scope(self, cue_start: int, heads_to: dict[int, int]) -> range:
        """An after-cue ("bleeding stopped") covers the nearest symptom before it."""
        window = self.lang.negation.window
        pos = cue_start
        while pos > max(0, cue_start - window) and not self._is_break(pos - 1, soft=True):
            if pos in heads_to:
                start = heads_to[pos]
                while (
                    start > 0
                    and self._is(start - 1, self.lang.negation.joiners)
                    and start - 1 in heads_to
                ):
                    start = heads_to[start - 1]
                return range(start, cue_start)
            pos -= 1
        return range(pos, cue_start)

    # -- time and person --

    # -- questions and coverage --

    def _is_question(self) -> bool:
        questions = self.lang.questions
        normalised = normalise(self.text)
        if self._spans_of(questions.phrases):
            return True
        if any(mark in normalised for mark in questions.marks) and not self._only_courtesy_asked():
            return True
        starters = {s for s, _ in self._spans_of(questions.starters)}
        not_questions = {s for s, _ in self._spans_of(questions.not_questions)}
        pos, count = 0, len(self.tokens)
        while pos < count:
            while pos < count and (self._is(pos, questions.skip_words) or self._is_break(pos)):
                pos += 1
            if pos in starters and pos not in not_questions:
                return True
            while pos < count and not self._is_break(pos):
                pos += 1
        return False

    def _only_courtesy_asked(self) -> bool:
        """Every sentence a question mark opens or closes is a greeting listed under not_questions ("¿qué tal?",
        "how are you?"): a courtesy, not a question for staff."""
        questions = self.lang.questions
        courtesy = {pos for start, end in self._spans_of(questions.not_questions) for pos in range(start, end)}
        opening = set(questions.marks) & _OPENING_MARKS  # "¿" asks what follows it, "?" what comes before
        closing = set(questions.marks) - _OPENING_MARKS
        bounds = [-1, *(pos for pos, token in enumerate(self.tokens) if token in SENTENCE_ENDS), len(self.tokens)]
        asked = False
        for left, right in pairwise(bounds):
            if (left >= 0 and self.tokens[left] in opening) or (
                right < len(self.tokens) and self.tokens[right] in closing
            ):
                words = [pos for pos in range(left + 1, right) if self.tokens[pos] not in PUNCTUATION]
                if not words:
                    continue
                # "hola?" is someone waiting for an answer: only a listed courtesy makes it no question.
                if not courtesy.intersection(words) or any(
                    pos not in courtesy and self.tokens[pos] not in questions.skip_words for pos in words
                ):
                    return False
                asked = True
        return asked

    def _coverage(self) -> tuple[bool, int, bool]:
        """Whether any negation was used, how many words no term, cue or neutral list accounts for, and whether
        one of those is near a body part or a symptom ("my jaw looks a bit Blackened")."""
        lang = self.lang
        covered: set[int] = set()
        for spans in self.spans.values():
            for start, end in spans:
                covered.update(range(start, end))
        cues = self._spans_of(lang.negation.before) + self._spans_of(lang.negation.after)
        negated_heads = any(
            self._is_negated(span) for span in self._found(lang.head_terms)
        )
        body = {end - 1 for start, end in self._spans_of(lang.history.own) if end - start > 1}
        body |= {start for start, _ in self._found(lang.symptom_terms)}
        unknown_at = [pos for pos, token in enumerate(self.tokens)
                      if pos not in covered and token.isalpha() and not self._is(pos, lang.neutral_words)]
        near_body = {pos for pos in unknown_at if any(b - 1 <= pos <= b + 4 for b in body)}
        # A name is known, unless it stands where a description would ("my jaw looks a bit Blackened").
        unknown = [pos for pos in unknown_at if pos in near_body or self.tokens[pos] not in self.written_as_names]
        # A negation says the message was understood only when it negated a symptom, or every word is known:
        # "nope, nothing" is, "my tongue does not fit in my mouth" (with words the rules do not know) is not.
        return negated_heads or (bool(cues) and not unknown), len(unknown), bool(near_body)

    # -- rules --

    def fire(self, rule: Rule) -> list[_Finding]:
        if rule.level is TriageLevel.ROUTINE:
            over: set[int] = set()
        else:
            over = self.theirs if rule.even_if_over else self.discounted
        if rule.own_only:
            over = over | self.others_say
        if rule.level is TriageLevel.CONCERN:
            over = over | self.improved
        if rule.past_is_over:
            over = over | self.felt_before
        inside = [range(*span) for span in self._spans_of(rule.not_within)]

        def counts(span: Span) -> bool:
            return (not self._is_negated(span) and span[0] not in over
                    and not self.ignore.intersection(range(*span))
                    and not any(span[0] in r and span[1] - 1 in r for r in inside))

        positive = [[s for s in self._spans_of(group) if counts(s)] for group in rule.groups]
        if rule.unless and any(not self._is_negated(s) for s in self._spans_of(rule.unless)):
            return []
        chosen = self._together(positive, rule.within)
        label = self.lang.labels
        if chosen is not None:
            snippet = "' + '".join(self._snippet(s) for s in chosen)
            return [
                _Finding(rule.level, f"{label[rule.level]}: {rule.reason} ('{snippet}')", rule.id, rule.clinical,
                         snippet=snippet)
            ]
        if rule.when_negated is not None:
            # Only a cue before it turns good news round ("not fine"); a symptom said to be gone after it
            # ("fine 😂 the rash is gone now") does not.
            # Only a cue right before it ("not fine", "not really fine"); "no dramas here 😂" is good news.
            cue_ends = [end for _, end in self._spans_of(self.lang.negation.before)]
            negated = [s for s in self._spans_of(rule.groups[0])
                       if self._is_negated(s) and (s[0] in self.negated_before or s[1] - 1 in self.negated_before)
                       and any(s[0] - 1 <= end <= s[0] for end in cue_ends)]
            if negated:
                level = rule.when_negated
                return [
                    _Finding(
                        level,
                        f"{label[level]}: {rule.negated_reason} ('{self._snippet(negated[0])}')",
                        rule.id,
                        snippet=self._snippet(negated[0]),
                        negated=True,
                    )
                ]
        return []

    def _is_negated(self, span: Span) -> bool:
        # The last word counts too: in "so glad it's not sore" the phrase "so ... sore" is negated.
        negated = span[0] in self.negated or span[1] - 1 in self.negated
        # "the bleeding stopped yesterday but started again": it counts again.
        return negated and not any(start >= span[1] for start in self.came_back_at)

    def _together(self, groups: list[list[Span]], within: str) -> list[Span] | None:
        if not all(groups):
            return None
        segment_of = None if within == "message" else self.clause_of if within == "clause" else self.sentence_of

        def fits(first: Span, other: Span) -> bool:
            # Another group's word must be another word: "pinker" alone is not "pinker" + "more".
            apart = other[0] >= first[1] or other[1] <= first[0]
            return apart and (segment_of is None or segment_of[other[0]] == segment_of[first[0]])

        for first in groups[0]:
            rest = [next((s for s in group if fits(first, s)), None) for group in groups[1:]]
            if all(s is not None for s in rest):
                return [first, *rest]  # type: ignore[list-item]
        return None

    def _snippet(self, span: Span) -> str:
        return " ".join(self.tokens[span[0] : span[1]])
