"""IAM's policy simulator: SimulatePrincipalPolicy (a stored user or role, decided by the
server's own authorizer: auth/simulation.py) and SimulateCustomPolicy (the documents
given, decided by the same policy engine). Shapes from botocore's iam model: one
EvaluationResult per action and resource, with ``EvalDecision`` ``allowed``,
``explicitDeny`` or ``implicitDeny`` and the ``MatchedStatements`` that decided.

Not offered (refused as InvalidInput rather than silently ignored): permissions
boundaries, organization policies, policy exclusions, and in SimulatePrincipalPolicy
extra policies (PolicyInputList, ResourcePolicy, CallerArn), which would make the
answer differ from what the server decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from strongroom.api.iam.call import Call, iam, paginate, table
from strongroom.api.iam.protocol import Params, Result, XmlValue
from strongroom.auth.iam_authorizer import caller_of
from strongroom.auth.principals import Principal
from strongroom.auth.simulation import Simulator
from strongroom.errors import InvalidRequest
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.evaluation import Decision, Reason, Source, StatementRef, evaluate
from strongroom.policy.locations import locations
from strongroom.policy.request import Caller, Request

MAX_MEMBERS = 1000
MAX_EVALUATIONS = 1000
"""Decisions per call: each may read the store, so a request cannot ask for a million."""
_TAG_KEYS = ("aws:resourcetag/", "ecr:resourcetag/")
_UNSUPPORTED = {
    "SimulatePrincipalPolicy": (
        "PolicyInputList", "PermissionsBoundaryPolicyInputList", "PolicyExclusionList",
        "ResourcePolicy", "CallerArn", "ResourceHandlingOption",
    ),
    "SimulateCustomPolicy": (
        "PermissionsBoundaryPolicyInputList", "OrderedOrganizationPolicyInputList", "ResourceHandlingOption",
    ),
}  # fmt: skip
_DECISIONS = {
    Reason.ALLOWED: "allowed",
    Reason.EXPLICIT_DENY: "explicitDeny",
    Reason.IMPLICIT_DENY: "implicitDeny",
}
_USER_ARN = re.compile(r"^arn:aws:iam::(?P<account>[0-9]{12}):user(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$")
_ACCOUNT = re.compile(r"^(?:arn:aws:iam::)?(?P<account>[0-9]{12})(?::root)?$")


class InvalidInput(InvalidRequest):
    pass


def _members(params: Params, name: str) -> list[str]:
    """``Name.member.1``, ``Name.member.2``, … (the query protocol's lists)."""
    found: list[str] = []
    while len(found) < MAX_MEMBERS:
        value = params.optional(f"{name}.member.{len(found) + 1}")
        if value is None:
            break
        found.append(value)
    return found


def _context(params: Params) -> dict[str, str | list[str]]:
    """ContextEntries: each key's values (a list type keeps every value)."""
    context: dict[str, str | list[str]] = {}
    for number in range(1, MAX_MEMBERS + 1):
        prefix = f"ContextEntries.member.{number}"
        key = params.optional(f"{prefix}.ContextKeyName")
        if key is None:
            break
        values = _members(params, f"{prefix}.ContextKeyValues")
        kind = params.optional(f"{prefix}.ContextKeyType") or "string"
        context[key] = values if kind.endswith("List") or len(values) != 1 else values[0]
    return context


def _common(call: Call, operation: str) -> tuple[list[str], list[str], dict[str, str | list[str]]]:
    for name in _UNSUPPORTED[operation]:
        if call.params.optional(name) is not None or call.params.optional(f"{name}.member.1") is not None:
            raise InvalidInput(f"{name} is not supported by Strongroom's {operation}")
    actions = _members(call.params, "ActionNames")
    if not actions:
        raise InvalidInput("ActionNames must name at least one action")
    resources = _members(call.params, "ResourceArns") or ["*"]
    if len(actions) * len(resources) > MAX_EVALUATIONS:
        raise InvalidInput(
            f"ActionNames times ResourceArns is {len(actions) * len(resources)}; at most {MAX_EVALUATIONS} "
            "decisions are simulated per call"
        )
    return actions, resources, _context(call.params)


async def simulate_principal_policy(call: Call) -> Result:
    source = call.params.required("PolicySourceArn")
    actions, resources, context = _common(call, "SimulatePrincipalPolicy")
    simulator = Simulator(call.admin, call.authorizer, call.policies)
    results: list[dict[str, XmlValue]] = []
    for action in actions:
        for resource in resources:
            simulated = await simulator.decide(source, action, resource, context)
            matched = [_stored_statement(ref, simulated.kind) for ref in simulated.decision.statements]
            known = [*context, *caller_of(simulated.principal).context_keys()]
            missing = _missing(_parsed(simulated.documents), known, stored=True)
            results.append(_result(action, resource, simulated.decision, matched, missing))
    return _page(results, call.params)


async def simulate_custom_policy(call: Call) -> Result:
    actions, resources, context = _common(call, "SimulateCustomPolicy")
    texts = {
        f"PolicyInputList.{n}": text for n, text in enumerate(_members(call.params, "PolicyInputList"), 1)
    }
    if not texts:
        raise InvalidInput("PolicyInputList must hold at least one policy")
    identity = {name: Policy.from_json(text, PolicyKind.IDENTITY) for name, text in texts.items()}
    resource_text = call.params.optional("ResourcePolicy")
    resource_policy = None if resource_text is None else Policy.from_json(resource_text, PolicyKind.RESOURCE)
    caller = _caller(call.params.optional("CallerArn"), call.principal)
    owner = _owner(call.params.optional("ResourceOwner"))
    policies = [*identity.values(), *([resource_policy] if resource_policy else [])]
    results: list[dict[str, XmlValue]] = []
    for action in actions:
        for resource in resources:
            account = owner or _account_of(resource) or caller.account_id or call.account
            decision = evaluate(
                Request(caller, action, resource, account, context), identity, resource_policy
            )
            matched = [_given_statement(ref, texts, resource_text) for ref in decision.statements]
            missing = _missing(policies, [*context, *caller.context_keys()], stored=False)
            results.append(_result(action, resource, decision, matched, missing))
    return _page(results, call.params)


def _caller(arn: str | None, principal: Principal) -> Caller:
    """CallerArn (an IAM user, as IAM requires), else the one calling."""
    if arn is None:
        return caller_of(principal)
    found = _USER_ARN.match(arn)
    if found is None:
        raise InvalidInput(f"CallerArn must be an IAM user ARN, not {arn[:200]!r}")
    return Caller.user(found["account"], found["name"], path=found["path"])


def _owner(value: str | None) -> str | None:
    if value is None:
        return None
    found = _ACCOUNT.match(value)
    if found is None:
        raise InvalidInput(f"ResourceOwner must be an account id or its root ARN, not {value[:200]!r}")
    return found["account"]


def _account_of(resource: str) -> str | None:
    parts = resource.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4].isdigit() else None


def _result(
    action: str, resource: str, decision: Decision, matched: list[XmlValue], missing: list[str]
) -> dict[str, XmlValue]:
    return {
        "EvalActionName": action, "EvalResourceName": resource, "EvalDecision": _DECISIONS[decision.reason],
        "MatchedStatements": matched, "MissingContextValues": list[XmlValue](missing),
    }  # fmt: skip


def _missing(policies: Iterable[Policy], known: Iterable[str], *, stored: bool) -> list[str]:
    """Condition keys the policies use that the simulation was not given (IAM's
    MissingContextValues); a decision may change once they are. For stored policies the
    server supplies the repository's resource tags itself."""
    have = {key.lower() for key in known}
    used = {clause.key: None for policy in policies for s in policy.statements for clause in s.conditions}
    return sorted(
        (
            key
            for key in used
            if key.lower() not in have and not (stored and key.lower().startswith(_TAG_KEYS))
        ),
        key=str.lower,
    )


def _parsed(documents: Mapping[tuple[Source, str | None], str]) -> list[Policy]:
    """The stored documents a simulation read (one that no longer parses has no keys)."""
    parsed: list[Policy] = []
    for (source, _), text in documents.items():
        kind = PolicyKind.IDENTITY if source is Source.IDENTITY else PolicyKind.RESOURCE
        try:
            parsed.append(Policy.from_json(text, kind))
        except MalformedPolicyDocument:
            continue
    return parsed


def _stored_statement(ref: StatementRef, kind: str) -> XmlValue:
    """A stored policy: by name (inline ``inline:<name>``, managed by ARN), and its type."""
    if ref.source is not Source.IDENTITY:
        return {"SourcePolicyId": f"{ref.source}-policy", "SourcePolicyType": "resource"}
    name = ref.policy_name or ""
    if name.startswith("inline:"):
        return {"SourcePolicyId": name.removeprefix("inline:"), "SourcePolicyType": kind}
    managed = "aws-managed" if name.startswith("arn:aws:iam::aws:") else "user-managed"
    return {"SourcePolicyId": name.rsplit("/", 1)[-1], "SourcePolicyType": managed}


def _given_statement(ref: StatementRef, texts: Mapping[str, str], resource_text: str | None) -> XmlValue:
    """A policy of the request, with where the statement starts and ends in its text."""
    if ref.source is Source.IDENTITY:
        policy_id, text, kind = ref.policy_name or "", texts.get(ref.policy_name or "", ""), "none"
    else:
        policy_id, text, kind = "ResourcePolicy", resource_text or "", "resource"
    statement: dict[str, XmlValue] = {"SourcePolicyId": policy_id, "SourcePolicyType": kind}
    for found in locations(text, ("Statement", ref.index)):
        span: Mapping[str, Mapping[str, int]] = found["span"]  # type: ignore[assignment]
        for member, end in (("StartPosition", "start"), ("EndPosition", "end")):
            statement[member] = {"Line": span[end]["line"], "Column": span[end]["column"]}
    return statement


def _page(results: list[dict[str, XmlValue]], params: Params) -> Result:
    numbered = list(enumerate(results))
    page, more = paginate(numbered, lambda entry: f"{entry[0]:08d}", params)
    return {"EvaluationResults": [result for _, result in page], **more}


def _source(params: Params, principal: Principal) -> str:
    """Simulating a principal's policies is an action on that principal."""
    return params.required("PolicySourceArn")


def _account(params: Params, principal: Principal) -> str:
    """SimulateCustomPolicy touches no stored resource: authorized on the caller's account."""
    return f"arn:aws:iam::{principal.account_id}:root"


OPERATIONS = table(
    iam("SimulatePrincipalPolicy", _source, simulate_principal_policy),
    iam("SimulateCustomPolicy", _account, simulate_custom_policy),
)
