"""Identities and policies on SQL: users, roles, access keys (long-term and temporary),
inline and managed policies, repository and registry policies, repository visibility.

One store composed of one module per responsibility::

    iam_users.py          users and access keys
    iam_roles.py          roles, trust policies, temporary credentials
    iam_policies.py       inline and managed identity policies, attachments
    resource_policies.py  repository and registry policies, visibility, scope
    iam_rows.py           the rows as records, queries they share
"""

from __future__ import annotations

from strongroom.metadata.database import Database
from strongroom.metadata.iam_policies import SqlIdentityPolicies
from strongroom.metadata.iam_roles import SqlRoles
from strongroom.metadata.iam_rows import REGISTRY_POLICY_SCOPE, PrincipalKind
from strongroom.metadata.iam_users import SqlUsers
from strongroom.metadata.resource_policies import SqlResourcePolicies

__all__ = ["REGISTRY_POLICY_SCOPE", "PrincipalKind", "SqlIamStore"]


class SqlIamStore(SqlUsers, SqlRoles, SqlIdentityPolicies, SqlResourcePolicies):
    def __init__(self, database: Database) -> None:
        self._db = database
