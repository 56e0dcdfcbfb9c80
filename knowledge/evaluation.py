"""Retrieval metrics for ``rrr-bot kb eval``: recall@1/3/5, MRR and abstention accuracy, overall and per language."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidRecords, Problem


@dataclass(frozen=True)
class EvalQuestion:
    q: str
    relevant: tuple[str, ...]
    lang: str = "en"


@dataclass(frozen=True)
class Outcome:
    """What the search did for one question: the ranked solution ids, best score and whether it answered."""

    ranked: tuple[str, ...]
    answered: bool
    best_score: float


def read_eval(path: str | Path) -> list[EvalQuestion]:
    """Read ``{"q": ..., "relevant": [ids], "lang": "xx"}`` lines; any bad line fails with file and line."""
    problems: list[Problem] = []
    questions: list[EvalQuestion] = []
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRecords([Problem(str(path), None, f"cannot be read: {exc}")]) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row.get("q"), str) or not row["q"].strip():
                raise ValueError("'q' must be a non-empty string")
            relevant = row.get("relevant", [])
            if not isinstance(relevant, list) or not all(isinstance(r, str) for r in relevant):
                raise ValueError("'relevant' must be a list of solution ids")
            questions.append(EvalQuestion(row["q"], tuple(relevant), str(row.get("lang", "en"))))
        except (ValueError, AttributeError) as exc:
            problems.append(Problem(str(path), number, str(exc)))
    if problems:
        raise InvalidRecords(problems)
    return questions


def evaluate(questions: Iterable[EvalQuestion], run: Callable[[str], Outcome]) -> dict[str, dict[str, float]]:
    """Metrics per language and ``all``. Recall and MRR count in-scope questions; abstention counts all."""
    rows: dict[str, list[tuple[EvalQuestion, Outcome]]] = defaultdict(list)
    for question in questions:
        outcome = run(question.q)
        rows["all"].append((question, outcome))
        rows[question.lang].append((question, outcome))
    return {lang: _metrics(items) for lang, items in sorted(rows.items(), key=lambda kv: (kv[0] != "all", kv[0]))}


def _metrics(items: list[tuple[EvalQuestion, Outcome]]) -> dict[str, float]:
    scoped = [(q, o) for q, o in items if q.relevant]
    out: dict[str, float] = {"questions": len(items), "in_scope": len(scoped)}
    for k in (1, 3, 5):
        hits = [any(r in o.ranked[:k] for r in q.relevant) for q, o in scoped]
        out[f"recall@{k}"] = sum(hits) / len(hits) if hits else float("nan")
    ranks = []
    for q, o in scoped:
        found = [i for i, sid in enumerate(o.ranked) if sid in q.relevant]
        ranks.append(1.0 / (found[0] + 1) if found else 0.0)
    out["mrr"] = sum(ranks) / len(ranks) if ranks else float("nan")
    # Abstention is right when an in-scope question is answered and an out-of-scope one is not.
    right = [o.answered == bool(q.relevant) for q, o in items]
    out["abstention_acc"] = sum(right) / len(right) if right else float("nan")
    return out


def calibrate(questions: list[EvalQuestion], outcomes: list[Outcome]) -> tuple[float, float]:
    """The threshold on the best score that maximises abstention accuracy, and that accuracy."""
    labelled = [(o.best_score, bool(q.relevant)) for q, o in zip(questions, outcomes)]
    candidates = sorted({round(s, 3) for s, _ in labelled})
    best = (0.0, -1.0)
    for threshold in candidates:
        accuracy = sum((s >= threshold) == inscope for s, inscope in labelled) / len(labelled)
        if accuracy > best[1]:
            best = (threshold, accuracy)
    return best
