"""Layers: availability, uploads in parts, and download URLs (reference/ecr-api.md §4.3).

The use cases are :class:`strongroom.registry.layers.Layers`, over the same uploads and
blobs as the OCI API. Upload ids are 32 hex digits inside; ECR's model wants a UUID, so
they travel as ``8-4-4-4-12``.
"""

from __future__ import annotations

import uuid

from strongroom.api.download import download_url
from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, table
from strongroom.api.ecr.errors import InvalidLayerPart
from strongroom.errors import UploadRangeInvalid
from strongroom.oci.digest import Digest

PART_SIZE = 10 * 1024 * 1024
"""The part size clients are told to use (ECR's, 10 MiB); they chunk by it."""
AVAILABLE = "AVAILABLE"


def upload_uuid(upload_id: str) -> str:
    return str(uuid.UUID(hex=upload_id))


def upload_id_of(call: EcrCall) -> str:
    """The upload id in ``uploadId`` (the model's pattern guarantees a UUID)."""
    return uuid.UUID(call.params["uploadId"]).hex


async def batch_check_layer_availability(call: EcrCall) -> Result:
    available, failures = await call.services.layers.check(call.repository, call.params["layerDigests"])
    return {
        "layers": [
            {
                "layerDigest": layer.digest,
                "layerAvailability": AVAILABLE,
                "layerSize": layer.size,
                "mediaType": layer.media_type,
            }
            for layer in available
        ],
        "failures": [
            {"layerDigest": f.digest, "failureCode": f.code, "failureReason": f.reason} for f in failures
        ],
    }


async def initiate_layer_upload(call: EcrCall) -> Result:
    upload_id = await call.services.layers.initiate(call.repository)
    return {"uploadId": upload_uuid(upload_id), "partSize": PART_SIZE}


async def upload_layer_part(call: EcrCall) -> Result:
    params = call.params
    upload_id = upload_id_of(call)
    try:
        last = await call.services.layers.upload_part(
            call.repository,
            upload_id,
            params["partFirstByte"],
            params["partLastByte"],
            params["layerPartBlob"],
        )
    except UploadRangeInvalid as error:
        raise InvalidLayerPart(
            f"{error.message}; the upload ends at byte {error.size - 1}",
            registry_id=call.registry_id,
            repository_name=call.repository_name,
            upload_id=upload_uuid(upload_id),
            last_valid_byte=error.size - 1,
        ) from None
    return {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "uploadId": upload_uuid(upload_id),
        "lastByteReceived": last,
    }


async def complete_layer_upload(call: EcrCall) -> Result:
    upload_id = upload_id_of(call)
    digest = Digest.parse(call.params["layerDigests"][0])
    await call.services.layers.complete(call.repository, upload_id, digest)
    return {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "uploadId": upload_uuid(upload_id),
        "layerDigest": str(digest),
    }


async def get_download_url_for_layer(call: EcrCall) -> Result:
    services = call.services
    digest = Digest.parse(call.params["layerDigest"])
    await services.layers.locate(call.repository, digest)
    token, _expires = services.tokens.issue_download(
        call.registry_id, call.repository_name, str(digest), services.clock.now()
    )
    return {
        "downloadUrl": download_url(services.settings.resolved_public_url, token),
        "layerDigest": str(digest),
    }


OPERATIONS = table(
    Operation(ECR, "BatchCheckLayerAvailability", batch_check_layer_availability),
    Operation(ECR, "InitiateLayerUpload", initiate_layer_upload),
    Operation(ECR, "UploadLayerPart", upload_layer_part),
    Operation(ECR, "CompleteLayerUpload", complete_layer_upload, mutates=True),
    Operation(ECR, "GetDownloadUrlForLayer", get_download_url_for_layer),
)
