"""IAM roles and their inline policies, and STS: AssumeRole and GetCallerIdentity.

AssumeRole declares no action here: the role's trust policy decides, with the caller's
identity policies, in the use case (it is the role's resource policy).
"""

from __future__ import annotations

from strongroom.api.iam.call import (
    Call,
    Operation,
    all_roles,
    caller,
    document,
    iam,
    named_role,
    paginate,
    table,
)
from strongroom.api.iam.protocol import Result, XmlValue
from strongroom.auth.management import EXTERNAL_ID, MAX_SESSION_SECONDS, MIN_SESSION_SECONDS, Role
from strongroom.errors import InvalidRequest


def _role(role: Role) -> dict[str, XmlValue]:
    return {
        "Path": role.path, "RoleName": role.name, "RoleId": role.role_id, "Arn": role.arn,
        "CreateDate": role.created_at, "AssumeRolePolicyDocument": document(role.trust_policy),
        "Description": role.description, "MaxSessionDuration": role.max_session_seconds,
    }  # fmt: skip


# roles


async def create_role(call: Call) -> Result:
    params = call.params
    role = await call.admin.create_role(
        call.account, params.required("RoleName"), params.required("AssumeRolePolicyDocument"),
        params.optional("Path") or "/", params.optional("Description"),
        params.integer("MaxSessionDuration", 1, MAX_SESSION_SECONDS, 3600),
    )  # fmt: skip
    return {"Role": _role(role)}


async def get_role(call: Call) -> Result:
    return {"Role": _role(await call.admin.role(call.account, call.params.required("RoleName")))}


async def list_roles(call: Call) -> Result:
    roles = await call.admin.list_roles(call.account, call.params.optional("PathPrefix") or "/")
    page, more = paginate(roles, lambda role: role.name, call.params)
    return {"Roles": [_role(role) for role in page], **more}


async def delete_role(call: Call) -> Result:
    await call.admin.delete_role(call.account, call.params.required("RoleName"))
    return None


async def update_assume_role_policy(call: Call) -> Result:
    role, document = call.params.required("RoleName"), call.params.required("PolicyDocument")
    await call.admin.update_assume_role_policy(call.account, role, document)
    return None


async def put_role_policy(call: Call) -> Result:
    params = call.params
    await call.admin.put_role_policy(
        call.account, params.required("RoleName"), params.required("PolicyName"),
        params.required("PolicyDocument"),
    )  # fmt: skip
    return None


async def get_role_policy(call: Call) -> Result:
    role, name = call.params.required("RoleName"), call.params.required("PolicyName")
    text = await call.admin.get_role_policy(call.account, role, name)
    return {"RoleName": role, "PolicyName": name, "PolicyDocument": document(text)}


async def delete_role_policy(call: Call) -> Result:
    role, name = call.params.required("RoleName"), call.params.required("PolicyName")
    await call.admin.delete_role_policy(call.account, role, name)
    return None


async def list_role_policies(call: Call) -> Result:
    names = await call.admin.list_role_policies(call.account, call.params.required("RoleName"))
    page, more = paginate(names, lambda name: name, call.params)
    return {"PolicyNames": page, **more}


# instance profiles: Strongroom has none, so this listing is always empty for a role that
# exists. Terraform calls it before deleting a role and fails the delete when unanswered.


async def list_instance_profiles_for_role(call: Call) -> Result:
    await call.admin.role(call.account, call.params.required("RoleName"))
    return {"InstanceProfiles": [], "IsTruncated": False}


# STS


SESSION_NARROWING = ("Policy", "PolicyArns", "Tags", "TransitiveTagKeys")
"""AssumeRole inputs that would make a session differ from its role (session policies,
session tags). Refused rather than ignored: a caller who asks for a narrower session must
never get a wider one than it asked for."""


async def assume_role(call: Call) -> Result:
    params = call.params
    refused = [name for name in SESSION_NARROWING if params.given(name)]
    if refused:
        raise InvalidRequest(
            f"AssumeRole with {', '.join(refused)} is not supported: session policies and session "
            "tags are not applied by this registry, so a session has exactly its role's permissions"
        )
    context = dict(call.context)
    if (external_id := params.optional("ExternalId")) is not None:
        context[EXTERNAL_ID] = external_id
    session = await call.admin.assume_role(
        call.principal, params.required("RoleArn"), params.required("RoleSessionName"),
        params.integer("DurationSeconds", MIN_SESSION_SECONDS, MAX_SESSION_SECONDS, 3600), context,
    )  # fmt: skip
    return {
        "Credentials": {
            "AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
            "SessionToken": session.session_token, "Expiration": session.expiration,
        },
        "AssumedRoleUser": {"AssumedRoleId": session.principal.unique_id, "Arn": session.principal.arn},
    }  # fmt: skip


async def get_caller_identity(call: Call) -> Result:
    principal = call.principal
    return {"Arn": principal.arn, "UserId": principal.unique_id, "Account": principal.account_id}


OPERATIONS = table(
    iam("CreateRole", named_role, create_role),
    iam("GetRole", named_role, get_role),
    iam("ListRoles", all_roles, list_roles),
    iam("DeleteRole", named_role, delete_role),
    iam("UpdateAssumeRolePolicy", named_role, update_assume_role_policy),
    iam("PutRolePolicy", named_role, put_role_policy),
    iam("GetRolePolicy", named_role, get_role_policy),
    iam("DeleteRolePolicy", named_role, delete_role_policy),
    iam("ListRolePolicies", named_role, list_role_policies),
    iam("ListInstanceProfilesForRole", named_role, list_instance_profiles_for_role),
    Operation("sts", "GetCallerIdentity", None, caller, get_caller_identity),
    Operation("sts", "AssumeRole", None, caller, assume_role),
)
