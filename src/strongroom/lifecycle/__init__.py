"""Pure ECR lifecycle policies: parse, validate, evaluate.

Concern: the ``lifecyclePolicyText`` document of ``PutLifecyclePolicy`` and
``StartLifecyclePolicyPreview`` (../shared/reference/ecr-api.md §5). Parsing refuses
what ECR refuses, with ECR's messages; evaluation decides which images a policy
expires and says why, so a preview, a worker and an audit record can all explain
every deletion.

Modules::

    document.py     LifecyclePolicy, LifecycleRule; parse_lifecycle_policy(), normalise()
    evaluation.py   ImageFacts → evaluate() → Verdicts; matches_selection(), can_act()

Invariants: no I/O, no clock, no settings, no randomness: ``now`` is an argument.
Every value is a frozen dataclass; a parsed LifecyclePolicy is valid by construction,
its rules ordered by priority.

Must not import anything of strongroom but ``strongroom.errors`` — in particular not
storage, metadata, api or registry; those call in here, never the reverse.
"""

from strongroom.lifecycle.document import (
    ActionType,
    CountType,
    LifecyclePolicy,
    LifecyclePolicyInvalid,
    LifecycleRule,
    StorageClass,
    TagStatus,
    normalise,
    parse_lifecycle_policy,
)
from strongroom.lifecycle.evaluation import ImageFacts, Verdict, can_act, evaluate, matches_selection

__all__ = [
    "ActionType",
    "CountType",
    "ImageFacts",
    "LifecyclePolicy",
    "LifecyclePolicyInvalid",
    "LifecycleRule",
    "StorageClass",
    "TagStatus",
    "Verdict",
    "can_act",
    "evaluate",
    "matches_selection",
    "normalise",
    "parse_lifecycle_policy",
]
