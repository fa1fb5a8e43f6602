"""Preparing the store for ``strongroom serve`` in a short-lived process of its own.

Migrating loads Alembic (with Mako and Pygments, about 12 MB). Granian forks its workers
from the serving process, and a forked worker starts with every page its parent holds: so
the serving process never migrates itself; a child process does, and is gone before the
workers start. The child is a plain ``python -m strongroom.cli.preparation`` (not
multiprocessing, whose resource tracker would stay for the server's life); the settings go
to it, and the :class:`Bootstrap` comes back, pickled over its standard input and output.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys

import anyio
import click

from strongroom.auth.bootstrap import Bootstrap
from strongroom.services import prepare
from strongroom.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def prepare_apart(settings: Settings) -> Bootstrap:
    """:func:`strongroom.services.prepare`, run in a child process. Its log and, when it
    fails, its traceback go to standard error; then this raises a ClickException."""
    child = subprocess.run(
        [sys.executable, "-m", "strongroom.cli.preparation"],
        input=pickle.dumps(settings),
        stdout=subprocess.PIPE,
        check=False,
    )
    if child.returncode != 0:
        raise click.ClickException(f"preparing the store failed (exit status {child.returncode}); see above")
    boot = pickle.loads(child.stdout)  # noqa: S301 - written by our own child, over a pipe
    assert isinstance(boot, Bootstrap)
    return boot


def _main() -> None:
    settings = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our own parent, over a pipe
    assert isinstance(settings, Settings)
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations report themselves
    answer = sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever preparing prints must not corrupt the answer
    boot = anyio.run(prepare, settings)
    answer.write(pickle.dumps(boot))
    answer.flush()


if __name__ == "__main__":
    _main()
