"""Hostile input for every front door, as hypothesis strategies, and what a server has
stored, to tell that a refused request changed nothing.

Values are drawn from pools that name what the fuzzed server really holds (its
repositories, image, users, role), so requests get past "no such repository" into the
handlers, mixed with the inputs that broke parsers before: 5,000-digit numbers,
``²``, nesting thousands deep, ``NaN``, byte order marks, lone surrogates, huge and
negative sizes. JSON is written by :func:`dump`, which can place raw text (a number no
``json.dumps`` would write) anywhere in a document.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st

HUGE = "9" * 5000
BOM = "\ufeff"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Raw:
    """JSON text placed as is by :func:`dump`."""

    text: str


def dump(value: Any) -> str:
    """``value`` as JSON text, with :class:`Raw` pieces verbatim (no recursion limit issue:
    values come from bounded strategies)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(item) for item in value) + "]"
    return json.dumps(value)


RAW_HOSTILE = [
    Raw(HUGE),
    Raw("-" + HUGE),
    Raw("1" + "0" * 30),
    Raw("1e400"),
    Raw("NaN"),
    Raw("-Infinity"),
    Raw(nested(3000)),
    Raw('"\\ud800"'),
    Raw("0." + "0" * 200 + "1"),
]
HOSTILE_TEXTS = [
    "",
    " ",
    HUGE,
    "\u00b2",
    "\u0663",
    "1\u00b2",
    "-1",
    "0",
    "99999999999999999999",
    "NaN",
    "null",
    "{}",
    nested(3000),
    BOM + "{}",
    "a" * 5000,
    "../../etc/passwd",
    "%00",
    "\x00",
    "*",
    "\u202e\u00e9\u4e2d",
    "\ud800",
]
"""Scalars that have made parsers fail; ``\\ud800`` only where JSON escapes it."""

safe_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
"""Text a form or header can carry (no lone surrogates)."""


def hostile_texts(*, surrogates: bool) -> st.SearchStrategy[str]:
    pool = [text for text in HOSTILE_TEXTS if surrogates or text != "\ud800"]
    return st.sampled_from(pool) | (st.text(max_size=40) if surrogates else safe_text)


@dataclass(frozen=True)
class World:
    """What the fuzzed server holds, so requests can name real things."""

    account: str
    repository: str
    public_repository: str
    tag: str
    manifest: bytes
    config_digest: str
    layer_digest: str
    user: str
    role: str
    policy_arn: str
    access_key_id: str

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.role}"

    @property
    def repository_arn(self) -> str:
        return f"arn:aws:ecr:us-east-1:{self.account}:repository/{self.repository}"


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**64), 2**64)
        | st.floats(allow_nan=False)
        | st.text(max_size=20)
        | st.sampled_from(RAW_HOSTILE)
        | leaves
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def mutated(draw: st.DrawFn, document: Any, leaves: st.SearchStrategy[Any]) -> Any:
    """``document`` with one to three values replaced, added or removed anywhere."""
    copy = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        container = copy
        while True:
            children = list(container.items()) if isinstance(container, dict) else list(enumerate(container))
            if not children:
                break
            key, child = draw(st.sampled_from(children))
            if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                container = child
                continue
            action = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
            if action == "drop":
                del container[key]
            elif action == "add" and isinstance(container, dict):
                container[draw(st.text(max_size=12))] = draw(json_values(leaves))
            else:
                container[key] = draw(json_values(leaves))
            break
    return copy


def document_texts(valid: list[Any], leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """Valid documents as text, mutated ones, and raw hostile JSON."""
    documents = st.sampled_from(valid)
    return st.one_of(
        documents.map(dump),
        documents.flatmap(lambda document: mutated(document, leaves)).map(dump),
        documents.map(lambda document: BOM + dump(document)),
        st.sampled_from(RAW_HOSTILE).map(lambda raw: raw.text),
        json_values(leaves).map(dump),
    )


def manifest_documents(world: World) -> list[Any]:
    manifest = json.loads(world.manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": world.manifest_digest, "size": len(world.manifest)}
        ],
    }
    referrer = {
        **manifest,
        "subject": {"mediaType": OCI_MANIFEST, "digest": world.manifest_digest, "size": 1},
    }
    return [manifest, index, referrer, {**manifest, "mediaType": DOCKER_MANIFEST}]


def manifest_texts(world: World) -> st.SearchStrategy[str]:
    digests = st.sampled_from([world.manifest_digest, world.layer_digest, world.config_digest, "sha256:"])
    return document_texts(manifest_documents(world), digests | st.sampled_from([OCI_LAYER, OCI_INDEX]))


def policy_documents(world: World) -> list[Any]:
    principal = {"AWS": [f"arn:aws:iam::{world.account}:user/{world.user}", world.account]}
    return [
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Pull", "Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}
            ],
        },
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "ecr:DescribeImages",
                    "Condition": {"StringEquals": {"aws:SourceAccount": world.account}},
                }
            ],
        },
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        },
    ]


def policy_texts(world: World) -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["*", "ecr:*", world.role_arn, world.repository_arn, "2008-10-17", "Deny"])
    return document_texts(policy_documents(world), leaves)


LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                          "countNumber": 14},
            "action": {"type": "expire"},
        }
    ]
}  # fmt: skip


def lifecycle_texts() -> st.SearchStrategy[str]:
    return document_texts([LIFECYCLE], st.sampled_from(["tagged", "imageCountMoreThan", 0, 2**31]))


def base64_texts() -> st.SearchStrategy[str]:
    return st.binary(max_size=64).map(lambda data: base64.b64encode(data).decode()) | st.sampled_from(
        ["", "!!", "a", HUGE]
    )


def snapshot(data_dir: Path, database: sa.Engine) -> dict[str, Any]:
    """Everything stored: each metadata table (but the audit log, which records refusals,
    the job queue, where the server schedules its periodic work on its own clock, and key
    last-use times) and the blob and upload files. Read straight from the store,
    so tables no API lists (uploads, blob links) count too, at a fraction of the cost of
    asking every API."""
    found: dict[str, Any] = {}
    with database.connect() as connection:
        for table in sorted(
            set(sa.inspect(connection).get_table_names()) - {"audit_events", "alembic_version", "jobs"}
        ):
            result = connection.execute(sa.text(f'SELECT * FROM "{table}"'))  # names from the catalog
            keep = [i for i, column in enumerate(result.keys()) if column != "last_used_at"]
            found[table] = sorted(repr([row[i] for i in keep]) for row in result)
    storage = data_dir / "storage"
    for folder in ("blobs", "uploads"):
        found[folder] = sorted(
            (str(path.relative_to(storage)), path.stat().st_size)
            for path in (storage / folder).rglob("*")
            if path.is_file()
        )
    return found


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed, per table or folder: the rows or files added and removed."""
    changed = {}
    for key in sorted(set(before) | set(after)):
        old, new = set(before.get(key, ())), set(after.get(key, ()))
        if old != new:
            changed[key] = {"added": sorted(new - old)[:5], "removed": sorted(old - new)[:5]}
    return changed
