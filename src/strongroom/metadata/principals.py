"""Which IAM entities a stored policy names: each user or role ARN in a resource or trust
policy is bound, when the policy is written, to the unique id that entity has then.

IAM matches principals by unique id, not by name ("IAM identifiers: unique IDs": "if
you delete the user and then create a new one with the same name, the new user does not
get the permissions granted to the old one"). The binding is taken in the transaction
that stores the policy and kept beside it as JSON (``{"<arn>": "<unique id>"}``); an
entity that does not exist then is bound to nothing and so matches nobody.

Every writer of a repository, registry or trust policy goes through :func:`bound_values`
or :func:`bind`, so no policy is stored without its binding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.schema import roles, users
from strongroom.policy.document import ENTITY_ARN, Policy, PolicyKind
from strongroom.policy.errors import MalformedPolicyDocument

POLICY_COLUMNS = {"policy": "policy_principals", "public_policy": "public_policy_principals"}
"""Repository columns holding a policy, and the column holding each one's binding."""


def bind(conn: sa.Connection, document: str | None) -> str | None:
    """The binding of ``document`` (JSON), read in the caller's transaction."""
    if document is None:
        return None
    try:
        named = Policy.from_json(document, PolicyKind.RESOURCE).named_entities
    except MalformedPolicyDocument:
        named = frozenset()  # stored only if valid; a document that no longer parses binds nobody
    ids = {arn: unique for arn in sorted(named) if (unique := _unique_id(conn, arn)) is not None}
    return json.dumps(ids, sort_keys=True)


def bound_values(conn: sa.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    """Repository column ``values`` with the binding of every policy among them."""
    result = dict(values)
    for column, binding in POLICY_COLUMNS.items():
        if column in values:
            result[binding] = bind(conn, values[column])
    return result


def loads(binding: str | None) -> dict[str, str]:
    """A stored binding; none stored (a policy written before bindings existed) binds nobody."""
    if not binding:
        return {}
    value = json.loads(binding)
    return {str(arn): str(unique) for arn, unique in value.items()} if isinstance(value, dict) else {}


def _unique_id(conn: sa.Connection, arn: str) -> str | None:
    match = ENTITY_ARN.match(arn)
    if match is None:
        return None
    account, name, path = match.group("account"), match.group("name"), match.group("path")
    table, column = (users, users.c.user_id) if match.group("kind") == "user" else (roles, roles.c.role_id)
    query = sa.select(column).where(table.c.account_id == account, table.c.name == name, table.c.path == path)
    found = conn.scalar(query)
    return None if found is None else str(found)
