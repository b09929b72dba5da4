"""Time and person in a client message: which symptoms are told as over, and which are someone else's.

The words come from the rule file's `history` section; `classify` decides the level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aftercare_bot.triage.classify import Span, _Analysis


def past_or_others(a: _Analysis) -> tuple[set[int], set[int], set[int], set[int]]:
    """Symptoms told as over ("had a fever last month, nothing since") or as someone else's ("my friend got
    an infection"). Anything still present stays: a clause saying "still", "now" or "again" keeps its
    symptoms, and an own past symptom counts as over only when the message says so after it.

    Returns someone else's, everything over, lesser signs told as improving, and clauses told as felt before
    (for feelings: "I was nervous")."""
    history = a.lang.history
    names = ("past", "others_past", "others", "own", "present", "shared")
    marks = {name: a._spans_of(getattr(history, name)) for name in names}
    # "hoping I don't get the same" does not share it.
    negated_clauses = {a.clause_of[start] for start, _ in a._spans_of(a.lang.negation.before)}
    marks["shared"] = [span for span in marks["shared"] if a.clause_of[span[0]] not in negated_clauses]
    # "has not gone away" does not say it is over, nor does "gone past the line".
    not_spans = a._spans_of(a.lang.negation.not_negations)
    cue_ends = {end for _, end in a._spans_of(a.lang.negation.before)}
    apart_ends = [end for _, end in a._spans_of(history.apart_from)]
    # A question does not say anything is over: "I had a fever last night, is that normal?"
    asked = {a.sentence_of[pos] for pos, token in enumerate(a.tokens) if token == "?"}

    def said_over(spans: list[Span]) -> list[Span]:
        """Those that say it is over: not after a cue ("has not gone"), not part of something else ("gone past
        the line"), not about the rest, not asked."""
        return [span for span in spans
                if span[0] not in cue_ends
                and not any(s < span[1] and span[0] < e for s, e in not_spans)
                and not any(span[0] - 3 <= end <= span[0] for end in apart_ends)
                and a.sentence_of[span[0]] not in asked]

    resolved_spans = said_over(a._spans_of(history.resolved))
    resolved = [start for start, _ in resolved_spans]
    in_resolved = {pos for start, end in resolved_spans for pos in range(start, end)}  # "panic over"
    heads = a._found(a.lang.symptom_terms)
    # "my lip has gone kind of puffy" says what it became, not that it is over.
    ended = [start for start, end in said_over(a._spans_of(history.ended))
             if not a._becomes(end, {s for s, _ in heads})]

    compared_up_to = {end for _, end in a._spans_of(history.comparison)}
    marks["past"] = [span for span in marks["past"] if span[0] not in compared_up_to]  # "than yesterday"
    reporting_at = {start for start, _ in a._spans_of(history.reporting)}
    # "my husband says my face is hot" (the client named after): he only reports it; "my friend said her lips
    # swelled" stays hers.
    marks["others"] = [span for span in marks["others"]
                       if not (reporting_at.intersection(range(span[1], span[1] + 2))
                               and any(a.clause_of[o] == a.clause_of[span[0]] and o > span[1]
                                       for o, _ in marks["own"]))]
    # "my husband is worried about the pus": he worries about the client's symptom.
    worried_at = {start for start, _ in a._spans_of(history.worried_for)}
    marks["others"] = [span for span in marks["others"] if not worried_at.intersection(range(span[1], span[1] + 2))]
    inside_others = {pos for start, end in marks["others"] for pos in range(start, end)}
    # "not me", and "my partner's face" is not the client's face.
    marks["own"] = [span for span in marks["own"] if not inside_others.intersection(range(*span))]

    def in_clause(name: str, clause: int) -> bool:
        return any(a.clause_of[start] == clause for start, _ in marks[name])

    def in_sentence(name: str, clause: int) -> bool:  # "my friend got a fever and now I have one too"
        sentence = next(a.sentence_of[p] for p, c in enumerate(a.clause_of) if c == clause)
        return any(a.sentence_of[start] == sentence for start, _ in marks[name])

    discounted: set[int] = set()
    # "again", "came back" ... after the symptom was said to be over: it returned.
    returned_at = [start for start, _ in a._spans_of((*history.returned, *history.came_back))
                   if start not in a.negated]
    told_as_past = {c for c in set(a.clause_of) if in_clause("past", c) and not in_clause("present", c)}
    possessive_ends = {end for _, end in a._spans_of(history.possessive)}
    unrelated_clauses = {a.clause_of[start] for start, _ in a._spans_of(history.unrelated)}
    unrelated_sentences = {a.sentence_of[start] for start, _ in a._spans_of(history.unrelated)}
    # "my daughter has a cold sore, not me, I'm fine": the client says outright it is not theirs.
    denied_sentences = {a.sentence_of[start] for start, _ in a._spans_of(history.not_the_client)}
    # "another clinic", but not "not at another clinic"
    elsewhere = [span for span in a._spans_of(history.elsewhere)
                 if not any(span[0] - 2 <= end <= span[0] for end in cue_ends)]
    away_sentences = {a.sentence_of[start] for start, _ in elsewhere}
    joiners = {*a.lang.negation.joiners, "and"}
    holding = {pos for start, end in a._spans_of(history.holds) for pos in range(start, end)}
    holding |= {pos for start, end in heads for pos in range(start, end)}  # "has the fever and vomiting"
    holding |= {pos for pos, token in enumerate(a.tokens) if token in a.written_as_names}  # "my mate Sarah has"
    def named_before(name: str, clause: int, start: int) -> bool:
        return any(a.clause_of[s] == clause and s < start for s, _ in marks[name])

    # "her micro-needling at another clinic" is not written for the client; "with you (she usually goes to
    # another clinic)" still is.
    away_clauses = {a.clause_of[start] for start, _ in elsewhere}
    cues = [start for start, _ in a._spans_of(a.lang.negation.before)]
    speaks_for_client = any(a.clause_of[start] not in away_clauses and not any(start <= c < end for c in cues)
                            for start, end in a._spans_of(history.for_client))  # not "had no treatment"
    for start, end in heads if not speaks_for_client else ():
        # someone else's first: their symptoms do not bound the client's own past
        clause = a.clause_of[start]
        theirs = any(start - 3 <= e <= start for e in possessive_ends)  # "his shaving rash"
        # The person is the one who has it, said just before it, in a message that says it is unrelated: "my
        # daughter has the fever and vomiting bug going round her school". Without that, someone else's
        # present symptom in this chat is most likely the client's ("my wife keeps being sick").
        # ("somebody help me" is the client's: the client is named right after it)
        own_near = any(a.clause_of[s] == clause and s < end + 2 for s, _ in marks["own"])
        unrelated = clause in unrelated_clauses or a.sentence_of[start] in denied_sentences
        subject = unrelated and not own_near and any(
            a.clause_of[s] == clause and e <= start <= e + 5
            and all(p in holding or a.tokens[p] in joiners for p in range(e, start))
            for s, e in marks["others"]
        )
        # Only someone named before the symptom owns it: "the pain is unbearable, my partner had codeine"
        # is the client's pain, whatever follows it.
        # The client named after it is only telling their side: "mum had a cold sore and I was worried".
        # "his shaving rash" is his only when the message says it has nothing to do with the treatment here.
        told_over = not in_clause("present", clause) and (
            in_clause("past", clause) or in_clause("others_past", clause)
            or (theirs and a.sentence_of[start] in unrelated_sentences | away_sentences))
        if (named_before("others", clause, start) and not named_before("own", clause, start)
                and not (in_sentence("own", clause) and in_sentence("shared", clause))
                and (told_over or subject)):
            discounted.update(range(start, end))
    for start, end in heads:  # "my cat is sick": never the client's
        if any(a.clause_of[s] == a.clause_of[start] and e <= start <= e + 3 for s, e in a._spans_of(history.animals)):
            discounted.update(range(start, end))
    theirs_only = set(discounted)
    for start, end in heads:
        # "my friend reacted to botox at another clinic, her face swollen": hers, in the same sentence. Fainting
        # or breathing (even_if_over) still count: theirs_only leaves this out.
        if a.sentence_of[start] in away_sentences and any(
            a.sentence_of[s] == a.sentence_of[start] and s < start and not any(s < o < start for o, _ in marks["own"])
            for s, _ in marks["others"]
        ):
            discounted.update(range(start, end))
    for start, end in heads:
        clause = a.clause_of[start]
        # Part of what says it is over ("it's all flaked off"), or said to be over right after it in its
        # clause ("the swelling went down the next morning", "peeling's done"), unless it then came back.
        told_over = any(s <= start and end <= e for s, e in resolved_spans) or any(
            a.clause_of[r] == clause and end <= r <= end + 3 and not any(p > r for p in returned_at)
            for r in ended
        )
        if told_over:
            discounted.update(range(start, end))
    improving = {a.clause_of[s] for s, _ in a._spans_of(history.improved)}
    later_worse = {a.clause_of[p] for p in returned_at}
    improved = {pos for start, end in heads if a.clause_of[start] in improving - later_worse
                for pos in range(start, end)}
    felt = {a.clause_of[s] for s, _ in a._spans_of(history.felt)} - {a.clause_of[s] for s, _ in marks["present"]}
    felt_before = {pos for pos, clause in enumerate(a.clause_of) if clause in felt}
    for start, end in heads:
        clause = a.clause_of[start]
        if start in discounted or in_clause("present", clause) or not in_clause("past", clause):
            continue
        # Over only if the message says so after it, before the next symptom of another clause, and does
        # not then say it came back ("stopped, then started again this morning").
        # Another past symptom in between does not bound it: "had a temp, it was the flu, long gone now".
        later = [s for s, _ in heads
                 if s > start and a.clause_of[s] != clause and s not in discounted and s not in in_resolved
                 and a.clause_of[s] not in told_as_past]
        limit = min(later, default=len(a.tokens))
        over = [r for r in resolved if start < r < limit]
        if over and not any(p > over[0] for p in returned_at):
            discounted.update(range(start, end))
    return theirs_only, discounted, improved, felt_before


def said_by_others(a: _Analysis) -> set[int]:
    """The few words after someone else is named in their clause, with the client not named between: "my
    mum wants to book" is her wish. "my mum says I should book" and "my sister is asking whether you sell
    vouchers" are the client's to answer, and "the kids' match for two hours without spf" is the client's."""
    history = a.lang.history
    reporting_at = {start for start, _ in a._spans_of(history.reporting)}
    own = [start for start, _ in a._spans_of(history.own)]
    said: set[int] = set()
    for start, end in a._spans_of(history.others):
        if reporting_at.intersection(range(end, end + 2)):
            continue
        clause = a.clause_of[start]
        stop = min((o for o in own if o >= end and a.clause_of[o] == clause), default=len(a.tokens))
        said.update(p for p in range(end, min(stop, end + 4)) if a.clause_of[p] == clause)
    return said
