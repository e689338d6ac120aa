"""The configuration: defaults < TOML file < environment, errors naming the key and its source."""

from __future__ import annotations

import pytest

from hydroserve.api.config import ConfigError, load_settings, settings_env


def test_invalid_configuration_fails_at_start_naming_the_key(runner):
    result = runner("list", env={"HYDROSERVE_SNIPPET_INTERVAL_S": "two"})
    assert result.exit_code == 2
    err = result.stderr
    assert "snippet_interval_s (from environment variable HYDROSERVE_SNIPPET_INTERVAL_S): Not a valid integer" in err


def test_configuration_file_is_overridden_by_the_environment(tmp_path):
    config = tmp_path / "hydroserve.toml"
    config.write_text('data_dir = "/srv/acoustics"\nsnippet_duration_s = 60\nsnippet_interval_s = 60\ncollection = "acoustic21_02"\n')
    settings = load_settings(config, env={"HYDROSERVE_SNIPPET_DURATION_S": "30.5"})
    assert str(settings.data_dir) == "/srv/acoustics" and settings.collection == "acoustic21_02"
    assert settings.snippet_duration_s == pytest.approx(30.5) and settings.snippet_interval_s == 60
    assert settings.database_url == "sqlite:////srv/acoustics/catalog.sqlite"
    assert settings.cut.window_ticks == 30.5 * 62_500_000 and settings.cut.max_samples == 5_957_032  # ceil(30.5 * 195312.5)
    config.write_text("snippet_lenght_s = 3\n")
    with pytest.raises(ConfigError, match=r"snippet_lenght_s \(in .*hydroserve.toml\): Unknown field"):
        load_settings(config, env={})


def test_settings_round_trip_through_the_environment(tmp_path):
    (tmp_path / "s.toml").write_text('detector = "ARCA"\n')
    settings = load_settings(env={}, data_dir=str(tmp_path), snippet_duration_s="12.5", api_tokens="a,b",
                             vtp_brokers="127.0.0.1:8098,[::1]:8099", sensors_file=str(tmp_path / "s.toml"))
    env = settings_env(settings)
    assert env["HYDROSERVE_SNIPPET_DURATION_S"] == "25/2" and env["HYDROSERVE_API_TOKENS"] == "a,b"
    assert load_settings(env=env) == settings


@pytest.mark.parametrize("bind", ["0.0.0.0:8000", "[::]:8000"])
def test_a_wildcard_bind_needs_a_public_url(tmp_path, bind):
    with pytest.raises(ConfigError, match=r"public_url \(default\) must be set when bind \(from environment variable HYDROSERVE_BIND\)"):
        load_settings(env={"HYDROSERVE_BIND": bind}, data_dir=str(tmp_path))
    given = load_settings(env={"HYDROSERVE_BIND": bind, "HYDROSERVE_PUBLIC_URL": "https://acoustics.example.org/"}, data_dir=str(tmp_path))
    assert given.public_url == "https://acoustics.example.org"
