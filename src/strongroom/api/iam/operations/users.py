"""IAM users, their access keys and inline policies (IAM API reference, 2010-05-08)."""

from __future__ import annotations

from strongroom.api.iam.call import (
    Call,
    all_users,
    document,
    iam,
    named_user,
    paginate,
    table,
    user_or_caller,
)
from strongroom.api.iam.protocol import Result, XmlValue
from strongroom.auth.management import AccessKey, User
from strongroom.errors import InvalidRequest


def render_user(user: User) -> dict[str, XmlValue]:
    return {
        "Path": user.path, "UserName": user.name, "UserId": user.user_id,
        "Arn": user.arn, "CreateDate": user.created_at,
    }  # fmt: skip


def _key(key: AccessKey) -> dict[str, XmlValue]:
    return {
        "UserName": key.user.name, "AccessKeyId": key.id, "Status": key.status, "CreateDate": key.created_at
    }  # fmt: skip


# users


async def create_user(call: Call) -> Result:
    path = call.params.optional("Path") or "/"
    user = await call.admin.create_user(call.account, call.params.required("UserName"), path)
    return {"User": render_user(user)}


async def get_user(call: Call) -> Result:
    return {"User": render_user(await call.admin.user(call.account, call.user_name))}


async def list_users(call: Call) -> Result:
    users = await call.admin.list_users(call.account, call.params.optional("PathPrefix") or "/")
    page, more = paginate(users, lambda user: user.name, call.params)
    return {"Users": [render_user(user) for user in page], **more}


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
    page, more = paginate(keys, lambda key: key.id, call.params)
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
    text = await call.admin.get_user_policy(call.account, user, name)
    return {"UserName": user, "PolicyName": name, "PolicyDocument": document(text)}


async def delete_user_policy(call: Call) -> Result:
    user, name = call.params.required("UserName"), call.params.required("PolicyName")
    await call.admin.delete_user_policy(call.account, user, name)
    return None


async def list_user_policies(call: Call) -> Result:
    names = await call.admin.list_user_policies(call.account, call.params.required("UserName"))
    page, more = paginate(names, lambda name: name, call.params)
    return {"PolicyNames": page, **more}


# groups: Strongroom has none, so this listing is always empty for a user that exists.
# Terraform calls it before deleting a user (to remove it from its groups) and fails the
# delete when it is not answered.


async def list_groups_for_user(call: Call) -> Result:
    await call.admin.user(call.account, call.params.required("UserName"))
    return {"Groups": [], "IsTruncated": False}


OPERATIONS = table(
    iam("CreateUser", named_user, create_user),
    iam("GetUser", user_or_caller, get_user),
    iam("ListUsers", all_users, list_users),
    iam("DeleteUser", named_user, delete_user),
    iam("CreateAccessKey", user_or_caller, create_access_key),
    iam("ListAccessKeys", user_or_caller, list_access_keys),
    iam("UpdateAccessKey", user_or_caller, update_access_key),
    iam("DeleteAccessKey", user_or_caller, delete_access_key),
    iam("PutUserPolicy", named_user, put_user_policy),
    iam("GetUserPolicy", named_user, get_user_policy),
    iam("DeleteUserPolicy", named_user, delete_user_policy),
    iam("ListUserPolicies", named_user, list_user_policies),
    iam("ListGroupsForUser", named_user, list_groups_for_user),
)
