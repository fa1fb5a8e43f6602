"""Actions, named as ECR names them (reference/ecr-api.md), so one policy language
governs both the OCI and the ECR API."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # pull
    BATCH_GET_IMAGE = "ecr:BatchGetImage"
    GET_DOWNLOAD_URL_FOR_LAYER = "ecr:GetDownloadUrlForLayer"
    BATCH_CHECK_LAYER_AVAILABILITY = "ecr:BatchCheckLayerAvailability"
    LIST_IMAGES = "ecr:ListImages"
    DESCRIBE_REPOSITORIES = "ecr:DescribeRepositories"
    # push
    INITIATE_LAYER_UPLOAD = "ecr:InitiateLayerUpload"
    UPLOAD_LAYER_PART = "ecr:UploadLayerPart"
    COMPLETE_LAYER_UPLOAD = "ecr:CompleteLayerUpload"
    PUT_IMAGE = "ecr:PutImage"
    # delete
    BATCH_DELETE_IMAGE = "ecr:BatchDeleteImage"
    # a push to a repository that does not exist
    CREATE_REPOSITORY = "ecr:CreateRepository"
    # signing in
    GET_AUTHORIZATION_TOKEN = "ecr:GetAuthorizationToken"  # noqa: S105 (an action name)


PULL_ACTIONS = frozenset(
    {
        Action.BATCH_GET_IMAGE,
        Action.GET_DOWNLOAD_URL_FOR_LAYER,
        Action.BATCH_CHECK_LAYER_AVAILABILITY,
        Action.LIST_IMAGES,
    }
)
"""What a public repository lets anyone do."""
