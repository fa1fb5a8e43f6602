"""The outside tools the tests drive, in one table, and the one way a test asks for them.

Required parts (skopeo, podman, docker-registry, the AWS CLIs, PostgreSQL, mounting a tmpfs)
are installed by ``make test`` before pytest starts (``python tests/support/tools.py
install``: apt-get as root, otherwise it prints the one command to run). A test asks for a
part with :func:`require`: when the part is missing the test fails with a message naming
it, unless ``STRONGROOM_TEST_SKIP`` names the part (``STRONGROOM_TEST_SKIP=podman,postgres``),
the only way to skip a required part.

Optional tools (Terraform with a local mirror of its AWS provider, which no package registry
we reach carries) are asked for with :func:`optional`: absent, the test is skipped and
recorded, and the end of the run prints one line per absent tool with the tests it did not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

SKIP_VARIABLE = "STRONGROOM_TEST_SKIP"
DEBIAN_AWS_CLI = "/usr/bin/aws"
"""Debian 12's packaged AWS CLI (2.9): it ignores ``AWS_ENDPOINT_URL``, so the README is
tested with it as well as with the current CLI installed into the virtual environment."""


@dataclass(frozen=True)
class Part:
    name: str
    executables: tuple[str, ...]
    """Names looked up on PATH (PostgreSQL's also in /usr/lib/postgresql/*/bin), or absolute
    paths; ``aws`` is the one in this virtual environment."""
    apt_packages: tuple[str, ...]
    what_for: str


PARTS = {
    part.name: part
    for part in (
        Part("skopeo", ("skopeo",), ("skopeo",), "skopeo copies through the OCI API"),
        Part(
            "docker-registry", ("docker-registry",), ("docker-registry",),
            "Debian's distribution 2.8, a plain OCI registry replicated to (and `make bench`'s baseline)",
        ),
        Part(
            "podman", ("podman", "newuidmap"), ("podman", "uidmap"),
            "podman logs in, pushes and pulls (vfs storage)",
        ),
        Part(
            "awscli", ("aws", DEBIAN_AWS_CLI), ("awscli",),
            "the AWS CLI (current, from the dev extra, and Debian's) runs the README's commands",
        ),
        Part(
            "postgres", ("initdb", "pg_ctl", "postgres"), ("postgresql",),
            "metadata contract tests on a throwaway PostgreSQL cluster",
        ),
        Part(
            "tmpfs", ("mount", "umount"), ("mount",),
            "the full-disk tests mount a small tmpfs (which needs root)",
        ),
        Part("rpm", ("rpm", "rpmbuild"), ("rpm",), "rpm writes the rpmdb.sqlite the scanner reads"),
        Part(
            "berkeleydb", ("db5.3_load",), ("db5.3-util",),
            "Berkeley DB's db_load writes the rpm Packages hash database the scanner reads",
        ),
        Part("go", ("go",), ("golang-go",), "go builds the binary whose build info the scanner reads"),
        Part("dpkg", ("dpkg",), ("dpkg",), "dpkg is the reference for the Debian version order"),
    )
}  # fmt: skip
PIP_INSTALLED = frozenset({"aws"})
"""Executables that come with ``pip install -e .[dev]`` (``make install``), not apt."""


def opted_out() -> frozenset[str]:
    """The parts named in ``STRONGROOM_TEST_SKIP``; an unknown name fails the run (a typo
    must not silently turn a skip into a pass)."""
    names = {name.strip() for name in os.environ.get(SKIP_VARIABLE, "").split(",") if name.strip()}
    unknown = names - PARTS.keys()
    if unknown:
        raise pytest.UsageError(
            f"{SKIP_VARIABLE} names unknown parts {sorted(unknown)}; known: {', '.join(PARTS)}"
        )
    return frozenset(names)


def find_executable(name: str) -> str | None:
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    if name in PIP_INSTALLED:
        candidate = Path(sys.executable).parent / name
        return str(candidate) if os.access(candidate, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps PostgreSQL's server programs off PATH, one directory per major version.
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]), reverse=True
    )
    return str(versions[0]) if versions else None


def missing_executables(part: Part) -> list[str]:
    return [name for name in part.executables if find_executable(name) is None]


def install_hint(parts: list[Part]) -> str:
    packages = sorted({package for part in parts for package in part.apt_packages})
    return f"apt-get install -y --no-install-recommends {' '.join(packages)}"


def require(name: str, executable: str | None = None) -> str:
    """The path of ``executable`` (default: the part's first) of required part ``name``.

    Missing, the test fails naming the part and how to get it; opted out through
    ``STRONGROOM_TEST_SKIP``, it is skipped."""
    part = PARTS[name]
    skip_if_opted_out(name)
    wanted = part if executable is None else Part(name, (executable,), part.apt_packages, part.what_for)
    missing = missing_executables(wanted)
    if missing:
        how = "run `make install`" if set(missing) <= PIP_INSTALLED else install_hint([part])
        pytest.fail(
            f"required part {name!r} ({part.what_for}) is missing {', '.join(missing)}: "
            f"`make test` installs it ({how}); to run without it, set {SKIP_VARIABLE}={name}",
            pytrace=False,
        )
    found = find_executable(executable or part.executables[0])
    assert found is not None, f"{executable} is not one of {name}'s executables"
    return found


def skip_if_opted_out(name: str) -> None:
    if name in opted_out():
        pytest.skip(f"{name} opted out by {SKIP_VARIABLE}")


_absent_optional: defaultdict[str, list[str]] = defaultdict(list)


def optional(tool: str, request: pytest.FixtureRequest, why: str) -> NoReturn:
    """Skip the requesting test because optional ``tool`` is absent, and record it for the
    summary at the end of the run."""
    _absent_optional[tool].append(request.node.nodeid)
    pytest.skip(f"optional: {tool} is absent ({why})")


def absent_optional_tools() -> dict[str, list[str]]:
    return dict(_absent_optional)


def install_missing() -> int:
    """What ``make test`` runs first: apt-get install the missing parts (as root), or print
    the one command to run. Parts opted out are not installed."""
    skipped = opted_out()
    parts = [part for part in PARTS.values() if part.name not in skipped]
    pip_missing = [name for part in parts for name in missing_executables(part) if name in PIP_INSTALLED]
    if pip_missing:
        print(f"tests: {', '.join(pip_missing)} missing from the virtual environment: run `make install`")
        return 1
    needed = [part for part in parts if missing_executables(part)]
    if not needed:
        return 0
    command = install_hint(needed)
    names = ",".join(part.name for part in needed)
    if os.geteuid() != 0:
        print(f"tests: {names} missing. Install with:\n  sudo {command}")
        print(f"or run without them: {SKIP_VARIABLE}={names} make test")
        return 1
    print(f"tests: installing {names}: {command}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
    subprocess.run([*command.split(), "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
    still = [part.name for part in needed if missing_executables(part)]
    if still:
        print(f"tests: still missing after apt-get: {', '.join(still)}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    if argv == ["install"]:
        try:
            return install_missing()
        except pytest.UsageError as error:
            print(f"tests: {error}")
            return 2
    if argv == ["check"]:
        needed = [part for part in PARTS.values() if missing_executables(part)]
        for part in needed:
            print(f"{part.name}: missing {', '.join(missing_executables(part))}")
        if needed:
            print(f"would run: {install_hint(needed)}")
        return 0
    print("usage: tools.py install|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
