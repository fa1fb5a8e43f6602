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


DESTINATION = """
[[replication.destinations]]
region = "us-east-1"
registry_id = "111111111111"
url = "https://east.example:5000"
access_key_id = "AKIAEXAMPLE0000KEY01"
"""


def test_replication_destinations_come_from_the_file_with_one_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "east.secret"
    secret_file.write_text("s3cret/value\n")
    config = tmp_path / "settings.toml"
    config.write_text(DESTINATION + f'secret_access_key_file = "{secret_file}"\n')
    [destination] = load_settings(config, {"STRONGROOM_REPLICATION": "ignored"}).replication.destinations
    assert (destination.region, destination.registry_id, destination.kind) == (
        "us-east-1",
        "111111111111",
        "strongroom",
    )
    assert destination.secret() == "s3cret/value"
    config.write_text(DESTINATION + 'secret_access_key = "inline-s3cret"\n')
    [inline] = load_settings(config, {}).replication.destinations
    assert inline.secret() == "inline-s3cret" and "inline-s3cret" not in repr(inline)
    assert load_settings(None, {}).replication.destinations == ()


@pytest.mark.parametrize(
    "extra",
    [
        'secret_access_key = "never-shown-1"\nsecret_access_key_file = "/x"\n',  # both
        'secret_access_key = "never-shown-1"\nkind = "ftp"\n',
        'secret_access_key = "never-shown-1"\nsurprise = "never-shown-1"\n',
        "",  # neither
    ],
)
def test_a_bad_destination_table_is_refused_without_its_secret(tmp_path: Path, extra: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(DESTINATION + extra)
    with pytest.raises(SettingsError) as refused:
        load_settings(config, {})
    assert "replication.destinations" in str(refused.value)
    assert "never-shown-1" not in str(refused.value)
