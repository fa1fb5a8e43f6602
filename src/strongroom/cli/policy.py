"""``strongroom iam policy validate`` and ``strongroom iam simulate``: policy checks that
need no store.

``validate`` parses a document as IAM would and lists Access-Analyzer-style findings
(policy/findings.py). ``simulate`` decides one request against the documents given on
the command line with the same engine the registry uses (policy/evaluation.py) and
says which statement decided. Both print through cli/output.py (``--output table|json``).

``simulate --from-store`` instead asks the server's own authorizer about a stored user or
role (auth/simulation.py), so its answer is the server's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import click

from strongroom.auth.iam_authorizer import IamAuthorizer
from strongroom.auth.management import ASSUME_ROLE
from strongroom.auth.simulation import Simulated, Simulator
from strongroom.cli.documents import read_document
from strongroom.cli.iam import identity_admin
from strongroom.cli.output import Output, Table, emit, output_option
from strongroom.cli.store import run_on_store
from strongroom.metadata.database import Database
from strongroom.metadata.iam import SqlIamStore
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.evaluation import Decision, Source, evaluate
from strongroom.policy.findings import Finding, findings, has_errors
from strongroom.policy.locations import locations
from strongroom.policy.request import Caller, Request
from strongroom.policy.types import PolicyType, detect_type
from strongroom.settings import Settings

_USER_OR_ROLE = re.compile(
    r"^arn:aws:iam::(?P<account>[0-9]{12}):(?P<type>user|role)(?P<path>/(?:.*/)?)(?P<name>[^/]+)$"
)
_ASSUMED_ROLE = re.compile(
    r"^arn:aws:sts::(?P<account>[0-9]{12}):assumed-role/(?P<role>[^/]+)/(?P<session>[^/]+)$"
)
_ANONYMOUS = "anonymous"


def _parse(option: str, name: str, text: str, kind: PolicyKind) -> Policy:
    try:
        return Policy.from_json(text, kind)
    except MalformedPolicyDocument as error:
        raise click.ClickException(f"{option} {name}: MalformedPolicyDocument: {error.message}") from None


@click.command("validate")
@click.option("--policy-document", required=True, help="JSON, or file://path")
@click.option(
    "--policy-type",
    type=click.Choice([kind.value for kind in PolicyType]),
    help="identity: attached to a user or role; resource: a repository policy; registry: the "
    "registry policy; trust: a role's trust policy. Default: detected from the document.",
)
@output_option
def policy_validate(policy_document: str, policy_type: str | None, output: Output | None) -> None:
    """Check a policy: exit 1 if it is malformed or has ERROR findings.

    Findings are shaped like IAM Access Analyzer's ValidatePolicy: ERROR,
    SECURITY_WARNING, WARNING and SUGGESTION, each with an issue code and its locations
    (the path to the element and its span of lines and columns)."""
    _, text = read_document("--policy-document", policy_document)
    kind = PolicyType(policy_type) if policy_type else detect_type(text)
    try:
        policy = Policy.from_json(text, kind.kind)
    except MalformedPolicyDocument as error:
        raise click.ClickException(f"MalformedPolicyDocument: {error.message}") from None
    found = findings(policy, kind)
    report = findings_report(text, found)
    emit(output, {"policyType": str(kind), "findings": report}, findings_table(f"{kind} policy", report))
    if has_errors(found):
        raise click.exceptions.Exit(1)


def findings_report(text: str, found: list[Finding]) -> list[dict[str, Any]]:
    """Findings as printed: Access Analyzer's shape, with their locations in ``text``."""
    return [{**finding.as_json(), "locations": locations(text, finding.path)} for finding in found]


def findings_table(what: str, report: list[dict[str, Any]]) -> Table:
    rows = [[f["findingType"], f["issueCode"], _where(f["locations"]), f["findingDetails"]] for f in report]
    return Table(["type", "issue", "location", "details"], rows, title=f"{what}: {len(rows)} findings")


def _where(found: list[dict[str, Any]]) -> str:
    """``Statement[0].Action[1] (3:14)``: the path, then line and column."""
    if not found:
        return "the policy"
    path = "".join(
        f"[{step['index']}]" if "index" in step else f".{step['value']}" for step in found[0]["path"]
    ).lstrip(".")
    start = found[0]["span"]["start"]
    return f"{path} ({start['line']}:{start['column']})"


def parse_principal(text: str) -> Caller:
    """An IAM user or role ARN, an assumed-role session ARN, or ``anonymous``."""
    if text == _ANONYMOUS:
        return Caller.anonymous()
    found = _USER_OR_ROLE.match(text)
    if found is not None:
        make = Caller.user if found["type"] == "user" else Caller.role
        return make(found["account"], found["name"], path=found["path"])
    session = _ASSUMED_ROLE.match(text)
    if session is not None:
        return Caller.assumed_role(session["account"], session["role"], session["session"])
    raise click.BadParameter(
        "expected arn:aws:iam::<account>:user/<name>, …:role/<name>, "
        "arn:aws:sts::<account>:assumed-role/<role>/<session>, or anonymous",
        param_hint="--principal",
    )


def parse_context(entries: tuple[str, ...]) -> dict[str, str | list[str]]:
    """``key=value`` pairs; a key given more than once becomes multivalued."""
    values: dict[str, list[str]] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{entry!r} is not key=value", param_hint="--context")
        values.setdefault(key, []).append(value)
    return {key: found[0] if len(found) == 1 else found for key, found in values.items()}


def _resource_account(resource: str, caller: Caller, given: str | None) -> str:
    """The account owning ``resource``: given, else the ARN's, else the caller's (for ``*``)."""
    if given is not None:
        return given
    parts = resource.split(":", 5)
    if len(parts) == 6 and parts[4]:
        return parts[4]
    if caller.account_id is not None:
        return caller.account_id
    raise click.UsageError("--resource names no account: give --resource-account")


def simulation(
    request: Request,
    identity_policies: Mapping[str, Policy],
    resource_policy: Policy | None,
    registry_policy: Policy | None,
) -> dict[str, object]:
    """The decision on ``request`` and what made it, as printed (pure)."""
    decision: Decision = evaluate(request, identity_policies, resource_policy, registry_policy)
    return {
        "decision": str(decision.reason),
        "allowed": decision.allowed,
        "detail": decision.detail,
        "statements": [
            {"source": str(ref.source), "policy": ref.policy_name, "index": ref.index, "sid": ref.sid}
            for ref in decision.statements
        ],
        "request": {
            "principal": request.caller.arn or _ANONYMOUS,
            "action": request.action,
            "resource": request.resource,
            "resourceAccount": request.resource_account,
            "crossAccount": request.cross_account,
            "context": dict(request.context),
        },
    }


def _identity_policies(documents: tuple[str, ...]) -> dict[str, Policy]:
    """Named by file, or ``inline-<n>``; names made unique with ``#<n>``."""
    policies: dict[str, Policy] = {}
    for number, document in enumerate(documents, start=1):
        name, text = read_document("--identity-policy", document)
        if name == "inline":
            name = f"inline-{number}"
        if name in policies:
            name = f"{name}#{number}"
        policies[name] = _parse("--identity-policy", name, text, PolicyKind.IDENTITY)
    return policies


def _resource_side(option: str, document: str | None) -> Policy | None:
    if document is None:
        return None
    name, text = read_document(option, document)
    return _parse(option, name, text, PolicyKind.RESOURCE)


@click.command("simulate")
@click.option(
    "--principal", required=True, help="arn:aws:iam::<account>:user/<name>, a role ARN, or anonymous"
)
@click.option("--action", required=True, help="e.g. ecr:PutImage")
@click.option(
    "--resource", required=True, help='e.g. arn:aws:ecr:us-east-1:123456789012:repository/ml/a, or "*"'
)
@click.option("--resource-account", help="Owner of the resource (default: from the ARN, else the caller's).")
@click.option("--context", "context_entries", multiple=True, help="key=value, e.g. aws:SourceIp=10.1.2.3")
@click.option("--identity-policy", "identity_documents", multiple=True, help="JSON, or file://path")
@click.option("--resource-policy", help="The repository policy: JSON, or file://path")
@click.option("--registry-policy", help="The registry policy: JSON, or file://path")
@click.option(
    "--from-store",
    is_flag=True,
    help="Decide with what is stored, as the server would: the principal's identity policies, the "
    "repository and registry policies, or for sts:AssumeRole the role's trust policy.",
)
@output_option
def simulate(
    principal: str,
    action: str,
    resource: str,
    resource_account: str | None,
    context_entries: tuple[str, ...],
    identity_documents: tuple[str, ...],
    resource_policy: str | None,
    registry_policy: str | None,
    from_store: bool,
    output: Output | None,
) -> None:
    """Decide one request against the policies given (or, with --from-store, those
    stored), and explain the decision.

    Same engine as the registry: an explicit Deny wins; otherwise an Allow is needed,
    and across accounts both an identity policy and a resource policy must allow."""
    context = parse_context(context_entries)
    if from_store:
        given = [identity_documents, resource_policy, registry_policy, resource_account]
        if any(given):
            raise click.UsageError("--from-store reads the policies: give no documents or --resource-account")
        emit(output, stored_simulation(principal, action, resource, context))
        return
    caller = parse_principal(principal)
    request = Request(
        caller,
        action,
        resource,
        _resource_account(resource, caller, resource_account),
        context,
    )
    emit(
        output,
        simulation(
            request,
            _identity_policies(identity_documents),
            _resource_side("--resource-policy", resource_policy),
            _resource_side("--registry-policy", registry_policy),
        ),
    )


def stored_simulation(
    principal: str, action: str, resource: str, context: Mapping[str, str | list[str]]
) -> dict[str, object]:
    """The server's decision for a stored user or role (or ``anonymous``), with the text
    of each statement that made it (auth/simulation.py decides; nothing is composed here)."""

    async def work(settings: Settings, database: Database) -> Simulated:
        policies = SqlIamStore(database)
        simulator = Simulator(identity_admin(settings, database), IamAuthorizer(policies), policies)
        return await simulator.decide(principal, action, resource, context)

    simulated = run_on_store(work)
    trust = action.lower() == ASSUME_ROLE.lower() and ":role/" in resource
    return {
        "decision": str(simulated.decision.reason),
        "allowed": simulated.decision.allowed,
        "detail": simulated.decision.detail,
        "statements": [
            {
                "source": "trust" if trust and ref.source is not Source.IDENTITY else str(ref.source),
                "policy": ref.policy_name,
                "index": ref.index,
                "sid": ref.sid,
                "statement": _statement(simulated.documents.get((ref.source, ref.policy_name)), ref.index),
            }
            for ref in simulated.decision.statements
        ],
        "request": {
            "principal": simulated.principal.arn if not simulated.principal.is_anonymous else _ANONYMOUS,
            "principalType": simulated.kind,
            "action": action,
            "resource": resource,
            "context": dict(context),
        },
    }


def _statement(text: str | None, index: int) -> object:
    """Statement ``index`` of a stored document, as written."""
    if text is None:
        return None
    entries = json.loads(text)["Statement"]
    return (entries if isinstance(entries, list) else [entries])[index]
