"""Which of the network's languages a short text is written in, by counting its function words.

Enough for challenge statements and short questions (a sentence or more): each language scores one point per word of
its list, plus its own letters (``ł``, ``ã``, ``ñ``...) and endings (``-ção``, ``-zione``...); languages the caller
expects (a city's own) break ties. No model, no download; pure Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

FUNCTION_WORDS: Mapping[str, str] = MappingProxyType({
    "en": "the and of to in for with on by from that this is are be have has not their our we they it its as at or "
          "into more less than who which was were after before about through so how what can do does i my",
    "es": "el la los las de del y en que con por para una un se su sus no es son al como cómo más lo les ni muy pero "
          "desde sin cada nuestro nuestra queremos hay están también qué cuál cuáles dónde cuánto puedo mi",
    "pt": "o os a as de do da dos das e em no na nos nas que com por para um uma se não é são ao aos à mais pelo pela "
          "seu sua muito também sem queremos há estão quais qual onde quanto existem meu minha posso",
    "fr": "le la les de des du et en un une que qui dans pour par avec sur au aux ne pas est sont ce ces se leur "
          "leurs nous vous il elle plus sans comment ou à quelles quel quels quelle où combien puis je mon ma",
    "it": "il lo la i gli le di del della dei delle e in che con per un una non è sono al alla ai nel nella nei da "
          "dal si più anche ma come vogliamo degli sul quanto dove chi posso mio quali",
    "pl": "i w z na do się nie że o od po dla jest są to a ale jak przez ich oraz czy przy także tylko już bo który "
          "która które chcemy jakie ile gdzie kiedy mogę moje",
    "nl": "de het een en van in op te met voor is zijn niet dat die er aan om ook als bij door naar we wij ze hun "
          "maar nog of wordt worden kunnen hoe wat waar wanneer kan ik mijn welke",
    "de": "der die das und zu den von mit ist sind nicht ein eine für auf im dem des sich auch wir wie werden wann wo "
          "was kann ich meine wen soll",
})
LETTERS = MappingProxyType({"pl": "ąęłńśźż", "pt": "ãõ", "es": "ñ¿¡", "fr": "èêùûœ", "it": "òì", "de": "äöüß"})
ENDINGS = MappingProxyType({"pt": ("ção", "ções", "ões"), "es": ("ción", "ciones"), "it": ("zione", "zioni"),
                            "pl": ("ów", "ych", "ego")})
LANGUAGES = tuple(FUNCTION_WORDS)
_ANY_ENDING = tuple(e for endings in ENDINGS.values() for e in endings)

_WORD = re.compile(r"[^\W\d_]+")
_MARKED = re.compile("[" + "".join(LETTERS.values()) + "]")


def _votes() -> Mapping[str, tuple[str, ...]]:
    """Each function word with the languages it belongs to."""
    votes: dict[str, tuple[str, ...]] = {}
    for language, words in FUNCTION_WORDS.items():
        for word in words.split():
            votes[word] = (*votes.get(word, ()), language)
    return MappingProxyType(votes)


_VOTES = _votes()


def detect_language(text: str, expected: Sequence[str] = ()) -> str | None:
    """The ISO 639-1 code of ``text``'s language among :data:`LANGUAGES`; with no evidence at all, the first
    ``expected`` language the detector knows, else ``None``."""
    low = text.lower()
    scores = dict.fromkeys(LANGUAGES, 0.0)
    for word in _WORD.findall(low):
        for language in _VOTES.get(word, ()):
            scores[language] += 1
        if word.endswith(_ANY_ENDING):
            for language, endings in ENDINGS.items():
                scores[language] += word.endswith(endings)
        if "ij" in word:
            scores["nl"] += 1
    if not low.isascii() and _MARKED.search(low):
        for language, letters in LETTERS.items():
            scores[language] += min(sum(low.count(c) for c in letters), 3)
    known = [language for language in expected if language in scores]
    for language in known:
        scores[language] += 0.5
    best = max(scores, key=scores.__getitem__)
    if scores[best] >= 1:
        return best
    return known[0] if known else None
