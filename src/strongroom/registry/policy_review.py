"""Reviewing a repository or registry policy before it is stored: accept what ECR
accepts, and report the findings (DESIGN §10 "Accept what ECR accepts").

Infrastructure code sets the policies its programs need (``Principal: "*"`` with push
actions, often narrowed by ``aws:SourceArn``), and Terraform's
``aws_ecr_repository_policy`` has no ``force``: refusing them would make those
configurations impossible to apply. So, by default (``policy_findings = "warn"``), a
valid policy is stored and its findings are logged, recorded in the audit event and
shown by ``strongroom iam policy validate`` and ``strongroom repo describe``. Only
ERROR findings (an ``ecr:`` action that does not exist, which ECR's own validation
refuses) are refused. Sites that want the strict rule set ``policy_findings =
"refuse"``: then SECURITY_WARNING and WARNING findings refuse the policy too;
SUGGESTIONs, being stylistic, never do.

ECR's ``force`` flag is about policies that would lock the caller out of changing the
policy again; Strongroom's operator can always change a policy from the command line,
so ``force`` is accepted and has no effect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from strongroom.audit.log import JsonValue
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.findings import Finding, Severity, findings

logger = logging.getLogger("strongroom.policy")

FindingsMode = Literal["warn", "refuse"]
_REFUSED: dict[str, frozenset[Severity]] = {
    "warn": frozenset({Severity.ERROR}),
    "refuse": frozenset({Severity.ERROR, Severity.SECURITY_WARNING, Severity.WARNING}),
}


class PolicyRefused(MalformedPolicyDocument):
    """A valid policy whose findings the site's ``policy_findings`` setting refuses."""


class PolicyReview:
    def __init__(self, mode: FindingsMode = "warn") -> None:
        self._refused = _REFUSED[mode]

    def review(self, text: str, what: str) -> list[Finding]:
        """The findings of the resource policy ``text`` about ``what`` (a repository or
        registry ARN), logged; raises MalformedPolicyDocument if it is not a valid policy
        and PolicyRefused if a finding is one the setting refuses."""
        found = findings(Policy.from_json(text, PolicyKind.RESOURCE))
        refused = [finding for finding in found if finding.severity in self._refused]
        if refused:
            raise PolicyRefused(
                "; ".join(f"{_where(f)}: {f.severity} {f.code}: {f.message}" for f in refused)
            )
        for finding in found:
            if finding.severity is not Severity.SUGGESTION:
                logger.warning(
                    "policy of %s stored with a finding: %s %s at %s: %s",
                    what, finding.severity, finding.code, _where(finding), finding.message,
                )  # fmt: skip
        return found


def audit_findings(found: Sequence[Finding]) -> JsonValue:
    """What the audit event records of the findings: enough to find them again."""
    return [
        {"findingType": str(f.severity), "issueCode": f.code, "statementIndex": f.statement_index}
        for f in found
    ]


def _where(finding: Finding) -> str:
    if finding.statement_index is None:
        return "the policy"
    return f"statement {finding.statement_index}" + (f" (Sid {finding.sid!r})" if finding.sid else "")
