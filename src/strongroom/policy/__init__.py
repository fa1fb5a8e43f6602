"""Pure IAM policy language and evaluation.

Concern: parse and validate IAM JSON policy documents (identity policies, repository
and registry policies), and decide requests against them with AWS semantics —
explicit Deny wins, otherwise an Allow is needed, and across accounts both the
caller's identity policies and the resource policy must allow. Each decision names
the statement that made it, so a simulator or an audit record can explain it.

Modules::

    errors.py       MalformedPolicyDocument
    context.py      request context keys (case-insensitive names)
    patterns.py     wildcards, ARN patterns, policy variables
    conditions.py   condition operators, set qualifiers, IfExists, Null
    document.py     Policy, Statement, Principal, Actions, Resources; parsing
    request.py      Caller, Request: the question asked
    evaluation.py   evaluate() → Decision

Invariants: no I/O, no clock, no settings, no randomness. Time arrives as
``aws:CurrentTime`` in the request context. Every value is a frozen dataclass;
a parsed Policy is valid by construction.

Must not import anything but ``strongroom.errors`` and the standard library.
"""

from strongroom.policy.document import Effect, Policy, PolicyKind, parse_policy
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.evaluation import Decision, Reason, Source, StatementRef, evaluate
from strongroom.policy.request import Caller, CallerType, Request

__all__ = [
    "Caller",
    "CallerType",
    "Decision",
    "Effect",
    "MalformedPolicyDocument",
    "Policy",
    "PolicyKind",
    "Reason",
    "Request",
    "Source",
    "StatementRef",
    "evaluate",
    "parse_policy",
]
