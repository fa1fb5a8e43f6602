"""The IAM and STS actions offered, one handler each, declared in :data:`OPERATIONS`
with the IAM action and resource ARN the authorizer decides on before the handler runs.

Names and shapes follow the IAM API reference (2010-05-08) and STS (2011-06-15).
Resources name users as ``arn:aws:iam::<account>:user/<name>`` and roles as
``arn:aws:iam::<account>:role/<name>`` (without their path, which would cost a lookup
before authorization) and policies by their ARN. STS AssumeRole declares no action here:
the role's trust policy decides, with the caller's identity policies, in the use case.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

from strongroom.api.iam.protocol import Params, Result, XmlValue
from strongroom.auth.management import (
    EXTERNAL_ID,
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    AccessKey,
    IdentityAdmin,
    ManagedPolicy,
    NoSuchEntity,
    Role,
    User,
)
from strongroom.auth.principals import Principal
from strongroom.errors import InvalidRequest

T = TypeVar("T")

MAX_ITEMS = 1000
DEFAULT_ITEMS = 100
POLICY_VERSION = "v1"
"""Managed policies have one version: the document as created."""


@dataclass(frozen=True)
class Call:
    params: Params
    principal: Principal
    admin: IdentityAdmin
    """Acting as the caller: every change is audited under the caller's ARN."""
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    """The request's condition keys (``aws:SourceIp``…), for policies evaluated in use cases."""

    @property
    def account(self) -> str:
        return self.principal.account_id

    @property
    def user_name(self) -> str:
        """``UserName``, or the caller when it is absent (as IAM does for keys and GetUser)."""
        return self.params.optional("UserName") or self.principal.name


Handler = Callable[[Call], Awaitable[Result]]
ResourceOf = Callable[[Params, Principal], str]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    action: str | None
    """The IAM action authorized; None: any authenticated caller (GetCallerIdentity)."""
    resource: ResourceOf
    handler: Handler


# resources


def _named_user(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:user/{params.required('UserName')}"


def _user_or_caller(params: Params, principal: Principal) -> str:
    name = params.optional("UserName")
    return principal.arn if name is None else f"arn:aws:iam::{principal.account_id}:user/{name}"


def _all_users(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:user/*"


def _new_policy(params: Params, principal: Principal) -> str:
    path = params.optional("Path") or "/"
    return f"arn:aws:iam::{principal.account_id}:policy{path}{params.required('PolicyName')}"


def _policy(params: Params, principal: Principal) -> str:
    return params.required("PolicyArn")


def _all_policies(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:policy/*"


def _named_role(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:role/{params.required('RoleName')}"


def _all_roles(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:role/*"


def _caller(params: Params, principal: Principal) -> str:
    return principal.arn


# rendering


def _user(user: User) -> dict[str, XmlValue]:
    return {
        "Path": user.path, "UserName": user.name, "UserId": user.user_id,
        "Arn": user.arn, "CreateDate": user.created_at,
    }  # fmt: skip


def _managed(policy: ManagedPolicy, counts: Mapping[int, int]) -> dict[str, XmlValue]:
    return {
        "PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
        "DefaultVersionId": POLICY_VERSION, "AttachmentCount": counts.get(policy.id, 0),
        "IsAttachable": True, "Description": policy.description,
        "CreateDate": policy.created_at, "UpdateDate": policy.updated_at,
    }  # fmt: skip


def _role(role: Role) -> dict[str, XmlValue]:
    return {
        "Path": role.path, "RoleName": role.name, "RoleId": role.role_id, "Arn": role.arn,
        "CreateDate": role.created_at, "AssumeRolePolicyDocument": _document(role.trust_policy),
        "Description": role.description, "MaxSessionDuration": role.max_session_seconds,
    }  # fmt: skip


def _key(key: AccessKey) -> dict[str, XmlValue]:
    return {
        "UserName": key.user.name, "AccessKeyId": key.id, "Status": key.status, "CreateDate": key.created_at
    }  # fmt: skip


def _document(text: str) -> str:
    # IAM returns policy documents percent-encoded (RFC 3986); SDKs decode them.
    return quote(text, safe="")


def _page(items: Sequence[T], key: Callable[[T], str], params: Params) -> tuple[list[T], dict[str, XmlValue]]:
    """One page after ``Marker``; the marker is opaque to clients (the last key, encoded)."""
    limit = params.integer("MaxItems", 1, MAX_ITEMS, DEFAULT_ITEMS)
    ordered = sorted(items, key=key)
    marker = params.optional("Marker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidRequest("Invalid Marker") from None
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:limit]
    truncated = len(ordered) > limit
    next_marker = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if truncated else None
    return page, {"IsTruncated": truncated, "Marker": next_marker}


# users


async def create_user(call: Call) -> Result:
    path = call.params.optional("Path") or "/"
    user = await call.admin.create_user(call.account, call.params.required("UserName"), path)
    return {"User": _user(user)}


async def get_user(call: Call) -> Result:
    return {"User": _user(await call.admin.user(call.account, call.user_name))}


async def list_users(call: Call) -> Result:
    users = await call.admin.list_users(call.account, call.params.optional("PathPrefix") or "/")
    page, more = _page(users, lambda user: user.name, call.params)
    return {"Users": [_user(user) for user in page], **more}


async def delete_user(call: Call) -> Result:
    await call.admin.delete_user(call.account, call.params.required("UserName"))
    return None


# access keys


async def create_access_key(call: Call) -> Result:
    key = await call.admin.create_access_key(call.account, call.user_name)
    return {
        "AccessKey": {
            "UserName": key.user.name, "AccessKeyId": key.access_key_id, "Status": "Active",
            "SecretAccessKey": key.secret_access_key, "CreateDate": key.created_at,
        }
    }  # fmt: skip


async def list_access_keys(call: Call) -> Result:
    keys = await call.admin.list_access_keys(call.account, call.user_name)
    page, more = _page(keys, lambda key: key.id, call.params)
    return {"AccessKeyMetadata": [_key(key) for key in page], **more}


async def update_access_key(call: Call) -> Result:
    status = call.params.required("Status")
    if status not in ("Active", "Inactive"):
        raise InvalidRequest(
            f"1 validation error detected: Value '{status[:20]}' at 'status' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Active, Inactive]"
        )
    key_id = call.params.required("AccessKeyId")
    await call.admin.set_access_key_status(call.account, call.user_name, key_id, status == "Active")
    return None


async def delete_access_key(call: Call) -> Result:
    key_id = call.params.required("AccessKeyId")
    await call.admin.delete_access_key(call.account, call.user_name, key_id)
    return None


# inline policies


async def put_user_policy(call: Call) -> Result:
    params = call.params
    await call.admin.put_user_policy(
        call.account, params.required("UserName"), params.required("PolicyName"),
        params.required("PolicyDocument"),
    )  # fmt: skip
    return None


async def get_user_policy(call: Call) -> Result:
    user, name = call.params.required("UserName"), call.params.required("PolicyName")
    document = await call.admin.get_user_policy(call.account, user, name)
    return {"UserName": user, "PolicyName": name, "PolicyDocument": _document(document)}


async def delete_user_policy(call: Call) -> Result:
    user, name = call.params.required("UserName"), call.params.required("PolicyName")
    await call.admin.delete_user_policy(call.account, user, name)
    return None


async def list_user_policies(call: Call) -> Result:
    names = await call.admin.list_user_policies(call.account, call.params.required("UserName"))
    page, more = _page(names, lambda name: name, call.params)
    return {"PolicyNames": page, **more}


# managed policies


async def create_policy(call: Call) -> Result:
    params = call.params
    policy = await call.admin.create_policy(
        call.account, params.required("PolicyName"), params.required("PolicyDocument"),
        params.optional("Path") or "/", params.optional("Description"),
    )  # fmt: skip
    return {"Policy": _managed(policy, {})}


async def get_policy(call: Call) -> Result:
    policy = await call.admin.policy(call.account, call.params.required("PolicyArn"))
    return {"Policy": _managed(policy, await call.admin.attachment_counts(call.account))}


async def get_policy_version(call: Call) -> Result:
    policy = await call.admin.policy(call.account, call.params.required("PolicyArn"))
    version = call.params.required("VersionId")
    if version != POLICY_VERSION:
        raise NoSuchEntity(f"Policy {policy.arn} version {version[:20]} does not exist or is not attachable.")
    return {
        "PolicyVersion": {
            "Document": _document(policy.document), "VersionId": POLICY_VERSION,
            "IsDefaultVersion": True, "CreateDate": policy.created_at,
        }
    }  # fmt: skip


async def delete_policy(call: Call) -> Result:
    await call.admin.delete_policy(call.account, call.params.required("PolicyArn"))
    return None


async def list_policies(call: Call) -> Result:
    params = call.params
    scope = params.optional("Scope") or "All"
    if scope not in ("All", "AWS", "Local"):
        raise InvalidRequest("Scope must be one of All, AWS, Local")
    policies: list[ManagedPolicy] = []
    if scope != "AWS":  # AWS managed policies are not held
        policies = await call.admin.list_policies(call.account, params.optional("PathPrefix") or "/")
    counts = await call.admin.attachment_counts(call.account)
    if params.boolean("OnlyAttached"):
        policies = [policy for policy in policies if counts.get(policy.id)]
    page, more = _page(policies, lambda policy: policy.name, params)
    return {"Policies": [_managed(policy, counts) for policy in page], **more}


async def attach_user_policy(call: Call) -> Result:
    user, arn = call.params.required("UserName"), call.params.required("PolicyArn")
    await call.admin.attach_user_policy(call.account, user, arn)
    return None


async def detach_user_policy(call: Call) -> Result:
    user, arn = call.params.required("UserName"), call.params.required("PolicyArn")
    await call.admin.detach_user_policy(call.account, user, arn)
    return None


async def list_attached_user_policies(call: Call) -> Result:
    params = call.params
    policies = await call.admin.list_attached_user_policies(call.account, params.required("UserName"))
    prefix = params.optional("PathPrefix") or "/"
    policies = [policy for policy in policies if policy.path.startswith(prefix)]
    page, more = _page(policies, lambda policy: policy.name, params)
    return {
        "AttachedPolicies": [{"PolicyName": policy.name, "PolicyArn": policy.arn} for policy in page],
        **more,
    }


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
    page, more = _page(roles, lambda role: role.name, call.params)
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
    document = await call.admin.get_role_policy(call.account, role, name)
    return {"RoleName": role, "PolicyName": name, "PolicyDocument": _document(document)}


async def delete_role_policy(call: Call) -> Result:
    role, name = call.params.required("RoleName"), call.params.required("PolicyName")
    await call.admin.delete_role_policy(call.account, role, name)
    return None


async def list_role_policies(call: Call) -> Result:
    names = await call.admin.list_role_policies(call.account, call.params.required("RoleName"))
    page, more = _page(names, lambda name: name, call.params)
    return {"PolicyNames": page, **more}


async def attach_role_policy(call: Call) -> Result:
    role, arn = call.params.required("RoleName"), call.params.required("PolicyArn")
    await call.admin.attach_role_policy(call.account, role, arn)
    return None


async def detach_role_policy(call: Call) -> Result:
    role, arn = call.params.required("RoleName"), call.params.required("PolicyArn")
    await call.admin.detach_role_policy(call.account, role, arn)
    return None


async def list_attached_role_policies(call: Call) -> Result:
    params = call.params
    policies = await call.admin.list_attached_role_policies(call.account, params.required("RoleName"))
    prefix = params.optional("PathPrefix") or "/"
    policies = [policy for policy in policies if policy.path.startswith(prefix)]
    page, more = _page(policies, lambda policy: policy.name, params)
    return {
        "AttachedPolicies": [{"PolicyName": policy.name, "PolicyArn": policy.arn} for policy in page],
        **more,
    }


# groups and instance profiles: Strongroom has neither, so these listings are always empty
# for a user or role that exists. Terraform calls them before deleting one (to remove it
# from its groups / instance profiles) and fails the delete when they are not answered.


async def list_groups_for_user(call: Call) -> Result:
    await call.admin.user(call.account, call.params.required("UserName"))
    return {"Groups": [], "IsTruncated": False}


async def list_instance_profiles_for_role(call: Call) -> Result:
    await call.admin.role(call.account, call.params.required("RoleName"))
    return {"InstanceProfiles": [], "IsTruncated": False}


# STS


async def assume_role(call: Call) -> Result:
    params = call.params
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


def _iam(name: str, resource: ResourceOf, handler: Handler) -> Operation:
    return Operation("iam", name, f"iam:{name}", resource, handler)


OPERATIONS: dict[tuple[str, str], Operation] = {
    (operation.service, operation.name): operation
    for operation in (
        _iam("CreateUser", _named_user, create_user),
        _iam("GetUser", _user_or_caller, get_user),
        _iam("ListUsers", _all_users, list_users),
        _iam("DeleteUser", _named_user, delete_user),
        _iam("CreateAccessKey", _user_or_caller, create_access_key),
        _iam("ListAccessKeys", _user_or_caller, list_access_keys),
        _iam("UpdateAccessKey", _user_or_caller, update_access_key),
        _iam("DeleteAccessKey", _user_or_caller, delete_access_key),
        _iam("PutUserPolicy", _named_user, put_user_policy),
        _iam("GetUserPolicy", _named_user, get_user_policy),
        _iam("DeleteUserPolicy", _named_user, delete_user_policy),
        _iam("ListUserPolicies", _named_user, list_user_policies),
        _iam("CreatePolicy", _new_policy, create_policy),
        _iam("GetPolicy", _policy, get_policy),
        _iam("GetPolicyVersion", _policy, get_policy_version),
        _iam("DeletePolicy", _policy, delete_policy),
        _iam("ListPolicies", _all_policies, list_policies),
        _iam("AttachUserPolicy", _named_user, attach_user_policy),
        _iam("DetachUserPolicy", _named_user, detach_user_policy),
        _iam("ListAttachedUserPolicies", _named_user, list_attached_user_policies),
        _iam("CreateRole", _named_role, create_role),
        _iam("GetRole", _named_role, get_role),
        _iam("ListRoles", _all_roles, list_roles),
        _iam("DeleteRole", _named_role, delete_role),
        _iam("UpdateAssumeRolePolicy", _named_role, update_assume_role_policy),
        _iam("PutRolePolicy", _named_role, put_role_policy),
        _iam("GetRolePolicy", _named_role, get_role_policy),
        _iam("DeleteRolePolicy", _named_role, delete_role_policy),
        _iam("ListRolePolicies", _named_role, list_role_policies),
        _iam("AttachRolePolicy", _named_role, attach_role_policy),
        _iam("DetachRolePolicy", _named_role, detach_role_policy),
        _iam("ListAttachedRolePolicies", _named_role, list_attached_role_policies),
        _iam("ListGroupsForUser", _named_user, list_groups_for_user),
        _iam("ListInstanceProfilesForRole", _named_role, list_instance_profiles_for_role),
        Operation("sts", "GetCallerIdentity", None, _caller, get_caller_identity),
        # The trust policy decides, in the use case: it is the role's resource policy.
        Operation("sts", "AssumeRole", None, _caller, assume_role),
    )
}
"""By (SigV4 service, Action)."""
