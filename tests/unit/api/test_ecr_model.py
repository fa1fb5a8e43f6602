from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from strongroom.api.ecr.model import InvalidParameter, ServiceApi, epoch, service_apis
from strongroom.errors import InvalidRequest

ECR = "AmazonEC2ContainerRegistry_V20150921"
ECR_PUBLIC = "SpencerFrontendService"
REPOSITORY_NAME_PATTERN = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
UPLOAD_ID = "0c5e3e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"


def ecr() -> ServiceApi:
    return service_apis()[ECR]


def ecr_public() -> ServiceApi:
    return service_apis()[ECR_PUBLIC]


def rejection(api: ServiceApi, operation: str, params: object) -> str:
    with pytest.raises(InvalidParameter) as caught:
        api.validate(operation, params)
    return caught.value.message


def constraint(path: str, text: str) -> str:
    return f"Invalid parameter at '{path}' failed to satisfy constraint: '{text}'"


def upload_part(**changes: Any) -> dict[str, Any]:
    params = {
        "repositoryName": "ml/model-a",
        "uploadId": UPLOAD_ID,
        "partFirstByte": 0,
        "partLastByte": 4,
        "layerPartBlob": base64.b64encode(b"hello").decode(),
    }
    return params | changes


def test_services_are_keyed_by_target_prefix() -> None:
    apis = service_apis()
    assert set(apis) == {ECR, ECR_PUBLIC}
    assert (ecr().name, ecr().target_prefix, ecr().signing_name) == ("ecr", ECR, "ecr")
    assert (ecr_public().name, ecr_public().signing_name) == ("ecr-public", "ecr-public")
    assert len(ecr().operation_names) == 62
    assert len(ecr_public().operation_names) == 23
    assert {"CreateRepository", "PutImage", "UploadLayerPart"} <= ecr().operation_names
    assert "GetRegistryCatalogData" in ecr_public().operation_names


def test_every_operation_validates_an_empty_body() -> None:
    for api in service_apis().values():
        for operation in sorted(api.operation_names):
            try:
                outcome: object = api.validate(operation, {})
            except InvalidParameter as error:
                outcome = error.message
            assert outcome == {} or str(outcome).endswith("constraint: 'Member must not be null'")


def test_a_valid_request_comes_back_cleaned() -> None:
    params = {
        "repositoryName": "ml/model-a",
        "imageTagMutability": "IMMUTABLE",
        "tags": [{"Key": "team", "Value": "vision", "Extra": 1}],
        "encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": None},
        "somethingNew": {"ignored": True},
        "registryId": None,
    }
    assert ecr().validate("CreateRepository", params) == {
        "repositoryName": "ml/model-a",
        "imageTagMutability": "IMMUTABLE",
        "tags": [{"Key": "team", "Value": "vision"}],
        "encryptionConfiguration": {"encryptionType": "AES256"},
    }


def test_the_body_must_be_an_object() -> None:
    bodies: list[object] = [[], "x", None, 3]
    for body in bodies:
        with pytest.raises(InvalidParameter, match=r"^Request body must be a JSON object$"):
            ecr().validate("DescribeRepositories", body)
    assert issubclass(InvalidParameter, InvalidRequest)


def test_unknown_operations_are_the_callers_business() -> None:
    with pytest.raises(ValueError, match="Bogus"):
        ecr().validate("Bogus", {})


def test_required_members_must_not_be_null() -> None:
    null = "Member must not be null"
    assert rejection(ecr(), "CreateRepository", {}) == constraint("repositoryName", null)
    nulled = rejection(ecr(), "CreateRepository", {"repositoryName": None})
    assert nulled == constraint("repositoryName", null)
    tags = {"repositoryName": "ab", "tags": [{"Key": "k"}]}
    assert rejection(ecr(), "CreateRepository", tags) == constraint("tags[0].Value", null)
    # null elements of a list are not absent members: they are nulls
    ids = {"repositoryName": "ab", "imageIds": [{"imageTag": "v1"}, None]}
    assert rejection(ecr(), "BatchGetImage", ids) == constraint("imageIds[1]", null)


def test_string_lengths() -> None:
    short = rejection(ecr(), "CreateRepository", {"repositoryName": "A"})
    assert short == constraint("repositoryName", "Member must have length greater than or equal to 2")
    long = rejection(ecr(), "CreateRepository", {"repositoryName": "a" * 300})
    assert long == constraint("repositoryName", "Member must have length less than or equal to 256")
    assert ecr().validate("CreateRepository", {"repositoryName": "a" * 256})["repositoryName"] == "a" * 256
    manifest = rejection(ecr(), "PutImage", {"repositoryName": "ab", "imageManifest": ""})
    assert manifest == constraint("imageManifest", "Member must have length greater than or equal to 1")


def test_lengths_count_characters() -> None:
    params = {"repositoryName": "ab", "imageManifest": "é" * 3, "imageTag": "é" * 300}
    assert ecr().validate("PutImage", params)["imageTag"] == "é" * 300
    too_long = rejection(ecr(), "PutImage", params | {"imageTag": "é" * 301})
    assert too_long == constraint("imageTag", "Member must have length less than or equal to 300")


def test_tag_keys_are_not_capped_by_the_model() -> None:
    # The 128-character cap on tag keys is a service rule (InvalidTagParameterException),
    # not a model constraint, so it is not this module's to enforce.
    params = {"repositoryName": "ab", "tags": [{"Key": "k", "Value": "v"}, {"Key": "k" * 129, "Value": ""}]}
    assert ecr().validate("CreateRepository", params)["tags"][1]["Key"] == "k" * 129
    missing = rejection(ecr(), "CreateRepository", {"repositoryName": "ab", "tags": [{"Value": "v"}]})
    assert missing == constraint("tags[0].Key", "Member must not be null")


def test_patterns_match_the_whole_value() -> None:
    expected = constraint("repositoryName", f"must satisfy regular expression '{REPOSITORY_NAME_PATTERN}'")
    for name in ("Upper", "ab!", "-ab", "ab/", "a//b", "ab\n"):
        assert rejection(ecr(), "CreateRepository", {"repositoryName": name}) == expected
    for name in ("ab", "ml/model-a", "a__b", "a--b/c.d"):
        assert ecr().validate("CreateRepository", {"repositoryName": name})["repositoryName"] == name
    registry = rejection(ecr(), "DescribeRepositories", {"registryId": "1234567890123"})
    assert registry == constraint("registryId", "must satisfy regular expression '[0-9]{12}'")


def test_patterns_use_ascii_classes() -> None:
    # \w is ASCII-only in Java, which the model's patterns are written for
    role = "arn:aws:iam::123456789012:role/{}"
    assert ecr().validate("RegisterPullTimeUpdateExclusion", {"principalArn": role.format("ci_bot-1")})
    message = rejection(ecr(), "RegisterPullTimeUpdateExclusion", {"principalArn": role.format("é")})
    assert message.startswith(
        "Invalid parameter at 'principalArn' failed to satisfy constraint: 'must satisfy"
    )


def test_top_level_alternatives_must_match_the_whole_value() -> None:
    # the pattern is '^$|arn:aws...': the second alternative is unanchored in the model
    kms = "arn:aws:kms:us-east-1:123456789012:key/abc-123"

    def template(key: str) -> dict[str, Any]:
        encryption = {"encryptionType": "KMS", "kmsKey": key}
        return {"prefix": "ROOT", "appliedFor": [], "encryptionConfiguration": encryption}

    for key in ("", kms):
        assert ecr().validate("CreateRepositoryCreationTemplate", template(key)) == template(key)
    params = template(kms + " and more")
    message = rejection(ecr(), "CreateRepositoryCreationTemplate", params)
    assert message.startswith("Invalid parameter at 'encryptionConfiguration.kmsKey'")


def test_enums() -> None:
    message = rejection(ecr(), "CreateRepository", {"repositoryName": "ab", "imageTagMutability": "BOGUS"})
    enum = "[MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]"
    assert message == constraint("imageTagMutability", f"Member must satisfy enum value set: {enum}")


def test_number_ranges() -> None:
    for value, text in (
        (0, "Member must have value greater than or equal to 1"),
        (1001, "Member must have value less than or equal to 1000"),
    ):
        message = rejection(ecr(), "DescribeRepositories", {"maxResults": value})
        assert message == constraint("maxResults", text)
    assert ecr().validate("DescribeRepositories", {"maxResults": 1000}) == {"maxResults": 1000}
    negative = rejection(ecr(), "UploadLayerPart", upload_part(partFirstByte=-1))
    assert negative == constraint("partFirstByte", "Member must have value greater than or equal to 0")
    huge = rejection(ecr(), "UploadLayerPart", upload_part(partLastByte=2**63))
    assert huge == constraint("partLastByte", f"Member must have value less than or equal to {2**63 - 1}")


def test_integers_are_whole_json_numbers() -> None:
    not_whole = constraint("maxResults", "Member must be a whole number")
    for value in (1.5, True, "10", float("inf"), float("nan")):
        assert rejection(ecr(), "DescribeRepositories", {"maxResults": value}) == not_whole
    cleaned = ecr().validate("DescribeRepositories", {"maxResults": 10.0})
    assert cleaned == {"maxResults": 10}
    assert type(cleaned["maxResults"]) is int


def test_booleans_are_json_booleans() -> None:
    for value in ("true", 1, 0):
        message = rejection(ecr(), "DeleteRepository", {"repositoryName": "ab", "force": value})
        assert message == constraint("force", "Member must be a boolean")
    assert ecr().validate("DeleteRepository", {"repositoryName": "ab", "force": False})["force"] is False


def test_containers_and_strings_have_types() -> None:
    as_object = rejection(ecr(), "BatchGetImage", {"repositoryName": "ab", "imageIds": {"imageTag": "v1"}})
    assert as_object == constraint("imageIds", "Member must be a list")
    element = rejection(ecr(), "BatchGetImage", {"repositoryName": "ab", "imageIds": ["v1"]})
    assert element == constraint("imageIds[0]", "Member must be a structure")
    number = rejection(ecr(), "CreateRepository", {"repositoryName": 12})
    assert number == constraint("repositoryName", "Member must be a string")


def test_nested_list_members_have_paths() -> None:
    ids = [{"imageTag": "v1"}, {"imageDigest": "sha256:" + "a" * 64, "imageTag": "t" * 301}]
    message = rejection(ecr(), "BatchDeleteImage", {"repositoryName": "ab", "imageIds": ids})
    assert message == constraint("imageIds[1].imageTag", "Member must have length less than or equal to 300")
    empty = rejection(ecr(), "BatchDeleteImage", {"repositoryName": "ab", "imageIds": []})
    assert empty == constraint("imageIds", "Member must have length greater than or equal to 1")
    many = rejection(ecr(), "BatchDeleteImage", {"repositoryName": "ab", "imageIds": [{}] * 101})
    assert many == constraint("imageIds", "Member must have length less than or equal to 100")


def test_the_first_error_in_model_order_is_reported() -> None:
    # registryId comes before repositoryName in the model, whatever the body's order
    params = {"repositoryName": "A", "imageTagMutability": "BOGUS", "registryId": "x"}
    assert rejection(ecr(), "CreateRepository", params).startswith("Invalid parameter at 'registryId'")


def test_blobs_are_decoded() -> None:
    cleaned = ecr().validate("UploadLayerPart", upload_part(extra="ignored"))
    assert cleaned == upload_part() | {"layerPartBlob": b"hello"}
    assert ecr().validate("UploadLayerPart", upload_part(layerPartBlob=""))["layerPartBlob"] == b""
    not_base64 = constraint("layerPartBlob", "Member must be a base64-encoded string")
    for blob in ("aGVsbG8", "aGVs bG8=", "aGVsbG8=!", "é", 5):
        assert rejection(ecr(), "UploadLayerPart", upload_part(layerPartBlob=blob)) == not_base64


def test_blob_lengths_count_decoded_bytes() -> None:
    def repository(logo: bytes) -> dict[str, Any]:
        return {"repositoryName": "ab", "catalogData": {"logoImageBlob": base64.b64encode(logo).decode()}}

    fits = ecr_public().validate("CreateRepository", repository(b"\0" * 512_000))
    assert fits["catalogData"]["logoImageBlob"] == b"\0" * 512_000
    too_big = rejection(ecr_public(), "CreateRepository", repository(b"\0" * 512_001))
    assert too_big == constraint(
        "catalogData.logoImageBlob", "Member must have length less than or equal to 512000"
    )


def test_ecr_public_has_its_own_constraints() -> None:
    assert ecr_public().validate("CreateRepository", {"repositoryName": "a" * 205})
    message = rejection(ecr_public(), "CreateRepository", {"repositoryName": "a" * 206})
    assert message == constraint("repositoryName", "Member must have length less than or equal to 205")
    # ECR Public keeps the older name grammar, without "__"
    assert "must satisfy regular expression" in rejection(
        ecr_public(), "CreateRepository", {"repositoryName": "a__b"}
    )


def test_epoch() -> None:
    moment = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert epoch(moment) == pytest.approx(1_700_000_000.123)
    assert epoch(moment.replace(tzinfo=None)) == epoch(moment)
    assert epoch(moment.astimezone(timezone(timedelta(hours=2)))) == epoch(moment)
