"""Grouping short texts (questions) by meaning, whatever language they were asked in.

A multilingual embedder places a text by its language as well as by its meaning: two questions in Spanish about
different topics can be closer than a Spanish and a Polish question about the same one. Before clustering, the
vectors are made language-neutral:

1. the *language directions* are estimated from :data:`LANGUAGE_PROBES`, the same neutral questions translated into
   several languages (each language's mean minus the mean of all), and projected out of every vector;
2. the vectors are centred on the probes' mean (what every question shares) and normalised again.

The groups then come from average-linkage agglomerative clustering on cosine similarity: the two closest groups are
merged while the mean similarity between their members is at least ``threshold``. It is deterministic (ties go to the
lowest index) and needs no number of clusters. Pure numpy; nothing here knows about the database or the bot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

#: Merge two groups while the mean cosine similarity of their members (language-neutral vectors) is at least this.
#: Chosen on multilingual question sets (en, es, pl, pt, it, fr, nl): 0.45-0.55 separates topics best.
DEFAULT_THRESHOLD = 0.5
#: Average linkage keeps an n x n matrix: at most this many texts are clustered (the caller keeps the newest).
MAX_TEXTS = 2000

#: The same everyday questions, far from any policy topic, in the languages of the network (and German).
LANGUAGE_PROBES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "en": (
        "What time does the public library open on Saturdays?", "How much does a monthly bus pass cost?",
        "Where can residents leave old furniture for recycling?", "Who should I call about a broken street light?",
        "When is the next meeting of the neighbourhood council?",
        "Is the swimming pool open during the summer holidays?", "How do I register my child for primary school?",
        "Can I pay my water bill online?",
    ),
    "es": (
        "¿A qué hora abre la biblioteca pública los sábados?", "¿Cuánto cuesta el abono mensual de autobús?",
        "¿Dónde pueden los vecinos dejar muebles viejos para reciclar?", "¿A quién llamo por una farola rota?",
        "¿Cuándo es la próxima reunión del consejo de barrio?",
        "¿Está abierta la piscina durante las vacaciones de verano?",
        "¿Cómo inscribo a mi hijo en la escuela primaria?", "¿Puedo pagar la factura del agua por internet?",
    ),
    "pl": (
        "O której godzinie otwiera się biblioteka publiczna w soboty?", "Ile kosztuje miesięczny bilet autobusowy?",
        "Gdzie mieszkańcy mogą zostawić stare meble do recyklingu?", "Do kogo zadzwonić w sprawie zepsutej latarni?",
        "Kiedy jest następne posiedzenie rady osiedla?", "Czy basen jest otwarty w czasie wakacji letnich?",
        "Jak zapisać dziecko do szkoły podstawowej?", "Czy mogę zapłacić rachunek za wodę przez internet?",
    ),
    "pt": (
        "A que horas abre a biblioteca pública aos sábados?", "Quanto custa o passe mensal de ônibus?",
        "Onde os moradores podem deixar móveis velhos para reciclagem?",
        "Para quem ligo por causa de um poste de luz quebrado?", "Quando é a próxima reunião do conselho do bairro?",
        "A piscina fica aberta durante as férias de verão?", "Como matriculo meu filho na escola primária?",
        "Posso pagar a conta de água pela internet?",
    ),
    "it": (
        "A che ora apre la biblioteca pubblica il sabato?", "Quanto costa l'abbonamento mensile dell'autobus?",
        "Dove possono i residenti lasciare i mobili vecchi per il riciclo?",
        "Chi devo chiamare per un lampione rotto?", "Quando è la prossima riunione del consiglio di quartiere?",
        "La piscina è aperta durante le vacanze estive?", "Come iscrivo mio figlio alla scuola primaria?",
        "Posso pagare la bolletta dell'acqua online?",
    ),
    "fr": (
        "À quelle heure ouvre la bibliothèque publique le samedi ?", "Combien coûte l'abonnement mensuel de bus ?",
        "Où les habitants peuvent-ils déposer leurs vieux meubles pour le recyclage ?",
        "Qui dois-je appeler pour un lampadaire cassé ?",
        "Quand a lieu la prochaine réunion du conseil de quartier ?",
        "La piscine est-elle ouverte pendant les vacances d'été ?",
        "Comment inscrire mon enfant à l'école primaire ?", "Puis-je payer ma facture d'eau en ligne ?",
    ),
    "nl": (
        "Hoe laat gaat de openbare bibliotheek op zaterdag open?", "Hoeveel kost een maandabonnement voor de bus?",
        "Waar kunnen bewoners oude meubels inleveren voor recycling?",
        "Wie moet ik bellen over een kapotte lantaarnpaal?", "Wanneer is de volgende vergadering van de wijkraad?",
        "Is het zwembad open tijdens de zomervakantie?", "Hoe schrijf ik mijn kind in voor de basisschool?",
        "Kan ik mijn waterrekening online betalen?",
    ),
    "de": (
        "Wann öffnet die öffentliche Bibliothek am Samstag?", "Wie viel kostet eine Monatskarte für den Bus?",
        "Wo können Bewohner alte Möbel zum Recycling abgeben?",
        "Wen soll ich wegen einer kaputten Straßenlaterne anrufen?",
        "Wann ist die nächste Sitzung des Stadtteilrats?", "Ist das Schwimmbad in den Sommerferien geöffnet?",
        "Wie melde ich mein Kind in der Grundschule an?", "Kann ich meine Wasserrechnung online bezahlen?",
    ),
})


def probe_texts() -> list[str]:
    """Every probe, language after language (the order :func:`language_basis` expects)."""
    return [text for texts in LANGUAGE_PROBES.values() for text in texts]


def language_basis(probe_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(directions, centre)`` from the embedded :func:`probe_texts`: orthonormal rows spanning the languages'
    offsets from the common mean, and the mean of the probes with those directions removed."""
    per_language = len(next(iter(LANGUAGE_PROBES.values())))
    probes = np.asarray(probe_vectors, dtype=np.float64).reshape(len(LANGUAGE_PROBES), per_language, -1)
    offsets = probes.mean(axis=1) - probes.mean(axis=(0, 1))
    _, singular, rows = np.linalg.svd(offsets, full_matrices=False)
    directions = rows[singular > singular.max() * 1e-6] if singular.size else rows[:0]
    flat = probes.reshape(-1, probes.shape[2])
    centre = (flat - (flat @ directions.T) @ directions).mean(axis=0)
    return directions, centre


def neutralise(vectors: np.ndarray, directions: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``vectors`` without their language directions, centred, and L2-normalised again (rows of zeros stay zero)."""
    x = np.asarray(vectors, dtype=np.float64)
    if not len(x):
        return x.reshape(0, centre.shape[0] if centre.ndim else 0)
    x = x - (x @ directions.T) @ directions - centre
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def average_linkage(vectors: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Groups of row indices of normalised ``vectors``: average-linkage clustering on cosine similarity, merging
    while the closest two groups' mean similarity is at least ``threshold``. Biggest group first, then by first
    index; members in index order. Deterministic."""
    n = len(vectors)
    if n == 0:
        return []
    if n > MAX_TEXTS:
        raise ValueError(f"at most {MAX_TEXTS} texts can be clustered at once, got {n}")
    x = np.asarray(vectors, dtype=np.float64)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    members: list[list[int]] = [[i] for i in range(n)]
    partner = sim.argmax(axis=1) if n > 1 else np.zeros(1, dtype=np.int64)
    best = sim[np.arange(n), partner]  # each row's closest group and its score, kept current after every merge
    while True:
        i = int(np.argmax(np.where(alive, best, -np.inf)))
        if not alive[i] or best[i] < threshold:
            break
        i, j = sorted((i, int(partner[i])))
        merged = (sim[i] * size[i] + sim[j] * size[j]) / (size[i] + size[j])
        sim[i, :] = merged
        sim[:, i] = merged
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        sim[i, i] = -np.inf
        alive[j] = False
        best[j] = -np.inf
        size[i] += size[j]
        members[i] += members[j]
        members[j] = []
        # rows that pointed at i or j (and i itself) look again; the others only compare with the new group
        redo = alive & ((partner == i) | (partner == j))
        redo[i] = alive[i]
        column = sim[:, i]
        closer = alive & ~redo & ((column > best) | ((column == best) & (i < partner)))
        best[closer], partner[closer] = column[closer], i
        rows = np.nonzero(redo)[0]
        if len(rows):
            partner[rows] = sim[rows].argmax(axis=1)
            best[rows] = sim[rows, partner[rows]]
    groups = [sorted(m) for m in members if m]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def central_member(vectors: np.ndarray, group: Sequence[int]) -> int:
    """The member of ``group`` with the highest mean similarity to the others (the first on ties)."""
    if len(group) <= 2:
        return int(group[0])
    x = np.asarray(vectors, dtype=np.float64)[list(group)]
    scores = (x @ x.T).sum(axis=1)
    return int(group[int(np.argmax(scores))])
