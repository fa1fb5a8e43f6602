"""``strongroom serve`` prepares the store in a child process, so the serving process (which
every worker is forked from) never loads Alembic."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import anyio
import click
import pytest

from strongroom.cli.preparation import prepare_apart
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.services import open_database
from strongroom.settings import load_settings


def test_the_child_migrates_and_bootstraps_and_hands_back_what_it_did(tmp_path: Path) -> None:
    settings = load_settings(None, {}, data_dir=tmp_path, admin_user="root", admin_password="pw-0123456789ab")
    boot = prepare_apart(settings)
    assert boot.admin_user == "root"
    assert boot.generated_password is None  # the password was given

    async def default_account() -> str | None:
        database = open_database(settings, migrating=False)  # already migrated by the child
        try:
            return await SqlMetadataStore(database).default_account_id()
        finally:
            database.close()

    assert anyio.run(default_account) == boot.account_id
    assert prepare_apart(settings).account_id == boot.account_id  # preparing again changes nothing


def test_a_failing_child_is_a_clean_cli_error(tmp_path: Path) -> None:
    settings = load_settings(None, {}, data_dir=tmp_path, database_url="mysql://nowhere/db")
    with pytest.raises(click.ClickException, match="preparing the store failed"):
        prepare_apart(settings)


def test_serving_code_loads_neither_alembic_nor_botocore_nor_unused_dialects() -> None:
    """What a worker imports (the app, the server and the CLI it is forked from). CycloneDX
    and its dependencies (about 3 MB) serve only ``strongroom scan layout --sbom``; the other
    names are libraries of the CLI, the tests or the bench that the server never needs."""
    code = (
        "import sys, strongroom.cli.main, strongroom.cli.server, strongroom.app\n"
        "heavy = ('alembic', 'mako', 'pygments', 'psycopg', 'sqlalchemy.dialects.postgresql', 'botocore',\n"
        "         'boto3', 'urllib3', 'cyclonedx', 'packageurl', 'py_serializable', 'sortedcontainers',\n"
        "         'defusedxml', 'rich', 'jsonschema')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_serving_process_preloads_the_application_and_freezes_it(tmp_path: Path) -> None:
    """Workers are forked after the application is imported, its services built once and
    closed, and its objects frozen, so they share those pages with the serving process
    (docs/adr/0017-memory.md). Nothing of the warm-up is left open to cross the fork."""
    settings = load_settings(None, {}, data_dir=tmp_path, admin_password="pw-0123456789ab")
    prepare_apart(settings)
    code = (
        "import gc, os, pickle, sys, threading\n"
        "from strongroom.cli.server import preload_application\n"
        "assert 'strongroom.app' not in sys.modules\n"
        "fds = len(os.listdir('/proc/self/fd'))\n"
        "preload_application(pickle.loads(sys.stdin.buffer.read()))\n"
        "print('strongroom.app' in sys.modules, gc.get_freeze_count() > 10000,\n"
        "      threading.active_count(), len(os.listdir('/proc/self/fd')) - fds)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(settings), capture_output=True, check=True
    ).stdout
    assert loaded.decode().split() == ["True", "True", "1", "0"]
