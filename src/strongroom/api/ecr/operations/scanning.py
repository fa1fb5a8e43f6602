"""Registry scanning configuration: Put/GetRegistryScanningConfiguration and the effective
configuration of repositories, BatchGetRepositoryScanningConfiguration
(reference/ecr-api.md §4.7).

The configuration is stored as the account setting ``scanning`` (JSON, ECR's member
names). Unset, it is BASIC with no rules. Terraform deletes
``aws_ecr_registry_scanning_configuration`` by putting exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, registry_resource, table
from strongroom.api.ecr.errors import ValidationFailed
from strongroom.api.ecr.operations.repositories import described_repositories
from strongroom.registry.repositories import Repository
from strongroom.scanning import configuration as configuration_rules

SCANNING_SETTING = "scanning"

SCAN_FREQUENCIES = {
    # BASIC: "the SCAN_ON_PUSH scan frequency is supported"; MANUAL is its default.
    "BASIC": ("SCAN_ON_PUSH", "MANUAL"),
    "ENHANCED": ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"),
}


def validate_configuration(scan_type: str, rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The configuration to store; ValidationException for a frequency the scan type lacks
    or a frequency given twice."""
    allowed = SCAN_FREQUENCIES[scan_type]
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        frequency = rule["scanFrequency"]
        if frequency not in allowed:
            raise ValidationFailed(
                f"Invalid parameter at 'rules[{index}].scanFrequency': the {scan_type} scan type "
                f"supports the scan frequencies {' and '.join(allowed)}, not {frequency}"
            )
        if frequency in seen:
            raise ValidationFailed(
                f"Invalid parameter at 'rules[{index}].scanFrequency': "
                f"only one rule may have the scan frequency {frequency}"
            )
        seen.add(frequency)
    return {
        "scanType": scan_type,
        "rules": [
            {
                "scanFrequency": rule["scanFrequency"],
                "repositoryFilters": [
                    {"filter": f["filter"], "filterType": f["filterType"]} for f in rule["repositoryFilters"]
                ],
            }
            for rule in rules
        ],
    }


def effective_scanning(
    configuration: Mapping[str, Any], repository: Repository
) -> tuple[str, list[dict[str, str]]]:
    """The scan frequency that applies to ``repository`` and the filters that made it so."""
    effective = configuration_rules.effective_scanning(
        configuration, repository.name, repository.scan_on_push
    )
    return effective.frequency, effective.filters


async def stored_configuration(call: EcrCall, account: str) -> dict[str, Any]:
    stored = await call.services.repository_store.account_setting(account, SCANNING_SETTING)
    return dict(configuration_rules.parse(stored))


async def put_registry_scanning_configuration(call: EcrCall) -> Result:
    account = call.own_registry()
    configuration = validate_configuration(
        call.params.get("scanType", "BASIC"), call.params.get("rules") or []
    )
    await call.services.repository_store.put_account_setting(
        account, SCANNING_SETTING, json.dumps(configuration), call.services.clock.now()
    )
    return {"registryScanningConfiguration": configuration}


async def get_registry_scanning_configuration(call: EcrCall) -> Result:
    account = call.own_registry()
    return {"registryId": account, "scanningConfiguration": await stored_configuration(call, account)}


async def batch_get_repository_scanning_configuration(call: EcrCall) -> Result:
    account = call.registry_id
    names = list(dict.fromkeys(call.params["repositoryNames"]))
    found = {
        repository.name: repository
        for repository in await call.services.repository_store.list_repositories(
            account, names=names, limit=len(names)
        )
    }
    configuration = await stored_configuration(call, account)
    configurations: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for name in names:
        repository = found.get(name)
        if repository is None:
            reason = f"The repository with name '{name}' does not exist in the registry with id '{account}'"
            failures.append(
                {"repositoryName": name, "failureCode": "REPOSITORY_NOT_FOUND", "failureReason": reason}
            )
            continue
        frequency, filters = effective_scanning(configuration, repository)
        configurations.append(
            {
                "repositoryArn": call.repository_arn(account, name),
                "repositoryName": name,
                "scanOnPush": frequency != "MANUAL",
                "scanFrequency": frequency,
                "appliedScanFilters": filters,
            }
        )
    return {"scanningConfigurations": configurations, "failures": failures}


OPERATIONS = table(
    Operation(
        ECR,
        "PutRegistryScanningConfiguration",
        put_registry_scanning_configuration,
        resource=registry_resource,
        mutates=True,
    ),
    Operation(
        ECR,
        "GetRegistryScanningConfiguration",
        get_registry_scanning_configuration,
        resource=registry_resource,
    ),
    Operation(
        ECR,
        "BatchGetRepositoryScanningConfiguration",
        batch_get_repository_scanning_configuration,
        resource=described_repositories,
    ),
)
