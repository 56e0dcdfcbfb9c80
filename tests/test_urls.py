"""Links coming in (import files, cities, "save as solution"): only well-formed http(s) URLs get stored (#17, 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import Runtime
from bot.errors import InvalidInput
from knowledge import read_cities, read_solutions
from knowledge.records import city_from_mapping, solution_from_mapping
from knowledge.urls import check_url

#: Saved as a solution's source, it made the Slack renderer post a live @channel (issue 17, finding 1).
PING = "https://a.example/x><!channel><https://b.example/y"
SOLUTION = {"id": "lyon-repair", "city": "Lyon", "country": "France", "title": "Repair cafes",
            "challenge": "Waste.", "summary": "Volunteers repair household items; 40 events a year."}
CITY = {"name": "Lyon", "country": "France", "timezone": "Europe/Paris"}


@pytest.mark.parametrize("url", [
    PING,
    "https://a.example/x|label",
    'https://a.example/"quoted"',
    "https://a.example/with space",
    "https://a.example/tab\there",
    "https://a.example/new\nline",
    "https://a.example/\x00nul",
    "https://a.example/\u202eevil",  # a right-to-left override
    "https://a.example\\@b.example/",
    "https:///no-host",
    "https://",
    "http:example.org",
    "ftp://example.org/file",
    "javascript:alert(1)",
    "https://user:pass@a.example/",
    "https://trusted.example@evil.example/",
    "https://a.example:notaport/",
    "https://a.example:99999/",
    "https://-bad-.example/",
])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="source_url"):
        check_url(url)


@pytest.mark.parametrize("url, normal", [
    ("https://example.org/vouchers", "https://example.org/vouchers"),
    ("HTTPS://Example.ORG/Path?q=1&r=2#top", "https://example.org/Path?q=1&r=2#top"),
    ("https://read.oecd.org/10.1787/05004bb0-en?format=html", "https://read.oecd.org/10.1787/05004bb0-en?format=html"),
    ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
    ("https://a.example/already%20encoded", "https://a.example/already%20encoded"),
    ("https://a.example/{curly}^", "https://a.example/%7Bcurly%7D%5E"),
    ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
    ("http://[::1]:8080/x", "http://[::1]:8080/x"),
])
def test_well_formed_urls_are_kept_and_encoded_by_the_library(url: str, normal: str) -> None:
    assert check_url(url) == normal


def test_a_solution_record_refuses_the_channel_ping_and_an_over_long_url() -> None:
    with pytest.raises(ValueError, match="source_url must not contain < >"):
        solution_from_mapping({**SOLUTION, "source_url": PING})
    with pytest.raises(ValueError, match="longer than 1000"):
        solution_from_mapping({**SOLUTION, "source_url": "https://a.example/" + "x" * 1000})
    stored = solution_from_mapping({**SOLUTION, "source_url": " https://Lyon.example/réparer "})
    assert stored.source_url == "https://lyon.example/r%C3%A9parer"


def test_a_city_refuses_a_bad_source_url() -> None:
    with pytest.raises(ValueError, match="source_url"):
        city_from_mapping({**CITY, "source_url": PING})
    with pytest.raises(ValueError, match="source_url"):
        city_from_mapping({**CITY, "source_url": "not a link"})
    assert city_from_mapping({**CITY, "source_url": "https://lyon.example/"}).source_url == "https://lyon.example/"


def test_every_import_format_refuses_the_channel_ping(tmp_path: Path) -> None:
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(json.dumps({**SOLUTION, "source_url": PING}) + "\n", "utf-8")
    csv = tmp_path / "b.csv"
    csv.write_text("id,city,country,title,challenge,summary,source_url\n"
                   f"lyon-csv,Lyon,France,Repair,Waste.,Volunteers repair.,{PING}\n", "utf-8")
    markdown = tmp_path / "c.md"
    markdown.write_text(f"---\nid: lyon-md\ncity: Lyon\ncountry: France\ntitle: Repair\nchallenge: Waste.\n"
                        f"source_url: \"{PING}\"\n---\nVolunteers repair household items.\n", "utf-8")
    loaded = read_solutions([jsonl, csv, markdown])
    assert loaded.records == []
    assert [(p.path, "source_url" in p.message) for p in loaded.problems] == [
        (str(jsonl), True), (str(csv), True), (str(markdown), True)]

    cities = tmp_path / "cities.jsonl"
    cities.write_text(json.dumps({**CITY, "source_url": PING}) + "\n", "utf-8")
    problem, = read_cities(cities).problems
    assert problem.line == 1 and "source_url" in problem.message


def test_saving_an_answer_refuses_the_channel_ping(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="source_url"):
        runtime.knowledge.save_answer(title="Repair cafes", city="Lyon", country="France", summary="Volunteers.",
                                      challenge="Waste.", source_url=PING, saved_by="slack:U1")
    assert runtime.knowledge.list() == []
