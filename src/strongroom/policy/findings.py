"""Policy checks beyond validity: what a well-formed policy may still get wrong.

Modelled on IAM Access Analyzer's ValidatePolicy: each finding has a type (``ERROR``,
``SECURITY_WARNING``, ``WARNING``, ``SUGGESTION``), an issue code, the statement it is
about and a message that says why it matters. Checks, by type and issue code:

* ERROR ``UNKNOWN_ACTION``: an ``ecr:``/``ecr-public:`` name or pattern matching no
  action of that service (their tables are complete).
* SECURITY_WARNING ``PUBLIC_PRINCIPAL_WITHOUT_CONDITION``: ``Allow`` to ``Principal: "*"``
  with no ``Condition``.
* SECURITY_WARNING ``WRITE_ACTIONS_FOR_EVERYONE``: ``Allow`` of a write action to ``"*"``
  unless a condition names the principals (``aws:PrincipalArn``, ``…Account``, ``…OrgID``).
* SUGGESTION ``REGISTRY_REQUESTS_ONLY``: an ``Allow`` whose condition needs
  ``aws:SourceArn`` or ``aws:SourceAccount``. Those keys are present only on requests the
  registry makes itself for a resource (replication, pull-through), never on a user's
  (DESIGN §10), so the statement grants no user or role; the public-principal checks do
  not apply to it.
* WARNING ``UNSUPPORTED_ACTION``: an ``iam:``/``sts:`` name Strongroom does not implement.
* WARNING ``UNKNOWN_SERVICE``: a service prefix Strongroom has no actions for.
* WARNING ``ACTION_RESOURCE_MISMATCH``: a registry-wide action granted only on
  repository ARNs, which therefore never grants it.
* WARNING ``ALLOW_WITH_NOT_ACTION``: ``Allow`` with ``NotAction``.
* WARNING ``ACTION_NOT_FOR_RESOURCE_POLICY``: an ``iam:``/``sts:`` action in a repository
  or registry policy, where it is never evaluated.
* SUGGESTION ``WILDCARD_ACTION_ALLOW``: ``Allow`` of ``"*"`` or ``"<service>:*"``.
* SUGGESTION ``REDUNDANT_ACTION``: an entry another entry of the statement already covers.
* SUGGESTION ``REDUNDANT_STATEMENT``: a statement identical to an earlier one but for its Sid.
* SUGGESTION ``OUTDATED_VERSION``: ``Version`` 2008-10-17, or none (which means the same).
* WARNING ``ACTION_NOT_FOR_TRUST_POLICY``: an action other than ``sts:`` in a role's trust
  policy, which decides only who may assume the role.

Each finding has a ``path`` into the document (``("Statement", 0, "Action", 1)``), which
:mod:`strongroom.policy.locations` turns into Access Analyzer's ``locations``. The checks
depend on the policy's type (:class:`PolicyType`): identity, repository (``resource``),
registry or trust; :func:`detect_type` guesses it from the document as written.

Actions are compared with the vocabulary in ``actions.py``. In Strongroom
``Principal: "*"`` means *every authenticated principal of every account* — never the
anonymous caller (public pull is a repository flag) — so the security warnings are
about other accounts, not about the internet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from strongroom.policy.actions import (
    ACTIONS_BY_SERVICE,
    COMPLETE_SERVICES,
    KNOWN_ACTIONS,
    REGISTRY_WIDE_ACTIONS,
    WRITE_ACTIONS,
)
from strongroom.policy.conditions import ConditionClause
from strongroom.policy.context import Context
from strongroom.policy.document import DEFAULT_VERSION, Effect, Policy, PolicyKind, Statement
from strongroom.policy.patterns import literal
from strongroom.policy.types import PolicyType

# Condition keys that name who the caller is: a non-negated condition on one of them
# turns "*" back into a list of principals (Access Analyzer treats them the same way).
PRINCIPAL_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:userid",
        "aws:username",
    )
)
SOURCE_KEYS = frozenset(key.lower() for key in ("aws:SourceArn", "aws:SourceAccount"))
"""Keys only the registry's own requests carry (made on behalf of a resource)."""
_RESOURCE_POLICY_SERVICES = frozenset({"ecr", "ecr-public"})
_NO_KEYS = Context.of({})


class Severity(StrEnum):
    """Access Analyzer's ValidatePolicy finding types, most serious first."""

    ERROR = "ERROR"
    SECURITY_WARNING = "SECURITY_WARNING"
    WARNING = "WARNING"
    SUGGESTION = "SUGGESTION"


_ORDER = {severity: rank for rank, severity in enumerate(Severity)}

Path = tuple[str | int, ...]
"""Keys and list positions from the document's root, as in Access Analyzer's locations."""
_Raw = tuple[Severity, str, str, Path]
"""A finding within a statement; its path is relative to the statement."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to fix or consider; ``statement_index`` is None for the whole policy."""

    severity: Severity
    code: str
    statement_index: int | None
    sid: str | None
    message: str
    path: Path = ()
    """Where in the document, from its root; () for the whole document."""

    def as_json(self) -> dict[str, object]:
        """Shaped like Access Analyzer's ValidatePolicyFinding, located by statement."""
        return {
            "findingType": str(self.severity),
            "issueCode": self.code,
            "findingDetails": self.message,
            "statementIndex": self.statement_index,
            "sid": self.sid,
        }


def findings(policy: Policy, policy_type: PolicyType | None = None) -> list[Finding]:
    """Every finding for ``policy`` (of ``policy_type``, by default the one its kind
    implies: identity or repository), by statement, most serious first (pure)."""
    if policy_type is None:
        policy_type = PolicyType.IDENTITY if policy.kind is PolicyKind.IDENTITY else PolicyType.RESOURCE
    found = list(_policy_findings(policy))
    for statement in policy.statements:
        found.extend(_statement_findings(statement, policy_type))
    found.extend(_redundant_statements(policy))
    return sorted(
        found, key=lambda f: (-1 if f.statement_index is None else f.statement_index, _ORDER[f.severity])
    )


def has_errors(found: list[Finding]) -> bool:
    return any(finding.severity is Severity.ERROR for finding in found)


def _policy_findings(policy: Policy) -> Iterator[Finding]:
    if policy.version == DEFAULT_VERSION:
        yield Finding(
            Severity.SUGGESTION,
            "OUTDATED_VERSION",
            None,
            None,
            f"Version is {DEFAULT_VERSION} (also what a missing Version means): policy variables such as "
            '${aws:username} are plain text in it. Use "Version": "2012-10-17".',
            ("Version",),
        )


def _statement_findings(statement: Statement, policy_type: PolicyType) -> Iterator[Finding]:
    def finding(raw: _Raw) -> Finding:
        severity, code, message, path = raw
        return Finding(
            severity, code, statement.index, statement.sid, message, ("Statement", statement.index, *path)
        )

    for raw in _action_vocabulary(statement, policy_type):
        yield finding(raw)
    if statement.effect is not Effect.ALLOW:
        return
    for raw in _allow_checks(statement):
        yield finding(raw)


@lru_cache(maxsize=4096)
def _matches(pattern: str) -> frozenset[str]:
    """The known actions ``pattern`` names (case-insensitive, wildcards active); cached,
    since every check asks again and the action tables never change."""
    if pattern == "*":
        return KNOWN_ACTIONS
    service = pattern.partition(":")[0].lower()
    compiled = literal(pattern)
    return frozenset(
        action for action in ACTIONS_BY_SERVICE.get(service, ()) if compiled.like(action, ignore_case=True)
    )


def _action_vocabulary(statement: Statement, policy_type: PolicyType) -> Iterator[_Raw]:
    key = "NotAction" if statement.actions.negated else "Action"
    for position, pattern in enumerate(statement.actions.patterns):
        path = (key, position)
        if pattern == "*":
            continue
        service = pattern.partition(":")[0].lower()
        if service not in ACTIONS_BY_SERVICE:
            yield (
                Severity.WARNING,
                "UNKNOWN_SERVICE",
                f"{key} {pattern!r}: Strongroom has no actions of service {service!r}; "
                f"known services are {', '.join(sorted(ACTIONS_BY_SERVICE))}. It has no effect here.",
                path,
            )
            continue
        if not _matches(pattern):
            yield (*_unknown_action(key, pattern, service), path)
        misplaced = _misplaced(policy_type, key, pattern, service)
        if misplaced is not None:
            yield (Severity.WARNING, *misplaced, path)
    yield from _redundant_actions(statement, key)


def _misplaced(policy_type: PolicyType, key: str, pattern: str, service: str) -> tuple[str, str] | None:
    """An action the policy's type never evaluates: (issue code, message) or None."""
    if policy_type is PolicyType.TRUST:
        if service == "sts":
            return None
        return (
            "ACTION_NOT_FOR_TRUST_POLICY",
            f"{key} {pattern!r}: a trust policy decides only who may assume the role (sts: actions); "
            f"{service}: actions are decided by the role's own policies.",
        )
    if policy_type is PolicyType.IDENTITY or service in _RESOURCE_POLICY_SERVICES:
        return None
    return (
        "ACTION_NOT_FOR_RESOURCE_POLICY",
        f"{key} {pattern!r}: repository and registry policies govern ecr: actions only; "
        f"{service}: actions are decided by identity policies.",
    )


def _unknown_action(key: str, pattern: str, service: str) -> tuple[Severity, str, str]:
    what = "pattern" if "*" in pattern or "?" in pattern else "action"
    if service in COMPLETE_SERVICES:
        return (
            Severity.ERROR,
            "UNKNOWN_ACTION",
            f"{key} {pattern!r}: the {what} matches no {service} action (names as in the {service} API).",
        )
    return (
        Severity.WARNING,
        "UNSUPPORTED_ACTION",
        f"{key} {pattern!r}: the {what} matches no {service} action Strongroom implements; "
        "it has no effect here.",
    )


def _redundant_actions(statement: Statement, key: str) -> Iterator[_Raw]:
    """An entry whose known actions another entry already names (the later of two equals)."""
    patterns = statement.actions.patterns
    matched = [_matches(pattern) for pattern in patterns]
    for i, pattern in enumerate(patterns):
        if not matched[i]:
            continue
        for j, other in enumerate(patterns):
            if i == j or not matched[i] <= matched[j] or (matched[i] == matched[j] and j > i):
                continue
            yield (
                Severity.SUGGESTION,
                "REDUNDANT_ACTION",
                f"{key} {pattern!r} is redundant: {other!r} in the same statement already covers it.",
                (key, i),
            )
            break


def _granted(statement: Statement) -> frozenset[str]:
    """The known actions an Allow statement grants (NotAction: all the others)."""
    named = frozenset().union(*(_matches(pattern) for pattern in statement.actions.patterns))
    return KNOWN_ACTIONS - named if statement.actions.negated else named


def _allow_checks(statement: Statement) -> Iterator[_Raw]:
    principal = statement.principal
    sources = _source_clauses(statement)
    if sources:
        yield (
            Severity.SUGGESTION,
            "REGISTRY_REQUESTS_ONLY",
            "This statement applies only to requests the registry makes on behalf of "
            f"{_on_behalf_of(sources)}; it grants no user or role (aws:SourceArn and "
            "aws:SourceAccount are never part of a user's request).",
            ("Condition",),
        )
    elif principal is not None and principal.wildcard and not principal.negated:
        yield from _public_checks(statement)
    if statement.actions.negated:
        yield (
            Severity.WARNING,
            "ALLOW_WITH_NOT_ACTION",
            "Allow with NotAction grants every action not listed, including actions added later; "
            "list the actions to allow instead.",
            ("NotAction",),
        )
    for position, pattern in enumerate(statement.actions.patterns):
        if not statement.actions.negated and (pattern == "*" or pattern.endswith(":*")):
            yield (
                Severity.SUGGESTION,
                "WILDCARD_ACTION_ALLOW",
                f"Action {pattern!r} grants every action{'' if pattern == '*' else ' of the service'}, "
                "including ones added later; grant only the actions needed (least privilege).",
                ("Action", position),
            )
    yield from _resource_mismatch(statement)


def _public_checks(statement: Statement) -> Iterator[_Raw]:
    everyone = 'Principal "*" means every authenticated principal of every account (never anonymous callers)'
    if not statement.conditions:
        yield (
            Severity.SECURITY_WARNING,
            "PUBLIC_PRINCIPAL_WITHOUT_CONDITION",
            f"{everyone}, and this Allow has no Condition: any account may use it. Name the principals, or "
            "add a condition such as aws:PrincipalAccount or aws:PrincipalOrgID.",
            ("Principal",),
        )
    writes = _granted(statement) & WRITE_ACTIONS
    if writes and not _names_principals(statement):
        shown = ", ".join(sorted(writes)[:5]) + (f" and {len(writes) - 5} more" if len(writes) > 5 else "")
        yield (
            Severity.SECURITY_WARNING,
            "WRITE_ACTIONS_FOR_EVERYONE",
            f"{everyone}; this Allow lets them change the registry ({shown}). Grant write actions to named "
            "principals, or restrict with aws:PrincipalArn, aws:PrincipalAccount or aws:PrincipalOrgID.",
            ("Principal",),
        )


def _source_clauses(statement: Statement) -> list[ConditionClause]:
    """Clauses on a source key that fail when the key is absent: a user's request never
    passes them (IfExists, negated operators and ``Null: true`` let it through)."""
    return [
        clause
        for clause in statement.conditions
        if clause.key.lower() in SOURCE_KEYS and not clause.holds(_NO_KEYS)
    ]


def _on_behalf_of(clauses: list[ConditionClause]) -> str:
    named = [
        ("account " if clause.key.lower() == "aws:sourceaccount" else "") + value.source
        for clause in clauses
        if clause.operator.family is not None  # Null's values are "true"/"false"
        for value in clause.values
    ]
    return ", ".join(dict.fromkeys(named)) or "a resource"


def _names_principals(statement: Statement) -> bool:
    """A condition that only lets through callers it names."""
    for clause in statement.conditions:
        family = clause.operator.family
        if clause.key.lower() not in PRINCIPAL_KEYS or family is None or family.negated:
            continue
        if not clause.operator.if_exists:
            return True
    return False


def _resource_mismatch(statement: Statement) -> Iterator[_Raw]:
    """Registry-wide actions are checked against ``*``; repository ARNs never match it."""
    resources = statement.resources
    if resources is None or resources.negated or statement.actions.negated:
        return
    if any(literal(template.source).arn_like("*") for template in resources.patterns):
        return
    for position, pattern in enumerate(statement.actions.patterns):
        if "*" in pattern or "?" in pattern:
            continue  # a pattern may mean the repository actions it also matches
        action = next((a for a in REGISTRY_WIDE_ACTIONS if a.lower() == pattern.lower()), None)
        if action is not None:
            yield (
                Severity.WARNING,
                "ACTION_RESOURCE_MISMATCH",
                f'{action} is registry-wide and checked against Resource "*"; none of this statement\'s '
                "resources matches it, so the statement never grants it. Grant it in a statement "
                'with "Resource": "*".',
                ("Action", position),
            )


def _redundant_statements(policy: Policy) -> Iterator[Finding]:
    seen: dict[Statement, Statement] = {}
    for statement in policy.statements:
        shape = replace(statement, index=0, sid=None)
        earlier = seen.setdefault(shape, statement)
        if earlier is not statement:
            where = f"statement {earlier.index}" + (f" (Sid {earlier.sid!r})" if earlier.sid else "")
            yield Finding(
                Severity.SUGGESTION,
                "REDUNDANT_STATEMENT",
                statement.index,
                statement.sid,
                f"The statement repeats {where}; remove one.",
                ("Statement", statement.index),
            )
