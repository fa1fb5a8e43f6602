from __future__ import annotations

from pathlib import Path

import pytest

from strongroom.settings import SettingsError, load_settings


def test_precedence_flag_over_environment_over_file(tmp_path: Path) -> None:
    config = tmp_path / "strongroom.toml"
    config.write_text('port = 6000\nregion = "eu-west-1"\nhost = "0.0.0.0"\n')
    env = {"STRONGROOM_PORT": "7000", "STRONGROOM_DATA_DIR": str(tmp_path / "d")}
    settings = load_settings(config, env, port=8000, host=None)
    assert settings.port == 8000
    assert settings.region == "eu-west-1"
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == tmp_path / "d"
    assert load_settings(config, env).port == 7000
    assert load_settings(config, {}).port == 6000


def test_defaults_derive_database_and_public_url(tmp_path: Path) -> None:
    settings = load_settings(None, {"STRONGROOM_DATA_DIR": str(tmp_path)})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'strongroom.db'}"
    assert settings.resolved_public_url == "http://127.0.0.1:5000"
    public = load_settings(None, {}, public_url="https://registry.example/")
    assert public.resolved_public_url == "https://registry.example"


def test_secrets_stay_secret() -> None:
    settings = load_settings(None, {"STRONGROOM_ADMIN_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(settings)
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "hunter2"


@pytest.mark.parametrize(
    ("env", "flags"),
    [
        ({"STRONGROOM_PORT": "http"}, {}),
        ({}, {"account_id": "12"}),
        ({}, {"tls_cert": Path("/x")}),
    ],
)
def test_bad_settings_are_reported(env: dict[str, str], flags: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        load_settings(None, env, **flags)


def test_unknown_file_keys_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(config, {})


@pytest.mark.parametrize(
    ("toml", "env", "flag", "expected"),
    [
        ("", {}, None, "LIFETIME"),
        ('scan_rescan_duration = "DAYS_180"\n', {}, None, "DAYS_180"),
        (
            'scan_rescan_duration = "DAYS_180"\n',
            {"STRONGROOM_SCAN_RESCAN_DURATION": "DAYS_30"},
            None,
            "DAYS_30",
        ),
        (
            'scan_rescan_duration = "DAYS_180"\n',
            {"STRONGROOM_SCAN_RESCAN_DURATION": "DAYS_30"},
            "DAYS_14",
            "DAYS_14",
        ),
    ],
)
def test_the_rescan_duration_takes_inspectors_values_flag_over_environment_over_file(
    tmp_path: Path, toml: str, env: dict[str, str], flag: str | None, expected: str
) -> None:
    config = tmp_path / "strongroom.toml"
    config.write_text(toml)
    assert load_settings(config, env, scan_rescan_duration=flag).scan_rescan_duration == expected
    with pytest.raises(SettingsError, match="scan_rescan_duration"):
        load_settings(None, {"STRONGROOM_SCAN_RESCAN_DURATION": "DAYS_7"})
