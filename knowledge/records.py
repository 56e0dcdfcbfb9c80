"""Validated records: what the importers produce and the bot stores."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .text import fold
from .urls import check_url

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")
LANG_PATTERN = re.compile(r"^[a-z]{2}$")
PROVENANCES = MappingProxyType({
    "rrr": "cited in RRR project sources",
    "rrr-city": "a practice of an RRR city; not confirmed as presented in RRR",
    "context": "a sourced city practice; not confirmed as presented in RRR",
    "post-rrr": "dated after the RRR project (2022 or later)",
    "reference": "reference material (OECD and others), not a city practice",
    "network": "saved from a peer's answer in the network",
})
SOLUTION_FIELDS = ("id", "city", "country", "title", "challenge", "summary", "tags", "source_url", "language",
                   "provenance", "provenance_note", "body", "kind")
REQUIRED_SOLUTION_FIELDS = ("id", "city", "country", "title", "challenge", "summary")
#: Column lengths of the stored rows (``max_length`` in bot/store/models.py; a test keeps them equal): checked here,
#: so a record that SQLite would take is never refused later by PostgreSQL.
SOLUTION_LENGTHS = MappingProxyType({"id": 120, "city": 120, "country": 120, "title": 300, "source_url": 1000})
CITY_LENGTHS = MappingProxyType({"name": 120, "country": 120, "timezone": 64, "source_url": 500})
CONTACT_LENGTHS = MappingProxyType({"user_id": 120, "name": 200})


@dataclass(frozen=True)
class SolutionRecord:
    """One past solution, in the knowledge import format of DESIGN.md (``body`` holds long documents)."""

    id: str
    city: str
    country: str
    title: str
    challenge: str
    summary: str
    tags: tuple[str, ...] = ()
    source_url: str | None = None
    language: str = "en"
    provenance: str = "network"
    provenance_note: str = ""
    body: str = ""
    kind: str = "practice"
    """``practice`` (what a city did) or ``reference`` (background reading: guides, project overviews)."""

    def content_hash(self) -> str:
        """A stable hash of the searchable content: unchanged records are not re-embedded."""
        fields = asdict(self)
        if fields["kind"] == "practice":  # the default leaves the hashes of records made before kinds unchanged
            del fields["kind"]
        data = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CityRecord:
    """One city of the network, as in ``cities import`` files."""

    name: str
    country: str
    timezone: str
    languages: tuple[str, ...] = ()
    peer_groups: tuple[str, ...] = ()
    challenges: tuple[str, ...] = ()
    provenance: str = "network"
    source_url: str | None = None
    contacts: tuple[dict[str, str], ...] = field(default=())


def solution_from_mapping(data: dict[str, Any]) -> SolutionRecord:
    """Validate one raw mapping; raise ``ValueError`` with a message naming the field."""
    if not isinstance(data, dict):
        raise ValueError("expected an object with the fields id, city, country, title, challenge, summary")
    unknown = sorted(set(data) - set(SOLUTION_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    for key in (*REQUIRED_SOLUTION_FIELDS, "source_url", "language", "provenance", "provenance_note", "body"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"field '{key}' must be a string, not {type(value).__name__}")
    _no_nul(data)
    missing = [k for k in REQUIRED_SOLUTION_FIELDS if not _text(data.get(k))]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    record_id = data["id"].strip()
    if not ID_PATTERN.match(record_id):
        raise ValueError(f"id {record_id!r} must be a lowercase slug (letters, digits, '-', '_', '.'; "
                         "at most 120 characters)")
    tags = data.get("tags")
    if tags is None:
        tags = []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[;,]", tags)]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("field 'tags' must be a list of strings")
    language = (data.get("language") or "en").strip().lower()
    if not LANG_PATTERN.match(language):
        raise ValueError(f"language {language!r} must be an ISO 639-1 code such as en, es, pt")
    provenance = (data.get("provenance") or "network").strip().lower()
    if provenance not in PROVENANCES:
        raise ValueError(f"provenance {provenance!r} must be one of {', '.join(PROVENANCES)}")
    source_url = (data.get("source_url") or "").strip() or None
    if source_url:
        source_url = check_url(source_url, max_length=SOLUTION_LENGTHS["source_url"])
    _check_lengths(data, SOLUTION_LENGTHS)
    return SolutionRecord(
        id=record_id,
        city=data["city"].strip(),
        country=data["country"].strip(),
        title=data["title"].strip(),
        challenge=data["challenge"].strip(),
        summary=data["summary"].strip(),
        tags=tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip())),
        source_url=source_url,
        language=language,
        provenance=provenance,
        provenance_note=(data.get("provenance_note") or "").strip(),
        body=(data.get("body") or "").strip(),
        kind=_kind(data.get("kind")),
    )


CITY_FIELDS = ("name", "country", "timezone", "languages", "peer_group", "challenges", "provenance", "source_url",
               "contacts")


def city_from_mapping(data: dict[str, Any]) -> CityRecord:
    """Validate one raw city mapping; raise ``ValueError`` naming the field."""
    if not isinstance(data, dict):
        raise ValueError("expected an object with the fields name, country, timezone")
    unknown = sorted(set(data) - set(CITY_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    for key in ("name", "country", "timezone", "provenance", "source_url"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"field '{key}' must be a string, not {type(value).__name__}")
    _no_nul(data)
    missing = [k for k in ("name", "country", "timezone") if not _text(data.get(k))]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    _check_lengths(data, CITY_LENGTHS)
    if len(fold(data["name"])) > CITY_LENGTHS["name"]:
        raise ValueError(f"field 'name' is longer than {CITY_LENGTHS['name']} characters once folded")
    try:
        ZoneInfo(data["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {data['timezone']!r} (use an IANA name like Europe/Madrid)") from None
    languages = _str_list(data, "languages")
    for code in languages:
        if not LANG_PATTERN.match(code):
            raise ValueError(f"language {code!r} must be an ISO 639-1 code such as en, es, pt")
    groups = data.get("peer_group") or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError("field 'peer_group' must be a string or a list of strings")
    provenance = (data.get("provenance") or "network").strip().lower()
    if provenance not in PROVENANCES:
        raise ValueError(f"provenance {provenance!r} must be one of {', '.join(PROVENANCES)}")
    contacts = data.get("contacts") or []
    if not isinstance(contacts, list) or not all(
        isinstance(c, dict) and c.get("platform") in ("slack", "discord") and _text(c.get("user_id"))
        for c in contacts
    ):
        raise ValueError('field \'contacts\' must be a list of {"platform": "slack"|"discord", "user_id": ...}')
    for contact in contacts:
        _check_lengths(contact, CONTACT_LENGTHS, "contact ")
    source_url = (data.get("source_url") or "").strip() or None
    if source_url:
        source_url = check_url(source_url, max_length=CITY_LENGTHS["source_url"])
    return CityRecord(
        name=data["name"].strip(),
        country=data["country"].strip(),
        timezone=data["timezone"].strip(),
        languages=tuple(languages),
        peer_groups=tuple(g.strip() for g in groups if g.strip()),
        challenges=tuple(c.strip() for c in _str_list(data, "challenges") if c.strip()),
        provenance=provenance,
        source_url=source_url,
        contacts=tuple({k: str(v) for k, v in c.items()} for c in contacts),
    )


KINDS = ("practice", "reference")


def _kind(value: Any) -> str:
    kind = str(value or "practice").strip().lower()
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} must be one of {', '.join(KINDS)}")
    return kind


def _no_nul(value: Any, where: str = "") -> None:
    """ValueError when a string anywhere in ``value`` holds a NUL character (PostgreSQL cannot store one)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"field '{where}' contains a NUL character (\\0); remove it" if where
                             else "a value contains a NUL character (\\0); remove it")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, where)
            _no_nul(item, where or str(key))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _no_nul(item, where)


def _check_lengths(data: dict[str, Any], limits: Mapping[str, int], what: str = "") -> None:
    for key, limit in limits.items():
        value = data.get(key)
        if isinstance(value, str) and len(value.strip()) > limit:
            raise ValueError(f"{what}field '{key}' is longer than {limit} characters ({len(value.strip())})")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _str_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"field '{key}' must be a list of strings")
    return value
