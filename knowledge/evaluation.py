"""Retrieval and abstention metrics for ``rrr-bot kb eval`` and the thresholds of ``rrr-bot kb calibrate``.

An evaluation set is JSON Lines, one question a line::

    {"q": "...", "relevant": ["solution-id", ...], "lang": "es", "category": "answerable", "split": "test"}

``relevant`` empty means the network cannot answer it; ``category`` is ``answerable``, ``off_topic`` or
``nonexistent`` (a case that never happened), defaulting from ``relevant``; ``split`` is ``calibrate`` (the
thresholds are fit there) or ``test`` (reported, never fit on). Metrics come per language and per category:
recall@1/3/5 and MRR count answerable questions, abstention accuracy counts all (an answerable question must be
answered, any other must not).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidRecords, Problem

CATEGORIES = ("answerable", "off_topic", "nonexistent", "out_of_scope")
#: How a bad evaluation set is reported (it is read, not imported).
NOT_READ = "problem(s) in the evaluation set, nothing evaluated"
SPLITS = ("calibrate", "test", "")


@dataclass(frozen=True)
class EvalQuestion:
    q: str
    relevant: tuple[str, ...]
    lang: str = "en"
    category: str = ""
    split: str = ""

    @property
    def kind(self) -> str:
        """The category, or ``answerable`` / ``out_of_scope`` from ``relevant`` when none was given."""
        return self.category or ("answerable" if self.relevant else "out_of_scope")


@dataclass(frozen=True)
class Outcome:
    """What the search did for one question.

    ``ranked``: solution ids, best first; ``answered``: the verdict; ``best_practice`` / ``best_reference``: the best
    calibrated scores of each kind (``-inf`` when none was ranked), from which :func:`fit_thresholds` refits.
    """

    ranked: tuple[str, ...]
    answered: bool
    best_practice: float = -math.inf
    best_reference: float = -math.inf


def read_eval(path: str | Path) -> list[EvalQuestion]:
    """Read an evaluation set; any bad line fails with file and line."""
    problems: list[Problem] = []
    questions: list[EvalQuestion] = []
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRecords([Problem(str(path), None, f"cannot be read: {exc}")], NOT_READ) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("q"), str) or not row["q"].strip():
                raise ValueError("'q' must be a non-empty string")
            relevant = row.get("relevant", [])
            if not isinstance(relevant, list) or not all(isinstance(r, str) for r in relevant):
                raise ValueError("'relevant' must be a list of solution ids")
            category, split = str(row.get("category", "")), str(row.get("split", ""))
            if category and category not in CATEGORIES:
                raise ValueError(f"'category' must be one of {', '.join(CATEGORIES)}")
            if split not in SPLITS:
                raise ValueError("'split' must be calibrate or test")
            if category and (category == "answerable") != bool(relevant):
                raise ValueError("an answerable question needs relevant ids, and only an answerable one")
            questions.append(EvalQuestion(row["q"], tuple(relevant), str(row.get("lang", "en")), category, split))
        except (ValueError, AttributeError) as exc:
            problems.append(Problem(str(path), number, str(exc)))
    if problems:
        raise InvalidRecords(problems, NOT_READ)
    return questions


def select(questions: Sequence[EvalQuestion], split: str) -> list[EvalQuestion]:
    """The questions of one split (``all`` for every question; a set without splits counts as all test)."""
    if split == "all":
        return list(questions)
    return [q for q in questions if q.split == split or (not q.split and split == "test")]


def evaluate(questions: Iterable[EvalQuestion], outcomes: Iterable[Outcome]) -> dict[str, dict[str, float]]:
    """Metrics for ``all``, each language and each category (keys ``lang:xx`` and ``category:yy``)."""
    rows: dict[str, list[tuple[EvalQuestion, Outcome]]] = defaultdict(list)
    for question, outcome in zip(questions, outcomes):
        for key in ("all", f"lang:{question.lang}", f"category:{question.kind}"):
            rows[key].append((question, outcome))
    order = sorted(rows, key=lambda key: (key != "all", not key.startswith("lang:"), key))
    return {key: _metrics(rows[key]) for key in order}


def _metrics(items: list[tuple[EvalQuestion, Outcome]]) -> dict[str, float]:
    scoped = [(q, o) for q, o in items if q.relevant]
    out: dict[str, float] = {"questions": len(items), "answerable": len(scoped)}
    for k in (1, 3, 5):
        hits = [any(r in o.ranked[:k] for r in q.relevant) for q, o in scoped]
        out[f"recall@{k}"] = sum(hits) / len(hits) if hits else float("nan")
    ranks = []
    for q, o in scoped:
        found = [i for i, sid in enumerate(o.ranked) if sid in q.relevant]
        ranks.append(1.0 / (found[0] + 1) if found else 0.0)
    out["mrr"] = sum(ranks) / len(ranks) if ranks else float("nan")
    right = [o.answered == bool(q.relevant) for q, o in items]
    out["abstention_acc"] = sum(right) / len(right) if right else float("nan")
    abstained = [not o.answered for _, o in scoped]
    out["answerable_abstain"] = sum(abstained) / len(abstained) if abstained else float("nan")
    return out


def separability(questions: Sequence[EvalQuestion], outcomes: Sequence[Outcome], practice: float,
                 reference: float) -> dict[str, float]:
    """For each category a question can be refused in: how well the score alone tells the answerable questions from
    that category's, whatever the threshold (the area under the ROC curve: 1.0 = every answerable question scores
    above every other, 0.5 = chance). A question's score is how far its best result clears the bar of its kind
    (``practice`` or ``reference``); a better reader of the question raises this before any threshold is fit."""
    def margin(o: Outcome) -> float:
        return max(o.best_practice - practice, o.best_reference - reference)

    answerable = [margin(o) for q, o in zip(questions, outcomes) if q.relevant]
    out: dict[str, float] = {}
    for category in dict.fromkeys(q.kind for q in questions if not q.relevant):
        others = [margin(o) for q, o in zip(questions, outcomes) if not q.relevant and q.kind == category]
        pairs = [(a > b) + 0.5 * (a == b) for a in answerable for b in others]
        out[category] = sum(pairs) / len(pairs) if pairs else float("nan")
    return out


def refit(outcomes: Sequence[Outcome], practice: float, reference: float) -> list[Outcome]:
    """The same outcomes judged with other thresholds (a question is answered when either best clears its own)."""
    return [Outcome(o.ranked, o.best_practice >= practice or o.best_reference >= reference, o.best_practice,
                    o.best_reference) for o in outcomes]


def fit_thresholds(questions: Sequence[EvalQuestion], outcomes: Sequence[Outcome], *,
                   separate_reference: bool = True) -> tuple[float, float, float]:
    """``(practice, reference, accuracy)``: the thresholds that maximise abstention accuracy on these questions.

    Ties go to the widest margin (the midpoint between neighbouring scores). With ``separate_reference`` false,
    one threshold serves both kinds (the baseline of a single threshold).
    """
    truth = [bool(q.relevant) for q in questions]

    def candidates(values: Iterable[float]) -> list[float]:
        finite = sorted({v for v in values if math.isfinite(v)})
        mids = [(a + b) / 2 for a, b in zip(finite, finite[1:])]
        return [finite[0] - 1e-6, *mids, finite[-1] + 1e-6] if finite else [0.0]

    def accuracy(p: float, r: float) -> float:
        return sum((o.best_practice >= p or o.best_reference >= r) == t for o, t in zip(outcomes, truth)) / \
            max(len(truth), 1)

    practice_values = candidates(o.best_practice for o in outcomes)
    if not separate_reference:
        both = candidates([o.best_practice for o in outcomes] + [o.best_reference for o in outcomes])
        best = max(both, key=lambda t: accuracy(t, t))
        return best, best, accuracy(best, best)
    reference_values = candidates(o.best_reference for o in outcomes) + [math.inf]
    best_pair = max(((p, r) for p in practice_values for r in reference_values), key=lambda pr: accuracy(*pr))
    return best_pair[0], best_pair[1], accuracy(*best_pair)


def describe(metrics: dict[str, dict[str, float]], columns: Sequence[str]) -> list[list[str]]:
    """Rows of a printed table: the key, then each column (floats with two decimals)."""
    return [[key, *(f"{row[c]:.2f}" if isinstance(row[c], float) else str(int(row[c])) for c in columns)]
            for key, row in metrics.items()]


Runner = Callable[[str], Outcome]
