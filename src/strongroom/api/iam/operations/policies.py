"""Managed policies and their attachment to users and roles (IAM API reference)."""

from __future__ import annotations

from collections.abc import Mapping

from strongroom.api.iam.call import Call, document, iam, named_role, named_user, paginate, table
from strongroom.api.iam.protocol import Params, Result, XmlValue
from strongroom.auth.management import ManagedPolicy, NoSuchEntity
from strongroom.auth.principals import Principal
from strongroom.errors import InvalidRequest

POLICY_VERSION = "v1"
"""Managed policies have one version: the document as created."""


def _new_policy(params: Params, principal: Principal) -> str:
    path = params.optional("Path") or "/"
    return f"arn:aws:iam::{principal.account_id}:policy{path}{params.required('PolicyName')}"


def _policy(params: Params, principal: Principal) -> str:
    return params.required("PolicyArn")


def _all_policies(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:policy/*"


def _managed(policy: ManagedPolicy, counts: Mapping[int, int]) -> dict[str, XmlValue]:
    return {
        "PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
        "DefaultVersionId": POLICY_VERSION, "AttachmentCount": counts.get(policy.id, 0),
        "IsAttachable": True, "Description": policy.description,
        "CreateDate": policy.created_at, "UpdateDate": policy.updated_at,
    }  # fmt: skip


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
            "Document": document(policy.document), "VersionId": POLICY_VERSION,
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
    page, more = paginate(policies, lambda policy: policy.name, params)
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
    page, more = paginate(policies, lambda policy: policy.name, params)
    return {
        "AttachedPolicies": [{"PolicyName": policy.name, "PolicyArn": policy.arn} for policy in page],
        **more,
    }


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
    page, more = paginate(policies, lambda policy: policy.name, params)
    return {
        "AttachedPolicies": [{"PolicyName": policy.name, "PolicyArn": policy.arn} for policy in page],
        **more,
    }


OPERATIONS = table(
    iam("CreatePolicy", _new_policy, create_policy),
    iam("GetPolicy", _policy, get_policy),
    iam("GetPolicyVersion", _policy, get_policy_version),
    iam("DeletePolicy", _policy, delete_policy),
    iam("ListPolicies", _all_policies, list_policies),
    iam("AttachUserPolicy", named_user, attach_user_policy),
    iam("DetachUserPolicy", named_user, detach_user_policy),
    iam("ListAttachedUserPolicies", named_user, list_attached_user_policies),
    iam("AttachRolePolicy", named_role, attach_role_policy),
    iam("DetachRolePolicy", named_role, detach_role_policy),
    iam("ListAttachedRolePolicies", named_role, list_attached_role_policies),
)
