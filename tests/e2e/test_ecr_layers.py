"""ECR layer operations against a real server with boto3: BatchCheckLayerAvailability,
InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload and GetDownloadUrlForLayer,
with ECR's documented errors; a whole image pushed through the ECR API and pulled with
skopeo; download URLs fetched without credentials."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.exceptions import ClientError

from strongroom.auth.tokens import TokenIssuer, load_private_key
from support.aws import aws_client, error_of
from support.images import OciLayout, build_image, sha256_digest
from support.server import RunningServer

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MISSING = "sha256:" + "0" * 64


def upload_layer(ecr: Any, name: str, data: bytes, part_size: int) -> str:
    """Upload ``data`` in parts of ``part_size`` bytes; returns the layer digest."""
    upload_id = ecr.initiate_layer_upload(repositoryName=name)["uploadId"]
    for first in range(0, len(data), part_size):
        part = data[first : first + part_size]
        sent = ecr.upload_layer_part(
            repositoryName=name,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=first + len(part) - 1,
            layerPartBlob=part,
        )
        assert sent["lastByteReceived"] == first + len(part) - 1
    digest = sha256_digest(data)
    done = ecr.complete_layer_upload(repositoryName=name, uploadId=upload_id, layerDigests=[digest])
    assert done["layerDigest"] == digest and done["uploadId"] == upload_id
    return digest


def part(ecr: Any, name: str, upload_id: str, first: int, data: bytes, last: int | None = None) -> Any:
    return ecr.upload_layer_part(
        repositoryName=name,
        uploadId=upload_id,
        partFirstByte=first,
        partLastByte=first + len(data) - 1 if last is None else last,
        layerPartBlob=data,
    )


def test_image_pushed_through_the_ecr_api_pulls_byte_identical_with_skopeo(
    ecr: Any, shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    name = "layers/pushed"
    ecr.create_repository(repositoryName=name)
    # Random file content barely compresses: the layer is about 13 MiB, three parts.
    image = build_image(random.Random(20), layers=1, files_per_layer=2, file_size=13 * MiB // 2)
    started = ecr.initiate_layer_upload(repositoryName=name)
    assert UUID.match(started["uploadId"]) and started["partSize"] == 10 * MiB
    for blob in (image.config, *image.layers):
        assert upload_layer(ecr, name, blob.data, 5 * MiB + 17) == blob.digest
    ecr.put_image(repositoryName=name, imageManifest=image.manifest.data.decode(), imageTag="v1")

    pulled = tmp_path / "pulled"
    skopeo.run(
        "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
        "--src-creds", f"{shared_server.user}:{shared_server.password}",
        f"docker://{shared_server.registry}/{name}:v1", f"oci:{pulled}:v1",
    )  # fmt: skip
    layout = OciLayout(pulled)
    assert layout.descriptor("v1")["digest"] == image.manifest.digest
    for blob in image.blobs():
        assert layout.read_blob(blob.digest) == blob.data, f"{blob.digest} differs"


def test_batch_check_layer_availability(ecr: Any, shared_server: RunningServer) -> None:
    name = "layers/check"
    ecr.create_repository(repositoryName=name)
    image = build_image(random.Random(21), layers=1)
    for blob in (image.config, *image.layers):
        upload_layer(ecr, name, blob.data, 5 * MiB)
    loose = upload_layer(ecr, name, b"a layer no manifest names", 5 * MiB)
    ecr.put_image(repositoryName=name, imageManifest=image.manifest.data.decode(), imageTag="v1")

    layer = image.layers[0]
    checked = ecr.batch_check_layer_availability(
        repositoryName=name, layerDigests=[layer.digest, loose, MISSING, "not-a-digest"]
    )
    assert [
        (x["layerDigest"], x["layerAvailability"], x["layerSize"], x["mediaType"]) for x in checked["layers"]
    ] == [
        (layer.digest, "AVAILABLE", layer.size, layer.media_type),
        (loose, "AVAILABLE", 25, DOCKER_LAYER_GZIP),
    ]
    assert [(f["layerDigest"], f["failureCode"]) for f in checked["failures"]] == [
        ("not-a-digest", "InvalidLayerDigest"),
        (MISSING, "MissingLayerDigest"),
    ]
    assert error_of(ecr.batch_check_layer_availability, repositoryName="layers/none", layerDigests=[loose])[
        0
    ] == ("RepositoryNotFoundException")


def test_upload_layer_part_must_continue_the_upload(ecr: Any, account: str) -> None:
    name = "layers/parts"
    ecr.create_repository(repositoryName=name)
    ecr.create_repository(repositoryName="layers/other")
    upload_id = ecr.initiate_layer_upload(repositoryName=name)["uploadId"]
    sent = part(ecr, name, upload_id, 0, b"0123456789")
    assert sent == {
        "registryId": account,
        "repositoryName": name,
        "uploadId": upload_id,
        "lastByteReceived": 9,
        "ResponseMetadata": sent["ResponseMetadata"],
    }
    for first, data, last in ((5, b"abc", None), (11, b"abc", None), (10, b"abc", 20), (10, b"abc", 9)):
        with pytest.raises(ClientError) as caught:
            part(ecr, name, upload_id, first, data, last)
        error = caught.value.response
        assert error["Error"]["Code"] == "InvalidLayerPartException"
        assert (error["registryId"], error["repositoryName"], error["uploadId"]) == (account, name, upload_id)
        assert error["lastValidByteReceived"] == 9
    assert part(ecr, name, upload_id, 10, b"abc")["lastByteReceived"] == 12

    unknown = "12345678-1234-1234-1234-123456789abc"
    assert error_of(part, ecr, name, unknown, 0, b"x")[0] == "UploadNotFoundException"
    assert error_of(part, ecr, "layers/other", upload_id, 13, b"x")[0] == "UploadNotFoundException"
    assert error_of(part, ecr, name, "not-a-uuid", 0, b"x")[0] == "InvalidParameterException"
    assert (
        error_of(ecr.initiate_layer_upload, repositoryName="layers/none")[0] == "RepositoryNotFoundException"
    )
    assert error_of(part, ecr, "layers/none", upload_id, 13, b"x")[0] == "RepositoryNotFoundException"


def test_complete_layer_upload_errors(ecr: Any) -> None:
    name = "layers/complete"
    ecr.create_repository(repositoryName=name)
    data = b"layer bytes"

    def complete(upload_id: str, digest: str) -> Any:
        return ecr.complete_layer_upload(repositoryName=name, uploadId=upload_id, layerDigests=[digest])

    empty = ecr.initiate_layer_upload(repositoryName=name)["uploadId"]
    assert error_of(complete, empty, sha256_digest(b""))[0] == "EmptyUploadException"
    wrong = ecr.initiate_layer_upload(repositoryName=name)["uploadId"]
    part(ecr, name, wrong, 0, data)
    assert error_of(complete, wrong, sha256_digest(b"other bytes"))[0] == "InvalidLayerException"
    assert complete(wrong, sha256_digest(data))["layerDigest"] == sha256_digest(data)

    again = ecr.initiate_layer_upload(repositoryName=name)["uploadId"]
    part(ecr, name, again, 0, data)
    assert error_of(complete, again, sha256_digest(data))[0] == "LayerAlreadyExistsException"
    # The refused upload is gone.
    assert error_of(part, ecr, name, again, len(data), b"x")[0] == "UploadNotFoundException"
    assert error_of(complete, "12345678-1234-1234-1234-123456789abc", sha256_digest(data))[0] == (
        "UploadNotFoundException"
    )
    elsewhere = error_of(
        ecr.complete_layer_upload,
        repositoryName="layers/none",
        uploadId=empty,
        layerDigests=[sha256_digest(data)],
    )
    assert elsewhere[0] == "RepositoryNotFoundException"


def test_download_url_serves_the_layer_without_credentials(ecr: Any, shared_server: RunningServer) -> None:
    name = "layers/download"
    ecr.create_repository(repositoryName=name)
    ecr.create_repository(repositoryName="layers/elsewhere")
    data = random.Random(22).randbytes(3 * MiB + 5)
    digest = upload_layer(ecr, name, data, 5 * MiB)

    found = ecr.get_download_url_for_layer(repositoryName=name, layerDigest=digest)
    assert found["layerDigest"] == digest
    url = found["downloadUrl"]
    assert url.startswith(f"{shared_server.url}/blobs/download/")
    fetched = httpx.get(url, timeout=60)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-length"] == str(len(data))

    token = url.rsplit("/", 1)[1]
    tampered = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    refused = httpx.get(url.replace(token, tampered))
    assert refused.status_code == 403 and refused.text.strip()
    assert httpx.get(f"{shared_server.url}/blobs/download/not-a-token").status_code == 403
    assert httpx.get(url.replace(token, expired_token(shared_server, name, digest))).status_code == 403

    assert error_of(ecr.get_download_url_for_layer, repositoryName=name, layerDigest=MISSING)[0] == (
        "LayersNotFoundException"
    )
    assert error_of(ecr.get_download_url_for_layer, repositoryName="layers/elsewhere", layerDigest=digest)[
        0
    ] == ("LayerInaccessibleException")
    assert error_of(ecr.get_download_url_for_layer, repositoryName="layers/none", layerDigest=digest)[0] == (
        "RepositoryNotFoundException"
    )


def expired_token(server: RunningServer, name: str, digest: str) -> str:
    """A download token the server's own key signed eleven minutes ago."""
    key = load_private_key((server.data_dir / "token-signing.key").read_text())
    issuer = TokenIssuer(key, server.registry, timedelta(minutes=5))
    account = str(aws_client(server, "ecr").describe_registry()["registryId"])
    token, expires = issuer.issue_download(account, name, digest, datetime.now(UTC) - timedelta(minutes=11))
    assert expires < datetime.now(UTC)
    return token


def test_a_fresh_download_token_made_the_same_way_is_accepted(ecr: Any, shared_server: RunningServer) -> None:
    """The expired token above is refused for its age, not for how it was made."""
    name = "layers/fresh"
    ecr.create_repository(repositoryName=name)
    digest = upload_layer(ecr, name, b"fresh layer", 5 * MiB)
    key = load_private_key((shared_server.data_dir / "token-signing.key").read_text())
    account = str(ecr.describe_registry()["registryId"])
    token, _ = TokenIssuer(key, shared_server.registry, timedelta(minutes=5)).issue_download(
        account, name, digest, datetime.now(UTC)
    )
    assert httpx.get(f"{shared_server.url}/blobs/download/{token}").content == b"fresh layer"
