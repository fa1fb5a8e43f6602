"""Account settings: GetAccountSetting and PutAccountSetting (reference/ecr-api.md §4.11).

Each setting is stored under its ECR name as an account setting of the registry; an
unset one reads as its default.
"""

from __future__ import annotations

from dataclasses import dataclass

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, registry_resource, table
from strongroom.api.ecr.errors import ValidationFailed
from strongroom.registry.mounts import BLOB_MOUNTING_SETTING
from strongroom.replication.on_push import REPLICATION_DELETES_SETTING


@dataclass(frozen=True)
class AccountSetting:
    default: str
    values: tuple[str, ...]


ACCOUNT_SETTINGS = {
    "BASIC_SCAN_TYPE_VERSION": AccountSetting("AWS_NATIVE", ("AWS_NATIVE",)),
    # V2 by default, unlike a new AWS account: the registry policy governs every ECR action.
    # V1 confines it to replication and pull-through (auth/iam_authorizer.py).
    "REGISTRY_POLICY_SCOPE": AccountSetting("V2", ("V1", "V2")),
    # DISABLED turns an OCI cross-repository mount into a normal upload (registry.uploads).
    BLOB_MOUNTING_SETTING: AccountSetting("ENABLED", ("ENABLED", "DISABLED")),
    # A Strongroom name: ENABLED replicates image deletions to the destinations (ADR 0020).
    REPLICATION_DELETES_SETTING: AccountSetting("DISABLED", ("ENABLED", "DISABLED")),
}


def _setting(name: str) -> AccountSetting:
    setting = ACCOUNT_SETTINGS.get(name)
    if setting is None:
        raise ValidationFailed(
            f"Invalid account setting name '{name}'. Valid names are: {', '.join(ACCOUNT_SETTINGS)}"
        )
    return setting


async def get_account_setting(call: EcrCall) -> Result:
    account = call.own_registry()
    name = call.params["name"]
    setting = _setting(name)
    stored = await call.services.repository_store.account_setting(account, name)
    return {"name": name, "value": stored or setting.default}


async def put_account_setting(call: EcrCall) -> Result:
    account = call.own_registry()
    name, value = call.params["name"], call.params["value"]
    setting = _setting(name)
    if value not in setting.values:
        raise ValidationFailed(
            f"Invalid value '{value}' for account setting '{name}'. "
            f"Valid values are: {', '.join(setting.values)}"
        )
    await call.services.repository_store.put_account_setting(account, name, value, call.services.clock.now())
    return {"name": name, "value": value}


OPERATIONS = table(
    Operation(ECR, "GetAccountSetting", get_account_setting, resource=registry_resource),
    Operation(ECR, "PutAccountSetting", put_account_setting, resource=registry_resource, mutates=True),
)
