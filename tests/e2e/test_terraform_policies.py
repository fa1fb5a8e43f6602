"""The seeds' repository and registry policies applied with Terraform's hashicorp/aws
provider: ``aws_ecr_repository_policy`` has no ``force``, so Strongroom must store
``Principal: "*"`` with push actions, and the statement restricted by ``aws:SourceArn``,
as ECR does; a plan right after apply must want no change.

Runs where Terraform and a provider mirror are present (see test_terraform.py, whose
``terraform`` fixture this reuses with ``terraform-policies/`` beside the provider's
``main.tf``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from e2e.test_terraform import APPLY_TIMEOUT, INIT_TIMEOUT, Terraform, terraform
from support.aws import aws_client, error_of
from support.server import RunningServer

__all__ = ["terraform"]  # the fixture, imported to be used here

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SEED_CONFIGURATION = Path(__file__).parent / "terraform-policies"
PROVIDER_FILE = "main.tf"
"""The provider, its variables and the account lookup; every other file is replaced."""


def only_seed_policies(workdir: Path) -> None:
    for path in workdir.glob("*.tf"):
        if path.name != PROVIDER_FILE:
            path.unlink()
    for source in SEED_CONFIGURATION.glob("*.tf"):
        shutil.copy(source, workdir / source.name)


def test_seed_policies_apply_and_plan_clean(terraform: Terraform, server: RunningServer) -> None:
    only_seed_policies(terraform.workdir)
    terraform.run("init", "-input=false", "-no-color", timeout=INIT_TIMEOUT)
    terraform.run("apply", "-auto-approve", "-input=false", "-no-color", timeout=APPLY_TIMEOUT)
    plan = terraform.run(
        "plan", "-detailed-exitcode", "-input=false", "-no-color", timeout=APPLY_TIMEOUT, ok=(0, 2)
    )
    assert plan.returncode == 0, f"a plan right after apply wants changes:\n{plan.stdout[-8000:]}"

    outputs = {name: output["value"] for name, output in terraform.json("output", "-json").items()}
    ecr = aws_client(server, "ecr")
    everyone = ecr.get_repository_policy(repositoryName="seed/everyone-pushes")["policyText"]
    assert json.loads(everyone) == json.loads(outputs["everyone_pushes_policy"])
    assert json.loads(everyone)["Statement"][0]["Principal"] == "*"
    replicated = json.loads(ecr.get_repository_policy(repositoryName="seed/replicated")["policyText"])
    assert replicated == json.loads(outputs["replicated_policy"])
    condition = replicated["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"aws:SourceArn": outputs["replicated_arn"]}}
    registry = json.loads(ecr.get_registry_policy()["policyText"])
    (statement,) = registry["Statement"]
    account = statement["Resource"].split(":")[4]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}

    # The findings were kept: in the audit log and in `repo describe`.
    described = server.cli_json("repo", "describe", "seed/replicated", "--output", "json")
    assert [f["issueCode"] for f in described["findings"]] == ["REGISTRY_REQUESTS_ONLY"]
    assert [f["issueCode"] for f in described["registryPolicyFindings"]] == ["REGISTRY_REQUESTS_ONLY"]
    exported = [json.loads(line)["event"] for line in server.cli("audit", "export").stdout.splitlines()]
    audited = [e for e in exported if e["action"] == "ecr:SetRepositoryPolicy"]
    assert {f["issueCode"] for e in audited for f in e["detail"]["findings"]} >= {
        "WRITE_ACTIONS_FOR_EVERYONE", "REGISTRY_REQUESTS_ONLY",
    }  # fmt: skip

    terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", timeout=APPLY_TIMEOUT)
    assert ecr.describe_repositories()["repositories"] == []
    assert error_of(ecr.get_registry_policy)[0] == "RegistryPolicyNotFoundException"
