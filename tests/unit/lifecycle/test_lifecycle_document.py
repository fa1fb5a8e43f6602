"""Parsing, validating and normalising ECR lifecycle policy documents (lifecycle/document.py).

Source: ../shared/reference/ecr-api.md §5, "Lifecycle policy document" (field rules and
ECR's verbatim messages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from strongroom.errors import InvalidRequest
from strongroom.lifecycle.document import (
    ActionType,
    CountType,
    LifecyclePolicyInvalid,
    StorageClass,
    TagStatus,
    normalise,
    parse_lifecycle_policy,
)

F = "Lifecycle policy validation failure: "
UNMAPPABLE = F + "Could not map policyString into LifecyclePolicy."
R1 = F + "rules[0] (rulePriority 1): "  # where faults in the usual one-rule document are reported
DROP = object()  # marks a default property a case wants removed


def rule(
    priority: object = 1,
    *,
    selection: Mapping[str, object] | None = None,
    action: Mapping[str, object] | None = None,
    **extra: object,
) -> dict[str, object]:
    """A valid rule (tagged prod*, keep 3), with properties overridden or DROPped."""
    chosen = {
        "tagStatus": "tagged",
        "tagPrefixList": ["prod"],
        "countType": "imageCountMoreThan",
        "countNumber": 3,
    }
    chosen.update(selection or {})
    act: dict[str, object] = {"type": "expire"}
    act.update(action or {})
    document = {"rulePriority": priority, "selection": _kept(chosen), "action": _kept(act), **extra}
    return _kept(document)


def _kept(document: Mapping[str, object]) -> dict[str, object]:
    return {key: value for key, value in document.items() if value is not DROP}


def text(*rules: object, **extra: object) -> str:
    return json.dumps({"rules": list(rules), **extra})


def test_full_template_parses() -> None:
    policy = parse_lifecycle_policy(
        text(
            {
                "rulePriority": 1,
                "description": "keep ten prod images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["prod*", "*-rc*"],
                    "storageClass": "standard",
                    "countType": "imageCountMoreThan",
                    "countNumber": 10,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePulled",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "action": {"type": "transition", "targetStorageClass": "archive"},
            },
            {
                "rulePriority": 9,
                "selection": {
                    "tagStatus": "any",
                    "storageClass": "archive",
                    "countType": "sinceImageTransitioned",
                    "countUnit": "days",
                    "countNumber": 90,
                },
                "action": {"type": "expire"},
            },
        )
    )
    first, second, third = policy.rules
    assert first.priority == 1
    assert first.description == "keep ten prod images"
    assert first.tag_status is TagStatus.TAGGED
    assert first.tag_patterns == ("prod*", "*-rc*")
    assert first.tag_prefixes == ()
    assert first.storage_class is StorageClass.STANDARD
    assert first.count_type is CountType.IMAGE_COUNT_MORE_THAN
    assert first.count_unit is None
    assert first.count_number == 10
    assert first.action_type is ActionType.EXPIRE
    assert first.target_storage_class is None
    assert second.tag_status is TagStatus.UNTAGGED
    assert second.storage_class is None  # omitted …
    assert second.effective_storage_class is StorageClass.STANDARD  # … which ECR reads as standard
    assert second.count_unit == "days"
    assert second.action_type is ActionType.TRANSITION
    assert second.target_storage_class is StorageClass.ARCHIVE
    assert third.storage_class is StorageClass.ARCHIVE
    assert third.count_type is CountType.SINCE_IMAGE_TRANSITIONED


def test_rules_come_out_by_priority_and_need_not_be_contiguous() -> None:
    policy = parse_lifecycle_policy(text(rule(20), rule(3), rule(7, selection={"tagPrefixList": ["beta"]})))
    assert [r.priority for r in policy.rules] == [3, 7, 20]


def test_any_rule_with_the_highest_priority_is_accepted() -> None:
    policy = parse_lifecycle_policy(
        text(rule(5, selection={"tagStatus": "any", "tagPrefixList": DROP}), rule(1))
    )
    assert policy.rules[-1].tag_status is TagStatus.ANY


def test_four_wildcards_are_allowed() -> None:
    # The reference's own example: ["*test*1*2*3"] is valid.
    policy = parse_lifecycle_policy(
        text(rule(selection={"tagPrefixList": DROP, "tagPatternList": ["*test*1*2*3"]}))
    )
    assert policy.rules[0].tag_patterns == ("*test*1*2*3",)


def test_empty_lists_count_as_omitted() -> None:
    policy = parse_lifecycle_policy(
        text(
            rule(1, selection={"tagPatternList": [], "tagPrefixList": ["prod"]}),
            rule(2, selection={"tagStatus": "untagged", "tagPrefixList": [], "tagPatternList": []}),
        )
    )
    assert policy.rules[0].tag_patterns == ()
    assert '"tagPatternList"' not in normalise(policy)


def test_invalid_policy_is_an_invalid_request() -> None:
    assert issubclass(LifecyclePolicyInvalid, InvalidRequest)


def test_normalise_is_canonical_and_compact() -> None:
    policy = parse_lifecycle_policy(
        text(
            rule(2, selection={"tagStatus": "any", "tagPrefixList": DROP}),
            rule(1, description="prod", action={"type": "transition", "targetStorageClass": "archive"}),
        )
    )
    assert normalise(policy) == (
        '{"rules":['
        '{"rulePriority":1,"description":"prod","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],'
        '"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"transition","targetStorageClass":"archive"}},'
        '{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},'
        '"action":{"type":"expire"}}]}'
    )


def test_normalise_round_trips_every_field() -> None:
    original = text(
        rule(
            4,
            description="ünïcode stays",
            selection={
                "tagPrefixList": DROP,
                "tagPatternList": ["b*", "a*"],
                "storageClass": "standard",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
        ),
        rule(
            9,
            selection={
                "tagStatus": "any",
                "tagPrefixList": DROP,
                "storageClass": "archive",
                "countType": "sinceImageTransitioned",
                "countUnit": "days",
            },
        ),
    )
    policy = parse_lifecycle_policy(original)
    stored = normalise(policy)
    assert parse_lifecycle_policy(stored) == policy
    assert normalise(parse_lifecycle_policy(stored)) == stored
    assert json.loads(stored) == json.loads(original)  # nothing added, nothing lost


LONG = " " * 100  # pads a short document past the 100-character minimum
TOO_LONG = text(rule(description="x" * 30_720))

# (id, policy text, expected message)
INVALID: list[tuple[str, str, str]] = [
    # The text as a whole.
    ("not-json", "{" + LONG, UNMAPPABLE),
    ("not-an-object", json.dumps([rule()]) + LONG, UNMAPPABLE),
    ("deeply-nested", "[" * 30_000, UNMAPPABLE),
    (
        "huge-integer",
        text(rule(selection={"countNumber": DROP})).replace(
            '"countType"', '"countNumber": ' + "9" * 5000 + ', "countType"'
        ),
        UNMAPPABLE,
    ),
    ("nan-constant", text(rule(selection={"countNumber": float("nan")})), UNMAPPABLE),
    ("too-short", '{"rules": []}', F + "lifecyclePolicyText must be 100 to 30720 characters long, not 13"),
    (
        "too-long",
        TOO_LONG,
        F + f"lifecyclePolicyText must be 100 to 30720 characters long, not {len(TOO_LONG)}",
    ),
    ("rules-missing", json.dumps({}) + LONG, F + "rules must be a non-empty array"),
    ("rules-empty", text() + LONG, F + "rules must be a non-empty array"),
    ("rules-not-array", json.dumps({"rules": rule()}), F + "rules must be a non-empty array"),
    ("rule-not-object", text(rule(), "rule") + LONG, F + "rules[1] must be an object"),
    # Unknown properties, at every level, in ECR's words.
    (
        "unknown-top-level",
        text(rule(), x=1),
        F + 'object instance has properties which are not allowed by the schema: (["x"])',
    ),
    (
        "unknown-in-rule",
        text(rule(x=1)),
        F + 'object instance has properties which are not allowed by the schema: (["x"])',
    ),
    (
        "unknown-in-selection",
        text(rule(selection={"x": 1, "countunit": "days"})),
        F + 'object instance has properties which are not allowed by the schema: (["countunit","x"])',
    ),
    (
        "unknown-in-action",
        text(rule(action={"x": 1})),
        F + 'object instance has properties which are not allowed by the schema: (["x"])',
    ),
    # rulePriority.
    ("priority-missing", text(rule(DROP)), F + "rules[0]: rulePriority is required"),
    (
        "priority-zero",
        text(rule(0)),
        F + "rules[0] (rulePriority 0): rulePriority must be between 1 and 2147483647, not 0",
    ),
    ("priority-string", text(rule("1")), F + 'rules[0]: rulePriority must be an integer, not "1"'),
    ("priority-float", text(rule(1.0)), F + "rules[0]: rulePriority must be an integer, not 1.0"),
    ("priority-bool", text(rule(True)), F + "rules[0]: rulePriority must be an integer, not true"),
    (
        "priority-too-big",
        text(rule(2**31)),
        F
        + "rules[0] (rulePriority 2147483648): rulePriority must be between 1 and 2147483647, not 2147483648",
    ),
    (
        "priority-duplicate",
        text(rule(3), rule(1), rule(3, selection={"tagPrefixList": ["beta"]})),
        F + "rules[0] and rules[2] share rulePriority 3; rulePriority must be unique",
    ),
    (
        "any-not-last",
        text(rule(1, selection={"tagStatus": "any", "tagPrefixList": DROP}), rule(2)),
        R1 + "a rule with tagStatus any must have the highest rulePriority, but 2 is higher",
    ),
    (
        "two-any-rules",
        text(*(rule(p, selection={"tagStatus": "any", "tagPrefixList": DROP}) for p in (1, 2))),
        R1 + "a rule with tagStatus any must have the highest rulePriority, but 2 is higher",
    ),
    # description, selection, action as objects.
    (
        "description-not-string",
        text(rule(description=7)),
        R1 + "description must be a string, not 7",
    ),
    (
        "selection-missing",
        text({"rulePriority": 1, "action": {"type": "expire"}}) + LONG,
        R1 + "selection is required",
    ),
    (
        "selection-not-object",
        text(rule() | {"selection": []}) + LONG,
        R1 + "selection must be an object, not []",
    ),
    (
        "action-missing",
        text(_kept(rule() | {"action": DROP})),
        R1 + "action is required",
    ),
    # tagStatus and the tag lists.
    (
        "tag-status-missing",
        text(rule(selection={"tagStatus": DROP})),
        R1 + "selection.tagStatus is required",
    ),
    (
        "tag-status-unknown",
        text(rule(selection={"tagStatus": "TAGGED"})),
        R1 + 'selection.tagStatus must be one of tagged, untagged, any, not "TAGGED"',
    ),
    (
        "tagged-without-lists",
        text(rule(selection={"tagPrefixList": DROP})),
        R1 + "selection.tagPatternList or selection.tagPrefixList is required with tagStatus tagged",
    ),
    (
        "tagged-with-both-lists",
        text(rule(selection={"tagPatternList": ["prod*"]})),
        R1 + "selection.tagPatternList and selection.tagPrefixList are mutually exclusive",
    ),
    (
        "untagged-with-prefixes",
        text(rule(selection={"tagStatus": "untagged"})),
        R1 + "selection.tagPrefixList is only allowed with tagStatus tagged, not untagged",
    ),
    (
        "any-with-patterns",
        text(rule(selection={"tagStatus": "any", "tagPrefixList": DROP, "tagPatternList": ["x*"]})),
        R1 + "selection.tagPatternList is only allowed with tagStatus tagged, not any",
    ),
    (
        "five-wildcards",
        text(rule(selection={"tagPrefixList": DROP, "tagPatternList": ["ok*", "test*1*2*3*4*5*6"]})),
        R1 + 'selection.tagPatternList entry "test*1*2*3*4*5*6" has 6 wildcards; at most 4 are allowed',
    ),
    (
        "prefixes-not-array",
        text(rule(selection={"tagPrefixList": "prod"})),
        R1 + 'selection.tagPrefixList must be an array of non-empty strings, not "prod"',
    ),
    (
        "pattern-empty-string",
        text(rule(selection={"tagPrefixList": DROP, "tagPatternList": [""]})),
        R1 + 'selection.tagPatternList must be an array of non-empty strings, not [""]',
    ),
    (
        "prefix-not-string",
        text(rule(selection={"tagPrefixList": [1]})),
        R1 + "selection.tagPrefixList must be an array of non-empty strings, not [1]",
    ),
    # countType, countUnit, countNumber.
    (
        "count-type-missing",
        text(rule(selection={"countType": DROP})),
        R1 + "selection.countType is required",
    ),
    (
        "count-type-unknown",
        text(rule(selection={"countType": "imageCountLessThan"})),
        R1 + "selection.countType must be one of imageCountMoreThan, sinceImagePushed,"
        ' sinceImagePulled, sinceImageTransitioned, not "imageCountLessThan"',
    ),
    (
        "count-unit-missing",
        text(rule(selection={"countType": "sinceImagePushed"})),
        R1 + "selection.countUnit is required with countType sinceImagePushed",
    ),
    (
        "count-unit-with-image-count",
        text(rule(selection={"countUnit": "days"})),
        R1 + "selection.countUnit is not allowed with countType imageCountMoreThan",
    ),
    (
        "count-unit-hours",
        text(rule(selection={"countType": "sinceImagePulled", "countUnit": "hours"})),
        R1 + 'selection.countUnit must be days, not "hours"',
    ),
    (
        "count-number-missing",
        text(rule(selection={"countNumber": DROP})),
        R1 + "selection.countNumber is required",
    ),
    (
        "count-number-zero",
        text(rule(selection={"countNumber": 0})),
        R1 + "selection.countNumber must be between 1 and 2147483647, not 0",
    ),
    (
        "count-number-float",
        text(rule(selection={"countNumber": 1.5})),
        R1 + "selection.countNumber must be an integer, not 1.5",
    ),
    (
        "count-number-bool",
        text(rule(selection={"countNumber": True})),
        R1 + "selection.countNumber must be an integer, not true",
    ),
    (
        "count-number-string",
        text(rule(selection={"countNumber": "7"})),
        R1 + 'selection.countNumber must be an integer, not "7"',
    ),
    # storageClass.
    (
        "storage-class-unknown",
        text(rule(selection={"storageClass": "glacier"})),
        R1 + 'selection.storageClass must be one of standard, archive, not "glacier"',
    ),
    (
        "archive-with-image-count",
        text(rule(selection={"storageClass": "archive"})),
        R1 + "selection.storageClass archive is only allowed with countType sinceImageTransitioned",
    ),
    (
        "transitioned-without-storage-class",
        text(rule(selection={"countType": "sinceImageTransitioned", "countUnit": "days"})),
        R1 + "selection.storageClass must be archive with countType sinceImageTransitioned",
    ),
    (
        "transitioned-with-standard",
        text(
            rule(
                selection={
                    "countType": "sinceImageTransitioned",
                    "countUnit": "days",
                    "storageClass": "standard",
                }
            )
        ),
        R1 + "selection.storageClass must be archive with countType sinceImageTransitioned",
    ),
    # action.
    (
        "action-type-missing",
        text(rule(action={"type": DROP})),
        R1 + "action.type is required",
    ),
    (
        "action-type-unknown",
        text(rule(action={"type": "delete"})),
        R1 + 'action.type must be one of expire, transition, not "delete"',
    ),
    (
        "transition-without-target",
        text(rule(action={"type": "transition"})),
        R1 + "action.targetStorageClass must be archive with action.type transition",
    ),
    (
        "transition-to-standard",
        text(rule(action={"type": "transition", "targetStorageClass": "standard"})),
        R1 + "action.targetStorageClass must be archive with action.type transition",
    ),
    (
        "expire-with-target",
        text(rule(action={"targetStorageClass": "archive"})),
        R1 + "action.targetStorageClass is only allowed with action.type transition",
    ),
    (
        "transition-archived-images",
        text(
            rule(
                selection={
                    "countType": "sinceImageTransitioned",
                    "countUnit": "days",
                    "storageClass": "archive",
                },
                action={"type": "transition", "targetStorageClass": "archive"},
            )
        ),
        R1 + "action.type transition applies to standard images, but selection.storageClass is archive",
    ),
    # The location names the rule by position, wherever it sits.
    (
        "fault-in-a-later-rule",
        text(rule(1), rule(8, selection={"countNumber": -2})),
        F + "rules[1] (rulePriority 8): selection.countNumber must be between 1 and 2147483647, not -2",
    ),
]


@pytest.mark.parametrize(
    ("document", "message"), [(d, m) for _, d, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_documents_are_refused_precisely(document: str, message: str) -> None:
    with pytest.raises(LifecyclePolicyInvalid) as caught:
        parse_lifecycle_policy(document)
    assert caught.value.message == message
