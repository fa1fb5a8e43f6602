"""The one error the policy language raises on purpose."""

from __future__ import annotations

from strongroom.errors import InvalidRequest


class MalformedPolicyDocument(InvalidRequest):
    """A policy document that IAM would refuse (IAM's ``MalformedPolicyDocument``).

    Messages name the place first, then the fault, e.g.
    ``Statement 2 (Sid 'AllowPull'): Action and NotAction are mutually exclusive``.
    Statement numbers are positions in the ``Statement`` array, counted from 0, the
    same index a :class:`~strongroom.policy.evaluation.StatementRef` reports.
    """
