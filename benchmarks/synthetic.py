"""Deterministic synthetic knowledge bases for the benchmarks.

``generate(n, seed)`` recombines the sentences and figures of the bundled corpus
(``knowledge/corpus/solutions.jsonl``) into ``n`` valid :class:`~knowledge.SolutionRecord` objects with distinct
ids, invented cities and distinct titles. Summaries are 40-80 words, challenges and tags come from the corpus, so
passages look like the real ones (one passage per record, as for the bundled solutions).

``questions(n, seed)`` gives ``n`` varied questions in eight languages, short and long.

The same ``(n, seed)`` always gives the same records and questions (``random.Random(seed)``, no global state).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from random import Random

from knowledge.corpus import CORPUS_DIR
from knowledge.records import SolutionRecord, solution_from_mapping
from knowledge.text import fold, slugify

SOLUTIONS_FILE = CORPUS_DIR / "solutions.jsonl"
#: Bump when the generator changes, so cached benchmark knowledge bases are rebuilt.
VERSION = 1

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9€£$\"'(])")
_FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")
_SYLLABLES = ("ba", "lo", "ver", "an", "tor", "mi", "sel", "ka", "ro", "den", "vi", "la", "mar", "ston", "bru",
              "gen", "fa", "li", "no", "sa", "dor", "el", "ri", "ven", "ta", "ho", "lin", "ga", "por", "ne", "zu",
              "cas", "te", "mo", "bri", "val", "kel", "sun", "ar", "wes")
_CITY_FORMS = ("{0}", "{0}", "{0}", "San {0}", "{0}-on-Sea", "Nova {0}", "{0} Hills", "Port {0}", "{0}burg",
               "{0}stad", "{0}ville")
_PREFIXES = ("Neighbourhood", "Citywide", "Pilot", "Second-round", "Youth", "Green", "Inclusive", "Emergency",
             "Digital", "Cooperative", "Women-led", "Circular", "District", "Community", "Open", "Local",
             "Regional", "Solidarity", "Rapid", "Long-term")
_SUFFIXES = ("programme", "fund", "network", "scheme", "pact", "platform", "initiative", "plan", "desk", "lab",
             "partnership", "round", "campaign", "hub", "charter")


@lru_cache(maxsize=1)
def _corpus() -> tuple[dict, ...]:
    lines = Path(SOLUTIONS_FILE).read_text("utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


@lru_cache(maxsize=1)
def _pools() -> dict[str, tuple]:
    corpus = _corpus()
    cities = sorted({r["city"] for r in corpus} | {"Torino", "Warszawa", "Montreal", "Dublin City"},
                    key=len, reverse=True)
    city_re = re.compile("|".join(re.escape(c) for c in cities))
    sentences = []
    for record in corpus:
        for sentence in _SENTENCE.split(record["summary"].strip()):
            sentence = sentence.strip()
            if len(sentence.split()) >= 5:
                sentences.append(sentence)
    topics = []
    for record in corpus:
        topic = city_re.sub("", record["title"]).strip(" -/,")
        topic = re.sub(r"\s+", " ", topic)
        if topic:
            topics.append(topic[0].upper() + topic[1:])
    return {
        "city_re": (city_re,),
        "sentences": tuple(sentences),
        "challenges": tuple(r["challenge"] for r in corpus),
        "topics": tuple(topics),
        "tags": tuple(sorted({t for r in corpus for t in r["tags"]})),
        "countries": tuple(sorted({r["country"] for r in corpus})),
        "provenances": tuple(sorted({r["provenance"] for r in corpus})),
    }


def _city_names(rng: Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        name = rng.choice(_CITY_FORMS).format(stem.capitalize())
        if fold(name) not in seen:
            seen.add(fold(name))
            names.append(name)
    return names


def _vary_figure(rng: Random, match: re.Match[str]) -> str:
    """Replace a number by another of the same magnitude and format (years stay plausible years)."""
    text = match.group(0)
    plain = text.replace(",", "")
    try:
        value = float(plain)
    except ValueError:
        return text
    if "." not in plain and 1990 <= value <= 2030:
        return str(rng.randint(2008, 2024))
    new = value * rng.uniform(0.4, 2.5)
    if "." in plain:
        decimals = len(plain.split(".")[1])
        return f"{new:.{decimals}f}"
    new_int = max(1, round(new))
    return f"{new_int:,}" if "," in text else str(new_int)


def _summary(rng: Random, city: str) -> str:
    pools = _pools()
    city_re = pools["city_re"][0]
    target = rng.randint(40, 80)
    words: list[str] = []
    used: set[int] = set()
    while len(words) < 40:
        i = rng.randrange(len(pools["sentences"]))
        if i in used:
            continue
        used.add(i)
        sentence = city_re.sub(city, pools["sentences"][i])
        sentence = _FIGURE.sub(lambda m: _vary_figure(rng, m), sentence)
        words += sentence.split()
    if len(words) > 80:
        words = words[:target]
        words[-1] = words[-1].rstrip(",;:") + ("" if words[-1].endswith(".") else ".")
    return " ".join(words)


def generate(n: int, seed: int = 0) -> list[SolutionRecord]:
    """``n`` valid, distinct synthetic solutions (same ``n`` and ``seed`` -> same records)."""
    rng = Random(seed)
    pools = _pools()
    cities = _city_names(rng, max(20, n // 25))
    countries = {city: rng.choice(pools["countries"]) for city in cities}
    titles: set[str] = set()
    records = []
    for i in range(n):
        city = rng.choice(cities)
        topic = rng.choice(pools["topics"])
        title = f"{rng.choice(_PREFIXES)} {topic} {rng.choice(_SUFFIXES)}"
        edition = 2
        while fold(f"{city} {title}") in titles:
            title, edition = f"{title.rsplit(' (', 1)[0]} ({edition})", edition + 1
        titles.add(fold(f"{city} {title}"))
        challenge = pools["city_re"][0].sub(city, rng.choice(pools["challenges"]))
        record_id = f"s{seed}-{i:05d}-" + slugify(f"{city} {title}")[:80]
        records.append(solution_from_mapping({
            "id": record_id, "city": city, "country": countries[city], "title": title,
            "challenge": challenge, "summary": _summary(rng, city),
            "tags": rng.sample(pools["tags"], rng.randint(1, 4)),
            "source_url": f"https://example.org/solutions/{record_id}" if rng.random() < 0.7 else None,
            "language": "en", "provenance": rng.choice(pools["provenances"]),
            "provenance_note": "synthetic benchmark record",
        }))
    return records


_QUESTIONS = {
    "en": (("How did other cities {t}?", "What worked when a city tried to {t}?",
            "Has any city in the network managed to {t}, and what did it cost?",
            "We need to {t} before next winter. Our council has a small budget and little staff. "
            "Which peer cities did something similar, and what would you do differently?"),
           ("fund social enterprise incubators", "bring customers back to neighbourhood shops",
            "help older people who were isolated during the lockdowns", "use social clauses in public procurement",
            "close the digital divide for job seekers", "finance new cooperatives", "run vouchers for local bars",
            "map the social economy", "create jobs in deprived neighbourhoods", "support women entrepreneurs",
            "organise solidarity fairs online", "set up a social impact bond")),
    "es": (("¿Cómo lograron otras ciudades {t}?", "¿Qué ciudad consiguió {t} y con qué presupuesto?",
            "Queremos {t}. ¿Qué hicieron otras ciudades de la red y qué resultados tuvieron?"),
           ("apoyar al comercio local tras la pandemia", "financiar empresas de economía social",
            "incluir cláusulas sociales en la contratación pública", "crear empleo para jóvenes",
            "ayudar a las mujeres emprendedoras", "repartir bonos de consumo en los barrios")),
    "pt": (("Como outras cidades conseguiram {t}?", "Alguma cidade da rede tentou {t}?",
            "Precisamos {t}; que experiências existem e quanto custaram?"),
           ("apoiar a economia popular solidária", "organizar feiras solidárias online",
            "financiar cooperativas de trabalhadores", "levar internet às famílias de baixa renda",
            "gerar renda para grupos coletivos")),
    "fr": (("Comment d'autres villes ont-elles pu {t} ?", "Quelle ville a réussi à {t} ?",
            "Nous voulons {t}. Quels partenariats ont fonctionné ailleurs ?"),
           ("financer les jeunes entreprises collectives", "soutenir l'économie sociale pendant la crise",
            "mettre en place des achats responsables", "co-construire une politique avec les acteurs")),
    "de": (("Wie haben andere Städte es geschafft, {t}?", "Welche Stadt hat es geschafft, {t}?"),
           ("Sozialunternehmen zu finanzieren", "ältere Menschen während der Pandemie zu unterstützen",
            "lokale Geschäfte nach dem Lockdown zu stärken", "digitale Kompetenzen von Arbeitslosen zu fördern")),
    "it": (("Come hanno fatto altre città a {t}?", "Quale città è riuscita a {t}?"),
           ("rigenerare spazi pubblici inutilizzati", "sostenere l'innovazione sociale dei giovani",
            "organizzare una rete di solidarietà alimentare", "coinvolgere i cittadini con patti di collaborazione")),
    "pl": (("Jak inne miasta zdołały {t}?", "Które miasto potrafiło {t}?"),
           ("wspierać ekonomię społeczną", "pomóc seniorom w czasie pandemii", "stworzyć centra lokalnej aktywności")),
    "nl": (("Hoe hebben andere steden {t}?", "Welke stad heeft {t}?"),
           ("sociale ondernemers tijdens corona geholpen", "werkloosheid in wijken aangepakt",
            "maatschappelijk inkopen ingevoerd", "een impactfonds opgezet")),
}


def questions(n: int = 200, seed: int = 7) -> list[str]:
    """``n`` distinct questions: every language, templates of 5 to 45 words, some naming a synthetic city."""
    rng = Random(seed)
    combos = [(lang, template, topic) for lang, (templates, topics) in _QUESTIONS.items()
              for template in templates for topic in topics]
    rng.shuffle(combos)
    out: list[str] = []
    seen: set[str] = set()
    suffixes = ("", "", "", " ({c})", " — {c}")
    cities = _city_names(Random(seed + 1), 40)
    i = 0
    while len(out) < n:
        lang, template, topic = combos[i % len(combos)]
        text = template.format(t=topic)
        if i >= len(combos) or rng.random() < 0.2:
            text += rng.choice(suffixes).format(c=rng.choice(cities))
        i += 1
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


if __name__ == "__main__":  # a quick look: python benchmarks/synthetic.py 5
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for rec in generate(count):
        print(json.dumps({"id": rec.id, "city": rec.city, "title": rec.title, "challenge": rec.challenge,
                          "summary": rec.summary, "words": len(rec.summary.split()), "tags": rec.tags},
                         ensure_ascii=False))
    print(*questions(10), sep="\n")
