"""The actions a Strongroom policy can name: the vocabulary policy checks compare against.

Sources:

[ecr]   ../shared/reference/ecr-api.md §2 (the 62 ECR operations) and §6.2: "Every API
        operation has an IAM action of the same name with prefix ``ecr:``"; the
        permission-only actions ``ecr:ReplicateImage`` and ``ecr:BatchImportUpstreamImage``.
[pub]   ecr-api.md §3 (the 23 ECR Public operations, prefix ``ecr-public:``) and the
        ``sts:GetServiceBearerToken`` its sign-in needs.
[iam]   IAM and STS API references: the user, access key, policy and role operations
        Strongroom implements or plans (DESIGN.md).
[scope] ecr-api.md §6.1: registry-wide actions are granted on ``Resource: "*"``, never on a
        repository ARN.

The ECR and ECR Public tables are complete, so a name missing from them is a mistake.
The IAM and STS tables hold only what Strongroom implements or will: a name missing
from them may be a real AWS action that simply has no effect here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# [ecr] all 62 operations, grouped as in §2, then the permission-only actions of §6.2.
ECR_ACTIONS = frozenset(
    f"ecr:{name}"
    for name in (
        # repositories
        "CreateRepository",
        "DescribeRepositories",
        "DeleteRepository",
        # images
        "PutImage",
        "BatchGetImage",
        "DescribeImages",
        "ListImages",
        "BatchDeleteImage",
        "ListImageReferrers",
        "UpdateImageStorageClass",
        # layer upload / download
        "BatchCheckLayerAvailability",
        "InitiateLayerUpload",
        "UploadLayerPart",
        "CompleteLayerUpload",
        "GetDownloadUrlForLayer",
        # auth
        "GetAuthorizationToken",
        # repository policy
        "SetRepositoryPolicy",
        "GetRepositoryPolicy",
        "DeleteRepositoryPolicy",
        # registry policy and registry
        "PutRegistryPolicy",
        "GetRegistryPolicy",
        "DeleteRegistryPolicy",
        "DescribeRegistry",
        # tag immutability
        "PutImageTagMutability",
        # scanning
        "PutImageScanningConfiguration",
        "PutRegistryScanningConfiguration",
        "GetRegistryScanningConfiguration",
        "BatchGetRepositoryScanningConfiguration",
        "StartImageScan",
        "DescribeImageScanFindings",
        # lifecycle policies
        "PutLifecyclePolicy",
        "GetLifecyclePolicy",
        "DeleteLifecyclePolicy",
        "StartLifecyclePolicyPreview",
        "GetLifecyclePolicyPreview",
        # replication
        "PutReplicationConfiguration",
        "DescribeImageReplicationStatus",
        "StartReplicationBackfill",
        "StopReplicationBackfill",
        "ListReplicationBackfills",
        "DescribeReplicationBackfillResults",
        # pull-through cache
        "CreatePullThroughCacheRule",
        "DescribePullThroughCacheRules",
        "UpdatePullThroughCacheRule",
        "DeletePullThroughCacheRule",
        "ValidatePullThroughCacheRule",
        # repository creation templates
        "CreateRepositoryCreationTemplate",
        "DescribeRepositoryCreationTemplates",
        "UpdateRepositoryCreationTemplate",
        "DeleteRepositoryCreationTemplate",
        # managed signing
        "PutSigningConfiguration",
        "GetSigningConfiguration",
        "DeleteSigningConfiguration",
        "DescribeImageSigningStatus",
        # resource tags
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
        # account settings and pull-time exclusions
        "PutAccountSetting",
        "GetAccountSetting",
        "RegisterPullTimeUpdateExclusion",
        "DeregisterPullTimeUpdateExclusion",
        "ListPullTimeUpdateExclusions",
        # permission-only (§6.2)
        "ReplicateImage",
        "BatchImportUpstreamImage",
    )
)

# [pub] all 23 ECR Public operations.
ECR_PUBLIC_ACTIONS = frozenset(
    f"ecr-public:{name}"
    for name in (
        "CreateRepository",
        "DescribeRepositories",
        "DeleteRepository",
        "PutImage",
        "DescribeImages",
        "DescribeImageTags",
        "BatchDeleteImage",
        "BatchCheckLayerAvailability",
        "InitiateLayerUpload",
        "UploadLayerPart",
        "CompleteLayerUpload",
        "GetAuthorizationToken",
        "SetRepositoryPolicy",
        "GetRepositoryPolicy",
        "DeleteRepositoryPolicy",
        "DescribeRegistries",
        "GetRegistryCatalogData",
        "PutRegistryCatalogData",
        "GetRepositoryCatalogData",
        "PutRepositoryCatalogData",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    )
)

# [iam] what Strongroom's IAM implements or plans; not the whole IAM service.
IAM_ACTIONS = frozenset(
    f"iam:{name}"
    for name in (
        "CreateUser",
        "GetUser",
        "ListUsers",
        "DeleteUser",
        "CreateAccessKey",
        "ListAccessKeys",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "PutUserPolicy",
        "GetUserPolicy",
        "DeleteUserPolicy",
        "ListUserPolicies",
        "CreatePolicy",
        "GetPolicy",
        "DeletePolicy",
        "ListPolicies",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "ListAttachedUserPolicies",
        "CreateRole",
        "GetRole",
        "DeleteRole",
        "PutRolePolicy",
        "GetRolePolicy",
        "DeleteRolePolicy",
        "SimulatePrincipalPolicy",
        "SimulateCustomPolicy",
    )
)

# [iam] [pub] STS: role sessions, "who am I", and ECR Public sign-in.
STS_ACTIONS = frozenset(
    f"sts:{name}" for name in ("AssumeRole", "GetCallerIdentity", "GetServiceBearerToken")
)

# Strongroom's own API (/admin/v1, DESIGN §5): what neither OCI nor ECR covers.
STRONGROOM_ACTIONS = frozenset(
    f"strongroom:{name}"
    for name in (
        "ListJobs",
        "DescribeJob",
        "RetryJob",
        "CancelJob",
        "ListEvents",
        "CreateWebhook",
        "ListWebhooks",
        "DescribeWebhook",
        "UpdateWebhook",
        "DeleteWebhook",
        "TestWebhook",
        "ListWebhookDeliveries",
        # the pull gate (ADR 0014): on a repository's ARN (a prefix's: ``repository/<prefix>*``)
        "PutPullPolicy",
        "DeletePullPolicy",
        "DescribePullPolicy",
        "AcceptFindingRisk",
        "RevokeFindingRisk",
        "ListAcceptedRisks",
        # replication destinations (ADR 0020): the deployment's, on ``replication-destination/*``
        "CreateReplicationDestination",
        "ListReplicationDestinations",
        "DeleteReplicationDestination",
        # lineage (ADR 0021): roles and patch policies on a repository's ARN (a prefix's:
        # ``repository/<prefix>*``); the report on ``lineage/*``, each repository's images
        # needing ecr:DescribeImages too
        "PutRepositoryRole",
        "PutLineagePolicy",
        "DescribeLineagePolicy",
        "DeleteLineagePolicy",
        "GetLineageReport",
    )
)

# Service prefix → its actions; the COMPLETE_SERVICES list every action AWS defines.
ACTIONS_BY_SERVICE: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "ecr": ECR_ACTIONS,
        "ecr-public": ECR_PUBLIC_ACTIONS,
        "iam": IAM_ACTIONS,
        "sts": STS_ACTIONS,
        "strongroom": STRONGROOM_ACTIONS,
    }
)
COMPLETE_SERVICES = frozenset({"ecr", "ecr-public", "strongroom"})
KNOWN_ACTIONS = ECR_ACTIONS | ECR_PUBLIC_ACTIONS | IAM_ACTIONS | STS_ACTIONS | STRONGROOM_ACTIONS

# Actions that change a registry: its images, repositories, policies, configuration or
# tags. Everything else in the ECR tables only reads. Granting any of these to everyone
# lets any caller of any account alter what others pull.
ECR_WRITE_ACTIONS = frozenset(
    f"ecr:{name}"
    for name in (
        "CreateRepository",
        "DeleteRepository",
        "PutImage",
        "BatchDeleteImage",
        "UpdateImageStorageClass",
        "InitiateLayerUpload",
        "UploadLayerPart",
        "CompleteLayerUpload",
        "SetRepositoryPolicy",
        "DeleteRepositoryPolicy",
        "PutRegistryPolicy",
        "DeleteRegistryPolicy",
        "PutImageTagMutability",
        "PutImageScanningConfiguration",
        "PutRegistryScanningConfiguration",
        "StartImageScan",
        "PutLifecyclePolicy",
        "DeleteLifecyclePolicy",
        "StartLifecyclePolicyPreview",
        "PutReplicationConfiguration",
        "StartReplicationBackfill",
        "StopReplicationBackfill",
        "CreatePullThroughCacheRule",
        "UpdatePullThroughCacheRule",
        "DeletePullThroughCacheRule",
        "CreateRepositoryCreationTemplate",
        "UpdateRepositoryCreationTemplate",
        "DeleteRepositoryCreationTemplate",
        "PutSigningConfiguration",
        "DeleteSigningConfiguration",
        "TagResource",
        "UntagResource",
        "PutAccountSetting",
        "RegisterPullTimeUpdateExclusion",
        "DeregisterPullTimeUpdateExclusion",
        "ReplicateImage",
        "BatchImportUpstreamImage",
    )
)
ECR_PUBLIC_WRITE_ACTIONS = frozenset(
    f"ecr-public:{name}"
    for name in (
        "CreateRepository",
        "DeleteRepository",
        "PutImage",
        "BatchDeleteImage",
        "InitiateLayerUpload",
        "UploadLayerPart",
        "CompleteLayerUpload",
        "SetRepositoryPolicy",
        "DeleteRepositoryPolicy",
        "PutRegistryCatalogData",
        "PutRepositoryCatalogData",
        "TagResource",
        "UntagResource",
    )
)
# Waiving the pull gate for everyone is as bad as letting everyone push.
STRONGROOM_WRITE_ACTIONS = frozenset(
    f"strongroom:{name}"
    for name in ("PutPullPolicy", "DeletePullPolicy", "AcceptFindingRisk", "RevokeFindingRisk")
)
WRITE_ACTIONS = ECR_WRITE_ACTIONS | ECR_PUBLIC_WRITE_ACTIONS | STRONGROOM_WRITE_ACTIONS

# [scope] ECR actions checked against ``Resource: "*"``: a statement that names only
# repository ARNs never grants them.
REGISTRY_WIDE_ACTIONS = frozenset(
    f"ecr:{name}"
    for name in (
        "GetAuthorizationToken",
        "PutRegistryPolicy",
        "GetRegistryPolicy",
        "DeleteRegistryPolicy",
        "DescribeRegistry",
        "PutRegistryScanningConfiguration",
        "GetRegistryScanningConfiguration",
        "PutReplicationConfiguration",
        "CreatePullThroughCacheRule",
        "DescribePullThroughCacheRules",
        "UpdatePullThroughCacheRule",
        "DeletePullThroughCacheRule",
        "ValidatePullThroughCacheRule",
        "CreateRepositoryCreationTemplate",
        "DescribeRepositoryCreationTemplates",
        "UpdateRepositoryCreationTemplate",
        "DeleteRepositoryCreationTemplate",
        "PutAccountSetting",
        "GetAccountSetting",
        "PutSigningConfiguration",
        "GetSigningConfiguration",
        "DeleteSigningConfiguration",
    )
)
