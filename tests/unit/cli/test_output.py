"""One output convention for every command (cli/output.py, DESIGN.md §10): data is printed
through ``--output table|json``, table on a terminal and JSON otherwise; files are
written through ``--file``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import strongroom.cli
from strongroom.cli.main import main
from strongroom.cli.output import Output, Table, emit, resolve
from strongroom.cli.policy import policy_validate

# Commands that print no data, and why. A new command is either here or takes --output.
SILENT = {
    "serve": "runs the server; what it prints is a log",
    "admin reset-password": "prints one sentence; the secret goes to a terminal or a 0600 file",
    "iam delete-user": "prints nothing, as the AWS CLI",
    "iam update-access-key": "prints nothing, as the AWS CLI",
    "iam delete-access-key": "prints nothing, as the AWS CLI",
    "iam put-user-policy": "prints nothing, as the AWS CLI",
    "iam delete-user-policy": "prints nothing, as the AWS CLI",
    "iam delete-role": "prints nothing, as the AWS CLI",
    "iam update-assume-role-policy": "prints nothing, as the AWS CLI",
    "iam put-role-policy": "prints nothing, as the AWS CLI",
    "iam delete-role-policy": "prints nothing, as the AWS CLI",
    "repo delete-policy": "prints nothing, as the AWS CLI",
    "jobs run": "runs job runners until signalled; prints a log, not data",
    "webhook delete": "prints nothing, as the AWS CLI",
    "webhook enable": "prints nothing, as the AWS CLI",
    "repo set-visibility": "prints nothing, as the AWS CLI",
    "repo delete-pull-policy": "prints nothing, as repo delete-policy",
    "lineage delete-policy": "prints nothing, as repo delete-pull-policy",
    "replication destination remove": "prints nothing, as webhook delete",
}
WRITES_FILES = {"audit export"}
REPO = "arn:aws:ecr:us-east-1:111122223333:repository/ml/a"


def commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    context = click.Context(group)
    for name in group.list_commands(context):  # the public way: main loads its groups lazily
        command = group.get_command(context, name)
        assert command is not None, name
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} ")
        else:
            yield path, command


def option(command: click.Command, name: str) -> click.Option | None:
    found = [p for p in command.params if isinstance(p, click.Option) and name in p.opts]
    return found[0] if found else None


ALL = dict(commands(main))


@pytest.mark.parametrize("path", sorted(set(ALL) - set(SILENT)))
def test_every_command_that_prints_data_takes_output_table_or_json(path: str) -> None:
    output = option(ALL[path], "--output")
    assert output is not None, f"strongroom {path} prints data but has no --output"
    assert isinstance(output.type, click.Choice)
    assert list(output.type.choices) == ["table", "json"]
    assert not output.required


@pytest.mark.parametrize("path", sorted(SILENT))
def test_silent_commands_exist_and_take_no_output(path: str) -> None:
    assert path in ALL, f"{path} is listed as silent but is not a command"
    assert option(ALL[path], "--output") is None


@pytest.mark.parametrize("path", sorted(WRITES_FILES))
def test_commands_that_write_files_take_file(path: str) -> None:
    file = option(ALL[path], "--file")
    assert file is not None
    assert isinstance(file.type, click.Path)


def test_only_the_output_module_renders_json() -> None:
    package = Path(strongroom.cli.__file__).parent
    rendering = [p.name for p in package.glob("*.py") if "json.dumps" in p.read_text()]
    assert rendering == ["output.py"]


# the default follows the terminal


def test_the_default_is_json_off_a_terminal_and_a_table_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve(None) is Output.JSON  # pytest captures stdout: not a terminal
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert resolve(None) is Output.TABLE
    assert resolve(Output.JSON) is Output.JSON


def test_a_command_prints_json_off_a_terminal_and_a_table_when_asked() -> None:
    statement = {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": REPO}
    clean = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    as_json = CliRunner().invoke(policy_validate, ["--policy-document", clean])
    assert json.loads(as_json.stdout) == {"policyType": "identity", "findings": []}
    table = CliRunner().invoke(policy_validate, ["--policy-document", clean, "--output", "table"])
    assert table.exit_code == 0
    assert table.stdout.splitlines() == ["identity policy: 0 findings", "TYPE  ISSUE  LOCATION  DETAILS"]
    wide = clean.replace("ecr:BatchGetImage", "ecr:*")
    rows = CliRunner().invoke(policy_validate, ["--policy-document", wide, "--output", "table"])
    _title, header, finding = rows.stdout.splitlines()
    assert header.split()[:2] == ["TYPE", "ISSUE"]
    assert finding.split()[:3] == ["SUGGESTION", "WILDCARD_ACTION_ALLOW", "Statement[0].Action"]
    refused = CliRunner().invoke(policy_validate, ["--policy-document", clean, "--output", "yaml"])
    assert refused.exit_code == 2
    assert "'yaml' is not one of 'table', 'json'" in refused.stderr


# tables


def test_a_list_of_objects_is_one_row_each_under_the_union_of_their_keys() -> None:
    table = Table.of({"Roles": [{"RoleName": "a", "Path": "/"}, {"RoleName": "bb", "Description": "x"}]})
    assert table.lines() == [
        "ROLENAME  PATH  DESCRIPTION",
        "a         /     -",
        "bb        -     x",
    ]


def test_a_record_is_one_row_per_leaf_with_dotted_names() -> None:
    value = {"User": {"UserName": "ci", "Tags": ["a", "b"]}, "ok": True, "n": [{"x": 1}]}
    assert Table.of(value).lines() == [
        "FIELD          VALUE",
        "User.UserName  ci",
        "User.Tags      a,b",
        "ok             true",
        "n[0].x         1",
    ]


def test_control_characters_from_remote_text_never_reach_the_terminal() -> None:
    hostile = "repo\x1b]0;owned\x07\x1b[2J\u202eevil\nline"
    (_, row) = Table(["name"], [[hostile]]).lines()
    assert row.isprintable()
    assert row == "repo\\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\nline"


def test_emit_prints_the_value_as_json_or_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    value = {"count": 2}
    emit(Output.JSON, value, Table(["a"], [[1]]))
    assert json.loads(capsys.readouterr().out) == value
    emit(Output.TABLE, value, Table(["a"], [[1]], title="first"), Table(["b"], [[2]]))
    assert capsys.readouterr().out == "first\nA\n1\n\nB\n2\n"
