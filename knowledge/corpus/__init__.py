"""The bundled RRR seed data: cities and solutions written from public sources, with provenance tags."""

from pathlib import Path

CORPUS_DIR = Path(__file__).parent
CITIES_FILE = CORPUS_DIR / "cities.jsonl"
SOLUTION_PATHS = (CORPUS_DIR / "solutions.jsonl", CORPUS_DIR / "reference")
