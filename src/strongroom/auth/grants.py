"""Deciding what a bearer token grants: each requested scope, checked action by action
against the authorizer, at issue time (the intersection of what was asked and what
policy allows; possibly empty, never an error)."""

from __future__ import annotations

from collections.abc import Mapping

from strongroom.auth.actions import Action
from strongroom.auth.authorizer import AccessRequest, Authorizer
from strongroom.auth.principals import Principal
from strongroom.auth.tokens import CATALOG, VERB_ACTIONS, Grant, Scope
from strongroom.errors import NameInvalid
from strongroom.oci.names import RepositoryRef


async def grant_for(
    authorizer: Authorizer,
    principal: Principal,
    scopes: list[Scope],
    *,
    default_account_id: str,
    region: str,
    context: Mapping[str, str | list[str]],
) -> Grant:
    granted: dict[str, set[str]] = {}

    async def check(action: str, resource: str, key: str) -> None:
        decision = await authorizer.decide(AccessRequest(principal, action, resource, context))
        if decision.allowed:
            granted.setdefault(key, set()).add(action)

    for scope in scopes:
        if scope.type == "registry":
            if scope.name == "catalog":
                resource = f"arn:aws:ecr:{region}:{default_account_id}:repository/*"
                await check(Action.DESCRIBE_REPOSITORIES, resource, CATALOG)
            continue
        try:
            ref = RepositoryRef.parse(scope.name, default_account_id)
        except NameInvalid:
            continue
        actions = dict.fromkeys(a for verb in scope.verbs for a in VERB_ACTIONS.get(verb, ()))
        for action in actions:
            await check(action, ref.arn(region), ref.path)
    return Grant(principal, {key: frozenset(actions) for key, actions in granted.items()})
