"""ECR lifecycle policy documents: parsed once, validated as ECR validates, then immutable.

Grammar and rules from ../shared/reference/ecr-api.md §5 ("Lifecycle policy document")::

    {"rules": [{"rulePriority": 1, "description": "…",
                "selection": {"tagStatus": …, "tagPatternList": […], "tagPrefixList": […],
                              "storageClass": …, "countType": …, "countUnit": "days",
                              "countNumber": 7},
                "action": {"type": …, "targetStorageClass": "archive"}}]}

Enforced:

* the text is 100..30,720 characters and decodes to a JSON object (else ECR's "Could not
  map policyString into LifecyclePolicy.");
* no property outside the schema at any level, reported with ECR's JSON-schema message;
* ``rules`` is a non-empty array; ``rulePriority`` an integer ≥ 1, unique; a rule with
  ``tagStatus: any`` carries the highest priority;
* ``tagged`` needs exactly one of ``tagPatternList`` / ``tagPrefixList``; ``untagged`` and
  ``any`` take neither; a pattern holds at most 4 ``*``;
* ``countUnit: days`` is required by the ``since*`` count types and refused with
  ``imageCountMoreThan``; ``countNumber`` is an integer ≥ 1 (not a bool, not a float);
* ``storageClass`` must be ``archive`` for ``sinceImageTransitioned`` and ``standard``
  (or omitted) otherwise; ``transition`` needs ``targetStorageClass: archive`` and acts on
  standard images only; ``expire`` takes no ``targetStorageClass``.

Decisions where the reference is silent: JSON ``null`` counts as an omitted property; an
empty tag list counts as omitted; list entries must be non-empty strings; integers above
2,147,483,647 are refused (ECR's schema maps them to a Java ``int``).

Every message except the two verbatim ECR ones names the rule (its position in ``rules``
and, once known, its ``rulePriority``) and the key at fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeVar

from strongroom.errors import InvalidRequest
from strongroom.untrusted import InputRefused, read_json

MIN_TEXT_LENGTH = 100  # ECR API model: lifecyclePolicyText length constraints
MAX_TEXT_LENGTH = 30_720  # … and the "Lifecycle policy length" quota
MAX_WILDCARDS = 4  # per tagPatternList entry
MAX_INTEGER = 2**31 - 1
DAYS: Literal["days"] = "days"

_FAILURE = "Lifecycle policy validation failure: "
_UNMAPPABLE = _FAILURE + "Could not map policyString into LifecyclePolicy."

_POLICY_KEYS = frozenset({"rules"})
_RULE_KEYS = frozenset({"rulePriority", "description", "selection", "action"})
_SELECTION_KEYS = frozenset(
    {"tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType", "countUnit", "countNumber"}
)
_ACTION_KEYS = frozenset({"type", "targetStorageClass"})

_E = TypeVar("_E", bound=StrEnum)


class LifecyclePolicyInvalid(InvalidRequest):
    """A lifecycle policy ECR would refuse (ECR's ``InvalidParameterException``).

    Messages start ``Lifecycle policy validation failure: `` as ECR's do, e.g.
    ``… rules[1] (rulePriority 5): selection.countUnit is required when countType is
    sinceImagePushed``. Rule positions count from 0 in the submitted ``rules`` array.
    """


class TagStatus(StrEnum):
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    ANY = "any"


class StorageClass(StrEnum):
    STANDARD = "standard"
    ARCHIVE = "archive"


class CountType(StrEnum):
    IMAGE_COUNT_MORE_THAN = "imageCountMoreThan"
    SINCE_IMAGE_PUSHED = "sinceImagePushed"
    SINCE_IMAGE_PULLED = "sinceImagePulled"
    SINCE_IMAGE_TRANSITIONED = "sinceImageTransitioned"


class ActionType(StrEnum):
    EXPIRE = "expire"
    TRANSITION = "transition"


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """One rule. Optional properties that were omitted stay ``None``, so that
    :func:`normalise` writes back exactly what was given (Terraform compares documents
    property by property and would otherwise see a perpetual diff)."""

    priority: int
    description: str | None
    tag_status: TagStatus
    tag_patterns: tuple[str, ...]
    tag_prefixes: tuple[str, ...]
    storage_class: StorageClass | None  # None: omitted, which ECR reads as standard
    count_type: CountType
    count_unit: Literal["days"] | None  # set exactly for the since* count types
    count_number: int
    action_type: ActionType
    target_storage_class: StorageClass | None  # archive for transition, None for expire

    @property
    def effective_storage_class(self) -> StorageClass:
        return self.storage_class or StorageClass.STANDARD


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    rules: tuple[LifecycleRule, ...]  # ordered by priority, lowest number (evaluated first) first


def parse_lifecycle_policy(text: str) -> LifecyclePolicy:
    """Parse and validate ``lifecyclePolicyText``; raises :class:`LifecyclePolicyInvalid`."""
    if not MIN_TEXT_LENGTH <= len(text) <= MAX_TEXT_LENGTH:
        raise LifecyclePolicyInvalid(
            f"{_FAILURE}lifecyclePolicyText must be {MIN_TEXT_LENGTH} to {MAX_TEXT_LENGTH} characters long,"
            f" not {len(text)}"
        )
    try:
        raw = read_json(text)
    except InputRefused:
        raise LifecyclePolicyInvalid(_UNMAPPABLE) from None
    if not isinstance(raw, dict):
        raise LifecyclePolicyInvalid(_UNMAPPABLE)
    _only_known(raw, _POLICY_KEYS)
    entries = raw.get("rules")
    if not isinstance(entries, list) or not entries:
        raise LifecyclePolicyInvalid(f"{_FAILURE}rules must be a non-empty array")
    rules = [_parse_rule(index, entry) for index, entry in enumerate(entries)]
    _check_priorities(rules)
    return LifecyclePolicy(tuple(sorted(rules, key=_priority)))


def normalise(policy: LifecyclePolicy) -> str:
    """Canonical, compact JSON text: rules by priority, ECR's property names, omitted
    properties and empty lists left out. ``parse_lifecycle_policy(normalise(p)) == p``."""
    document = {"rules": [_rule_document(rule) for rule in sorted(policy.rules, key=_priority)]}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


class _Fault(Exception):
    """A fault inside one rule; :func:`_parse_rule` prefixes where it happened."""


def _priority(rule: LifecycleRule) -> int:
    return rule.priority


def _only_known(raw: Mapping[str, object], allowed: frozenset[str]) -> None:
    unknown = sorted(key for key in raw if key not in allowed)
    if unknown:
        names = json.dumps(unknown, separators=(",", ":"))
        raise LifecyclePolicyInvalid(
            f"{_FAILURE}object instance has properties which are not allowed by the schema: ({names})"
        )


def _parse_rule(index: int, raw: object) -> LifecycleRule:
    if not isinstance(raw, dict):
        raise LifecyclePolicyInvalid(f"{_FAILURE}rules[{index}] must be an object")
    _only_known(raw, _RULE_KEYS)
    priority = raw.get("rulePriority")
    where = f"rules[{index}]"
    if _is_integer(priority):
        where += f" (rulePriority {priority})"
    try:
        return _rule_fields(raw)
    except _Fault as fault:
        raise LifecyclePolicyInvalid(f"{_FAILURE}{where}: {fault}") from None


def _rule_fields(raw: Mapping[str, object]) -> LifecycleRule:
    priority = _integer(raw.get("rulePriority"), "rulePriority")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise _Fault(f"description must be a string, not {_show(description)}")
    selection = _object(raw.get("selection"), "selection", _SELECTION_KEYS)
    action = _object(raw.get("action"), "action", _ACTION_KEYS)
    tag_status = _member(TagStatus, selection.get("tagStatus"), "selection.tagStatus")
    patterns = _strings(selection.get("tagPatternList"), "selection.tagPatternList")
    prefixes = _strings(selection.get("tagPrefixList"), "selection.tagPrefixList")
    _check_tags(tag_status, patterns, prefixes)
    count_type = _member(CountType, selection.get("countType"), "selection.countType")
    storage_class = _storage_class(count_type, selection.get("storageClass"))
    action_type, target = _action(action, storage_class)
    return LifecycleRule(
        priority=priority,
        description=description,
        tag_status=tag_status,
        tag_patterns=patterns,
        tag_prefixes=prefixes,
        storage_class=storage_class,
        count_type=count_type,
        count_unit=_count_unit(count_type, selection.get("countUnit")),
        count_number=_integer(selection.get("countNumber"), "selection.countNumber"),
        action_type=action_type,
        target_storage_class=target,
    )


def _object(value: object, name: str, allowed: frozenset[str]) -> Mapping[str, object]:
    if value is None:
        raise _Fault(f"{name} is required")
    if not isinstance(value, dict):
        raise _Fault(f"{name} must be an object, not {_show(value)}")
    _only_known(value, allowed)
    return value


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(value: object, name: str) -> int:
    if value is None:
        raise _Fault(f"{name} is required")
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Fault(f"{name} must be an integer, not {_show(value)}")
    if not 1 <= value <= MAX_INTEGER:
        raise _Fault(f"{name} must be between 1 and {MAX_INTEGER}, not {value}")
    return value


def _member(kind: type[_E], value: object, name: str) -> _E:
    if value is None:
        raise _Fault(f"{name} is required")
    allowed = [member.value for member in kind]
    if not isinstance(value, str) or value not in allowed:
        raise _Fault(f"{name} must be one of {', '.join(allowed)}, not {_show(value)}")
    return kind(value)


def _strings(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _Fault(f"{name} must be an array of non-empty strings, not {_show(value)}")
    return tuple(value)


def _check_tags(tag_status: TagStatus, patterns: tuple[str, ...], prefixes: tuple[str, ...]) -> None:
    if tag_status is TagStatus.TAGGED:
        if patterns and prefixes:
            raise _Fault("selection.tagPatternList and selection.tagPrefixList are mutually exclusive")
        if not patterns and not prefixes:
            raise _Fault(
                "selection.tagPatternList or selection.tagPrefixList is required with tagStatus tagged"
            )
    else:
        for name, values in (("tagPatternList", patterns), ("tagPrefixList", prefixes)):
            if values:
                raise _Fault(f"selection.{name} is only allowed with tagStatus tagged, not {tag_status}")
    for pattern in patterns:
        if pattern.count("*") > MAX_WILDCARDS:
            raise _Fault(
                f"selection.tagPatternList entry {_show(pattern)} has {pattern.count('*')} wildcards;"
                f" at most {MAX_WILDCARDS} are allowed"
            )


def _storage_class(count_type: CountType, value: object) -> StorageClass | None:
    storage_class = None if value is None else _member(StorageClass, value, "selection.storageClass")
    if count_type is CountType.SINCE_IMAGE_TRANSITIONED:
        if storage_class is not StorageClass.ARCHIVE:
            raise _Fault("selection.storageClass must be archive with countType sinceImageTransitioned")
    elif storage_class is StorageClass.ARCHIVE:
        raise _Fault("selection.storageClass archive is only allowed with countType sinceImageTransitioned")
    return storage_class


def _count_unit(count_type: CountType, value: object) -> Literal["days"] | None:
    if count_type is CountType.IMAGE_COUNT_MORE_THAN:
        if value is not None:
            raise _Fault(f"selection.countUnit is not allowed with countType {count_type}")
        return None
    if value is None:
        raise _Fault(f"selection.countUnit is required with countType {count_type}")
    if value != DAYS:
        raise _Fault(f"selection.countUnit must be days, not {_show(value)}")
    return DAYS


def _action(
    action: Mapping[str, object], storage_class: StorageClass | None
) -> tuple[ActionType, StorageClass | None]:
    action_type = _member(ActionType, action.get("type"), "action.type")
    raw_target = action.get("targetStorageClass")
    target = None if raw_target is None else _member(StorageClass, raw_target, "action.targetStorageClass")
    if action_type is ActionType.EXPIRE:
        if target is not None:
            raise _Fault("action.targetStorageClass is only allowed with action.type transition")
        return action_type, None
    if target is not StorageClass.ARCHIVE:
        raise _Fault("action.targetStorageClass must be archive with action.type transition")
    if storage_class is StorageClass.ARCHIVE:
        raise _Fault(
            "action.type transition applies to standard images, but selection.storageClass is archive"
        )
    return action_type, target


def _check_priorities(rules: list[LifecycleRule]) -> None:
    first_index: dict[int, int] = {}
    for index, rule in enumerate(rules):
        if rule.priority in first_index:
            first = first_index[rule.priority]
            raise LifecyclePolicyInvalid(
                f"{_FAILURE}rules[{first}] and rules[{index}] share rulePriority {rule.priority};"
                " rulePriority must be unique"
            )
        first_index[rule.priority] = index
    highest = max(rule.priority for rule in rules)
    for index, rule in enumerate(rules):
        if rule.tag_status is TagStatus.ANY and rule.priority != highest:
            raise LifecyclePolicyInvalid(
                f"{_FAILURE}rules[{index}] (rulePriority {rule.priority}): a rule with tagStatus any"
                f" must have the highest rulePriority, but {highest} is higher"
            )


def _rule_document(rule: LifecycleRule) -> dict[str, object]:
    selection: dict[str, object] = {"tagStatus": rule.tag_status.value}
    if rule.tag_patterns:
        selection["tagPatternList"] = list(rule.tag_patterns)
    if rule.tag_prefixes:
        selection["tagPrefixList"] = list(rule.tag_prefixes)
    if rule.storage_class is not None:
        selection["storageClass"] = rule.storage_class.value
    selection["countType"] = rule.count_type.value
    if rule.count_unit is not None:
        selection["countUnit"] = rule.count_unit
    selection["countNumber"] = rule.count_number
    action: dict[str, object] = {"type": rule.action_type.value}
    if rule.target_storage_class is not None:
        action["targetStorageClass"] = rule.target_storage_class.value
    document: dict[str, object] = {"rulePriority": rule.priority}
    if rule.description is not None:
        document["description"] = rule.description
    document["selection"] = selection
    document["action"] = action
    return document


def _show(value: object) -> str:
    """A value as it appeared in the JSON text, shortened so messages stay readable."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
