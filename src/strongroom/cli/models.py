"""``strongroom model push|pull|inspect``: model artifacts on any OCI registry, through the
SDK in ``strongroom.client`` (imported when a command runs, so server processes, which
import the commands, do not load it).

Credentials, first found wins: ``--username`` with ``--password-stdin``; ``--aws`` (AWS
access keys from the environment, exchanged with ``GetAuthorizationToken``); the login
files podman, skopeo and docker write (``--authfile``, ``$REGISTRY_AUTH_FILE``,
``$XDG_RUNTIME_DIR/containers/auth.json``, ``~/.docker/config.json``); AWS access keys in
the environment; else anonymous.
"""

from __future__ import annotations

import os
import sys
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click

from strongroom.cli.output import Output, Table, emit, output_option

if TYPE_CHECKING:
    from strongroom.client import AccessKey, AsyncRegistry
    from strongroom.client.credentials import Credentials
    from strongroom.client.progress import Progress

T = TypeVar("T")
FILTERS = ("weights", "config", "docs", "code", "datasets")


def _filter(_context: click.Context, _parameter: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in FILTERS and not (value.startswith("path:") and len(value) > 5):
            raise click.BadParameter(f"{value!r}: one of {', '.join(FILTERS)} or path:<path>")
    return values


def connection_options(function: Any) -> Any:
    options = [
        click.option("--username", help="Log in as this user (the password is read with --password-stdin)."),
        click.option("--password-stdin", is_flag=True, help="Read the password from standard input."),
        click.option("--aws", "use_aws", is_flag=True,
                     help="Sign in with the AWS access keys of the environment (GetAuthorizationToken)."),
        click.option("--authfile", type=click.Path(path_type=Path, dir_okay=False),
                     help="A podman/docker login file to read instead of the usual ones."),
        click.option("--plain-http", is_flag=True, default=None,
                     help="Talk HTTP, not HTTPS (the default for localhost and 127.0.0.1)."),
        click.option("--ecr-endpoint", hidden=True,
                     help="Where GetAuthorizationToken is asked (default: the registry)."),
        click.option("--state-dir", envvar="STRONGROOM_DATA_DIR", type=click.Path(path_type=Path),
                     hidden=True,
                     help="Where uploads in progress are recorded (default: the data directory)."),
        click.option("--parallel", type=click.IntRange(1, 32), default=4, show_default=True,
                     help="Files transferred at once."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


@click.group()
def model() -> None:
    """Push, pull and inspect ML models (CNCF ModelPack artifacts; KitOps ModelKits are read too)."""


@model.command()
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("reference")
@click.option("--mount-from", metavar="REPOSITORY", help="Mount layers this repository already has.")
@click.option("--name", help="Model name (default: what the directory says, else its name).")
@click.option("--version", "model_version", help="Model version.")
@click.option("--revision", help="Source revision (a commit).")
@click.option("--license", "licenses", multiple=True, help="SPDX licence (repeatable).")
@click.option("--author", "authors", multiple=True, help="Author (repeatable).")
@click.option("--description", help="One-line description.")
@click.option("--source-url", help="Where the model's source lives.")
@click.option(
    "--immutable",
    is_flag=True,
    help="Make version tags immutable, all but the aliases (--alias); needs --aws.",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    default=("champion", "staging", "prod", "latest"),
    show_default=True,
    help="With --immutable: tags that stay movable (repeatable).",
)
@click.option("--created", help="Creation time to record (RFC 3339); left out, packing is reproducible.")
@click.option("--chunk-size", type=click.IntRange(min=1024), default=16 * 1024 * 1024, hidden=True)
@connection_options
@output_option
def push(
    directory: Path,
    reference: str,
    mount_from: str | None,
    model_version: str | None,
    licenses: tuple[str, ...],
    authors: tuple[str, ...],
    chunk_size: int,
    output: Output | None,
    name: str | None,
    revision: str | None,
    description: str | None,
    source_url: str | None,
    created: str | None,
    immutable: bool,
    aliases: tuple[str, ...],
    **connection: Any,
) -> None:
    """Pack DIRECTORY as a ModelPack artifact and push it to REFERENCE (host[:port]/repo:tag)."""
    overrides = {
        "name": name, "version": model_version, "revision": revision, "description": description,
        "source_url": source_url, "licenses": licenses or None, "authors": authors or None,
    }  # fmt: skip

    async def work(registry: AsyncRegistry, progress: Progress) -> str:
        return await registry.push_model(
            directory, reference, mount_from=mount_from, progress=progress, created=created,
            immutable_except=aliases if immutable else None, **overrides,
        )  # fmt: skip

    digest = _run(reference, work, connection, chunk_size=chunk_size)
    emit(output, {"reference": reference, "digest": digest})


@model.command()
@click.argument("reference")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--filter", "filters", multiple=True, callback=_filter,
              help="Only weights, config, docs, code, datasets, or path:<path> (repeatable).")  # fmt: skip
@connection_options
@output_option
def pull(
    reference: str, directory: Path, filters: tuple[str, ...], output: Output | None, **connection: Any
) -> None:
    """Pull the model at REFERENCE into DIRECTORY (digests verified, file modes restored)."""

    async def work(registry: AsyncRegistry, progress: Progress) -> list[str]:
        return await registry.pull_model(reference, directory, filters=filters, progress=progress)

    files = _run(reference, work, connection)
    emit(output, {"reference": reference, "directory": str(directory), "files": files})


@model.command()
@click.argument("reference")
@connection_options
@output_option
def inspect(reference: str, output: Output | None, **connection: Any) -> None:
    """Show a model's metadata and files without downloading its weights."""
    from strongroom.client import ModelInfo

    async def work(registry: AsyncRegistry, _progress: Progress) -> ModelInfo:
        return await registry.inspect_model(reference)

    info = _run(reference, work, {**connection, "quiet": True})
    document = info.to_json()
    summary = {key: value for key, value in document.items() if key != "files"}
    files = Table(
        ["path", "kind", "size", "digest"],
        [[file.path, file.kind, file.size, file.digest] for file in info.files],
        title="Files",
    )
    emit(output, document, Table.of(summary), files)


@model.command()
@click.argument("reference")
@click.argument("alias")
@connection_options
@output_option
def promote(reference: str, alias: str, output: Output | None, **connection: Any) -> None:
    """Move the tag ALIAS (champion, staging) to the model at REFERENCE.

    Version tags can stay immutable while aliases move: give the repository
    imageTagMutability IMMUTABLE_WITH_EXCLUSION with the aliases as exclusion filters."""

    async def work(registry: AsyncRegistry, _progress: Progress) -> str:
        return await registry.promote_model(reference, alias)

    digest = _run(reference, work, {**connection, "quiet": True})
    emit(output, {"reference": reference, "alias": alias, "digest": digest})


@model.command("list")
@click.argument("registry")
@click.option("--name", help="A substring of the model's or repository's name; NAME* for a prefix.")
@click.option("--format", "fmt", help="safetensors, gguf, onnx, pytorch, …")
@click.option("--min-params", type=float, help="At least this many parameters (1e9 is accepted).")
@click.option("--max-params", type=float, help="At most this many parameters.")
@click.option("--license", help="A licence the model declares (apache-2.0, mit, …).")
@click.option("--architecture", help="LlamaForCausalLM, llama, …")
@click.option("--tag", help="Only models with this tag.")
@click.option("--since", help="Pushed since: RFC 3339, or a time ago (30m, 7d).")
@click.option("--before", help="Pushed before: RFC 3339, or a time ago.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many models.")
@connection_options
@output_option
def list_models(registry: str, output: Output | None, fmt: str | None, **options: Any) -> None:
    """List the models of REGISTRY (host[:port]) that you may see, newest first."""
    names = ("name", "min_params", "max_params", "license", "architecture", "tag", "since", "before", "limit")
    filters = {key: options.pop(key) for key in names}

    async def work(client: AsyncRegistry, _progress: Progress) -> list[dict[str, Any]]:
        return await client.list_models(format=fmt, **filters)

    found = _run(registry, work, {**options, "quiet": True})
    columns = ("repository", "tags", "name", "format", "parameters", "architecture", "licenses", "pushed")
    rows = [
        [
            f"{model.get('registryId')}/{model.get('repositoryName')}",
            ",".join(model.get("imageTags") or []),
            model.get("name"), model.get("format"), model.get("parameterCount"), model.get("architecture"),
            ",".join(model.get("licenses") or []), model.get("pushedAt"),
        ]
        for model in found
    ]  # fmt: skip
    emit(output, {"models": found}, Table(columns, rows))


def _run(
    reference: str,
    work: Callable[[AsyncRegistry, Progress], Awaitable[T]],
    connection: dict[str, Any],
    **options: Any,
) -> T:
    import httpx

    from strongroom.client import AsyncRegistry
    from strongroom.client.admin import AdminApiError
    from strongroom.client.blobs import DigestMismatch
    from strongroom.client.credentials import CredentialsError
    from strongroom.client.modelfile import ModelfileError
    from strongroom.client.modelfiles import UnsafeDirectory
    from strongroom.client.models import UnsafePath
    from strongroom.client.progress import NullProgress, RichProgress
    from strongroom.client.reference import BadReference, Reference
    from strongroom.client.transport import RegistryError

    try:
        # A registry alone (``model list``) or a reference on it.
        host = Reference.parse(reference if "/" in reference else f"{reference}/x").registry
        credentials = _credentials(host, connection)
        state = connection["state_dir"] or Path.home() / ".local" / "share" / "strongroom"
        registry = AsyncRegistry(
            host, credentials, plain_http=connection["plain_http"], journal=Path(state) / "uploads",
            parallel=connection["parallel"], ecr_endpoint=connection["ecr_endpoint"], **options,
        )  # fmt: skip

        async def main() -> T:
            async with registry:
                if connection["quiet"] or not sys.stdout.isatty():
                    return await work(registry, NullProgress())
                with RichProgress() as progress:
                    return await work(registry, progress)

        return anyio.run(main)
    except (
        BadReference,
        CredentialsError,
        UnsafeDirectory,
        UnsafePath,
        DigestMismatch,
        ModelfileError,
    ) as error:
        raise click.ClickException(str(error)) from None
    except tarfile.TarError as error:
        raise click.ClickException(f"a tar layer was refused: {error}") from None
    except (RegistryError, AdminApiError) as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    except httpx.HTTPError as error:
        raise click.ClickException(f"could not reach {reference.split('/', 1)[0]}: {error}") from None
    except OSError as error:  # a full disk, a file that cannot be read or written
        raise click.ClickException(str(error)) from None


def _credentials(host: str, connection: dict[str, Any]) -> Credentials:
    from strongroom.client import Login
    from strongroom.client.credentials import auth_file_paths, login_from_files

    if connection["password_stdin"] and not connection["username"]:
        raise click.UsageError("--password-stdin goes with --username")
    if connection["username"]:
        if not connection["password_stdin"]:
            raise click.UsageError("give the password with --password-stdin")
        return Login(connection["username"], sys.stdin.readline().rstrip("\r\n"))
    keys = _access_key()
    if connection["use_aws"]:
        if keys is None:
            raise click.UsageError("--aws needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        return keys
    paths = [connection["authfile"]] if connection["authfile"] else auth_file_paths(os.environ, Path.home())
    login: Login | AccessKey | None = login_from_files(host, paths)
    return login or keys


def _access_key() -> AccessKey | None:
    from strongroom.client import AccessKey

    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return AccessKey(key, secret, os.environ.get("AWS_SESSION_TOKEN"), region)
