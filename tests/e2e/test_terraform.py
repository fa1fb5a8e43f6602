"""Terraform's hashicorp/aws provider manages Strongroom as Amazon ECR, ECR Public and IAM.

The configuration in ``tests/e2e/terraform/`` is applied to a real server, planned again (no
changes allowed: every read must give back what was written), checked with boto3, destroyed,
and checked to be gone.

Terraform is optional (no package registry we reach carries it or its provider): absent, the
test is skipped and the end of the run says so. Nothing is downloaded: the provider comes from
the CLI configuration named by ``TF_CLI_CONFIG_FILE`` when that file exists, or else from a
filesystem mirror on this machine, found in ``$STRONGROOM_TF_PROVIDER_MIRROR`` or in Terraform's
implicit local mirror directories (and the direct children of ``/opt``); its version must
satisfy ``versions.tf``. Terraform runs with its own data directory and HOME under the test's
tmp_path. Set ``TF_LOG=DEBUG`` to have every request and response written to
``terraform.log`` in that tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.aws import aws_client, error_of
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer
from support.tools import optional

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

CONFIGURATION = Path(__file__).parent / "terraform"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
MIRROR_VARIABLE = "STRONGROOM_TF_PROVIDER_MIRROR"
IMPLICIT_MIRRORS = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)
"""Terraform's implicit local mirror directories (CLI configuration docs), as roots."""
REPLICATION_REGION = "us-west-2"
INIT_TIMEOUT = 300
APPLY_TIMEOUT = 400
"""Per apply, plan or destroy; a run against a local server takes seconds."""


@dataclass(frozen=True)
class Mirror:
    root: Path
    """The directory holding ``registry.terraform.io/hashicorp/aws``."""
    version: str


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def mirror_versions(root: Path, platform: str) -> list[str]:
    """Versions of hashicorp/aws for ``platform`` under ``root``, unpacked or packed layout."""
    provider = root / AWS_PROVIDER
    if not provider.is_dir():
        return []
    versions = {entry.name for entry in provider.iterdir() if (entry / platform).is_dir()}
    packed = re.compile(rf"^terraform-provider-aws_(?P<version>.+)_{re.escape(platform)}\.zip$")
    versions |= {m.group("version") for entry in provider.iterdir() if (m := packed.match(entry.name))}
    return sorted(versions, key=_version_key)


def candidate_roots() -> Iterator[Path]:
    for root in IMPLICIT_MIRRORS:
        yield Path(root).expanduser()
    opt = Path("/opt")
    if opt.is_dir():
        yield from sorted(child for child in opt.iterdir() if child.is_dir())


def find_mirror(platform: str) -> Mirror | None:
    configured = os.environ.get(MIRROR_VARIABLE)
    if configured:
        root = Path(configured).expanduser()
        versions = mirror_versions(root, platform)
        if not versions:
            pytest.fail(f"{MIRROR_VARIABLE}={configured} holds no {AWS_PROVIDER} for {platform}")
        return Mirror(root, versions[-1])
    for root in candidate_roots():
        try:
            versions = mirror_versions(root, platform)
        except OSError:
            continue
        if versions:
            return Mirror(root, versions[-1])
    return None


class Terraform:
    """``terraform`` in a working directory, isolated from the user's configuration."""

    def __init__(self, executable: str, workdir: Path, env: dict[str, str], server: RunningServer):
        self.executable = executable
        self.workdir = workdir
        self.env = env
        self.server = server

    def run(self, *args: str, timeout: float, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        command = [self.executable, *args]
        result = subprocess.run(
            command, cwd=self.workdir, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode not in ok:
            log = self.server.log()
            pytest.fail(
                f"$ terraform {' '.join(args)}\nexit {result.returncode}\n"
                f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}\n"
                f"--- server log (tail)\n{log[-4000:]}",
                pytrace=False,
            )
        return result

    def json(self, *args: str, timeout: float = 120) -> Any:
        return json.loads(self.run(*args, timeout=timeout).stdout)


@pytest.fixture
def terraform(request: pytest.FixtureRequest, tmp_path: Path) -> Terraform:
    """Terraform in a scratch copy of the configuration, set up for a fresh server (started
    only once Terraform and the provider are known to be there)."""
    executable = shutil.which("terraform")
    if executable is None:
        optional("terraform", request, "not in the package registries; see tests/e2e/terraform/README.md")
    home = tmp_path / "tf-home"
    home.mkdir()
    cli_config = _cli_configuration(executable, request, tmp_path)
    workdir = tmp_path / "configuration"
    workdir.mkdir()
    for source in CONFIGURATION.glob("*.tf"):
        shutil.copy(source, workdir / source.name)
    server: RunningServer = request.getfixturevalue("server")
    (workdir / "strongroom.auto.tfvars.json").write_text(
        json.dumps(
            {
                "endpoint": server.url,
                "access_key": ADMIN_ACCESS_KEY_ID,
                "secret_key": ADMIN_SECRET_ACCESS_KEY,
                "replication_region": REPLICATION_REGION,
            }
        )
    )

    # Nothing of the caller's AWS or Terraform setup leaks in (profiles, endpoints, plugin caches).
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
    env.update(
        HOME=str(home),
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_DATA_DIR=str(tmp_path / "tf-data"),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    if os.environ.get("TF_LOG"):
        env.update(TF_LOG=os.environ["TF_LOG"], TF_LOG_PATH=str(tmp_path / "terraform.log"))
    return Terraform(executable, workdir, env, server)


def _cli_configuration(executable: str, request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The user's ``TF_CLI_CONFIG_FILE`` when it exists, else one installing hashicorp/aws from
    the local mirror found (and nothing from the network)."""
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if configured and Path(configured).is_file():
        return Path(configured)
    version = json.loads(
        subprocess.run(
            [executable, "version", "-json"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    )
    platform = version["platform"]
    mirror = find_mirror(platform)
    if mirror is None:
        optional(
            f"terraform's {AWS_PROVIDER} mirror",
            request,
            f"no filesystem mirror for {platform}: set TF_CLI_CONFIG_FILE, or {MIRROR_VARIABLE} to the "
            f"directory holding registry.terraform.io/ (searched {', '.join(IMPLICIT_MIRRORS)} and /opt/*)",
        )
    cli_config = tmp_path / "terraform.tfrc"
    cli_config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror.root))}\n"
        f'    include = ["{AWS_PROVIDER}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{AWS_PROVIDER}"]\n'
        "  }\n"
        "}\n"
    )
    return cli_config


def supports_exclusion_filters(terraform: Terraform) -> bool:
    """Whether this provider's aws_ecr_repository has ``image_tag_mutability_exclusion_filter``."""
    schema = terraform.json("providers", "schema", "-json")
    resources = schema["provider_schemas"][AWS_PROVIDER]["resource_schemas"]
    return "image_tag_mutability_exclusion_filter" in resources["aws_ecr_repository"]["block"].get(
        "block_types", {}
    )


def statements(policy_text: str) -> list[dict[str, Any]]:
    statement = json.loads(policy_text)["Statement"]
    return statement if isinstance(statement, list) else [statement]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def code_of(call: Any, *args: Any, **kwargs: Any) -> str:
    return error_of(call, *args, **kwargs)[0]


def test_terraform_applies_plans_clean_and_destroys(terraform: Terraform, server: RunningServer) -> None:
    terraform.run("init", "-input=false", "-no-color", timeout=INIT_TIMEOUT)
    exclusion_filters = supports_exclusion_filters(terraform)
    if exclusion_filters:
        shutil.copy(CONFIGURATION / "optional" / "exclusion_filter.tf", terraform.workdir)

    terraform.run("apply", "-auto-approve", "-input=false", "-no-color", timeout=APPLY_TIMEOUT)
    plan = terraform.run(
        "plan", "-detailed-exitcode", "-input=false", "-no-color", timeout=APPLY_TIMEOUT, ok=(0, 2)
    )
    assert plan.returncode == 0, f"a plan right after apply wants changes:\n{plan.stdout[-8000:]}"

    outputs = {name: output["value"] for name, output in terraform.json("output", "-json").items()}
    account = outputs["account_id"]
    assert account == str(server.cli_json("migrate")["account_id"])
    ecr = aws_client(server, "ecr")
    ecr_public = aws_client(server, "ecr-public")
    iam = aws_client(server, "iam")

    # Repositories and their settings.
    (model,) = ecr.describe_repositories(repositoryNames=["ml/fraud-model"])["repositories"]
    assert model["registryId"] == account == outputs["fraud_model_registry_id"]
    assert model["repositoryArn"] == outputs["fraud_model_arn"]
    assert model["repositoryUri"] == outputs["fraud_model_url"]
    assert model["imageTagMutability"] == "IMMUTABLE"
    assert model["imageScanningConfiguration"] == {"scanOnPush": True}
    tags = ecr.list_tags_for_resource(resourceArn=model["repositoryArn"])["tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "risk", "cost-center": "ml-42"}
    (scratch,) = ecr.describe_repositories(repositoryNames=["ml/scratch"])["repositories"]
    assert scratch["imageTagMutability"] == "MUTABLE"
    assert scratch["imageScanningConfiguration"] == {"scanOnPush": False}
    if exclusion_filters:
        (releases,) = ecr.describe_repositories(repositoryNames=["ml/releases"])["repositories"]
        assert releases["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert sorted(f["filter"] for f in releases["imageTagMutabilityExclusionFilters"]) == [
            "dev-*",
            "latest",
        ]

    (statement,) = statements(ecr.get_repository_policy(repositoryName="ml/fraud-model")["policyText"])
    assert as_list(statement["Principal"]["AWS"]) == [outputs["ci_user_arn"]]
    assert "ecr:BatchGetImage" in as_list(statement["Action"])

    lifecycle = ecr.get_lifecycle_policy(repositoryName="ml/fraud-model")
    assert lifecycle["registryId"] == account
    rules = json.loads(lifecycle["lifecyclePolicyText"])["rules"]
    assert [rule["rulePriority"] for rule in rules] == [1, 2]
    assert rules[1]["selection"]["tagPrefixList"] == ["release-"]

    # Registry-wide settings.
    (statement,) = statements(ecr.get_registry_policy()["policyText"])
    assert sorted(as_list(statement["Action"])) == [
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
        "ecr:ReplicateImage",
    ]
    replication = ecr.describe_registry()["replicationConfiguration"]
    assert replication["rules"] == [
        {
            "destinations": [{"region": REPLICATION_REGION, "registryId": account}],
            "repositoryFilters": [{"filter": "ml", "filterType": "PREFIX_MATCH"}],
        }
    ]
    scanning = ecr.get_registry_scanning_configuration()
    assert scanning["registryId"] == account
    assert scanning["scanningConfiguration"]["scanType"] == "BASIC"
    assert scanning["scanningConfiguration"]["rules"] == [
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "ml/*", "filterType": "WILDCARD"}]}
    ]

    # ECR Public.
    (tools,) = ecr_public.describe_repositories(repositoryNames=["public-tools"])["repositories"]
    assert tools["repositoryUri"] == outputs["public_tools_uri"]
    catalog = ecr_public.get_repository_catalog_data(repositoryName="public-tools")["catalogData"]
    assert catalog["description"] == "Tools published by the ML platform team"
    assert catalog["architectures"] == ["x86-64"]
    assert catalog["operatingSystems"] == ["Linux"]
    public_tags = ecr_public.list_tags_for_resource(resourceArn=tools["repositoryArn"])["tags"]
    assert {t["Key"]: t["Value"] for t in public_tags} == {"visibility": "public"}

    # IAM: the user, its key (which works), its policy, the role.
    user = iam.get_user(UserName="terraform-ci")["User"]
    assert (user["Arn"], user["Path"]) == (outputs["ci_user_arn"], "/ci/")
    assert outputs["ci_user_arn"] == f"arn:aws:iam::{account}:user/ci/terraform-ci"
    keys = iam.list_access_keys(UserName="terraform-ci")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(outputs["ci_access_key_id"], "Active")]
    ci_sts = aws_client(server, "sts", outputs["ci_access_key_id"], outputs["ci_secret_access_key"])
    assert ci_sts.get_caller_identity()["Arn"] == user["Arn"]
    assert iam.list_user_policies(UserName="terraform-ci")["PolicyNames"] == ["push-fraud-model"]
    pushed = iam.get_user_policy(UserName="terraform-ci", PolicyName="push-fraud-model")
    assert "ecr:PutImage" in as_list(pushed["PolicyDocument"]["Statement"][0]["Action"])
    role = iam.get_role(RoleName="terraform-deployer")["Role"]
    assert role["Arn"] == outputs["deployer_role_arn"]
    (trust,) = as_list(role["AssumeRolePolicyDocument"]["Statement"])
    assert as_list(trust["Principal"]["AWS"]) == [user["Arn"]]
    role_policy = iam.get_role_policy(RoleName="terraform-deployer", PolicyName="pull")["PolicyDocument"]
    assert as_list(role_policy["Statement"][0]["Resource"]) == [model["repositoryArn"]]
    # Terraform lists these before deleting a user or a role; Strongroom has neither groups
    # nor instance profiles.
    assert iam.list_groups_for_user(UserName="terraform-ci")["Groups"] == []
    assert iam.list_instance_profiles_for_role(RoleName="terraform-deployer")["InstanceProfiles"] == []

    terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", timeout=APPLY_TIMEOUT)

    assert ecr.describe_repositories()["repositories"] == []
    assert code_of(ecr.get_registry_policy) == "RegistryPolicyNotFoundException"
    assert ecr.describe_registry()["replicationConfiguration"]["rules"] == []
    reset = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    assert (reset["scanType"], reset.get("rules", [])) == ("BASIC", [])
    assert ecr_public.describe_repositories()["repositories"] == []
    assert code_of(iam.get_user, UserName="terraform-ci") == "NoSuchEntity"
    assert code_of(iam.get_role, RoleName="terraform-deployer") == "NoSuchEntity"
    with pytest.raises(ClientError):
        ci_sts.get_caller_identity()
    state = terraform.json("show", "-json")
    assert not state.get("values", {}).get("root_module", {}).get("resources"), state
