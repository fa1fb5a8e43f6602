"""Every OCI route, with the action it performs and the resource it acts on.

The table is the contract: a test checks that each route declares an action.
"""

from __future__ import annotations

from strongroom.api.oci import blobs, discovery, manifests, uploads
from strongroom.api.oci.routing import OciRoute, Resource
from strongroom.auth.actions import Action

REPO = Resource.REPOSITORY
_NAME = "/v2/{name:path}"
_UPLOAD = _NAME + "/blobs/uploads/{upload_id}"

ROUTES: tuple[OciRoute, ...] = (
    OciRoute("/v2/", "GET", None, Resource.NONE, discovery.base),
    OciRoute("/v2/_catalog", "GET", Action.DESCRIBE_REPOSITORIES, Resource.REGISTRY, discovery.catalog),
    OciRoute(_NAME + "/tags/list", "GET", Action.LIST_IMAGES, REPO, discovery.list_tags),
    OciRoute(_NAME + "/referrers/{digest}", "GET", Action.BATCH_GET_IMAGE, REPO, discovery.referrers),
    OciRoute(_NAME + "/manifests/{reference}", "GET", Action.BATCH_GET_IMAGE, REPO, manifests.get_manifest),
    OciRoute(_NAME + "/manifests/{reference}", "HEAD", Action.BATCH_GET_IMAGE, REPO, manifests.get_manifest),
    OciRoute(
        _NAME + "/manifests/{reference}", "PUT", Action.PUT_IMAGE, REPO, manifests.put_manifest, creates=True
    ),
    OciRoute(
        _NAME + "/manifests/{reference}", "DELETE", Action.BATCH_DELETE_IMAGE, REPO, manifests.delete_manifest
    ),
    OciRoute(
        _NAME + "/blobs/uploads/",
        "POST",
        Action.INITIATE_LAYER_UPLOAD,
        REPO,
        uploads.start_upload,
        creates=True,
    ),
    OciRoute(_UPLOAD, "PATCH", Action.UPLOAD_LAYER_PART, REPO, uploads.patch_upload),
    OciRoute(_UPLOAD, "PUT", Action.COMPLETE_LAYER_UPLOAD, REPO, uploads.finish_upload),
    OciRoute(_UPLOAD, "GET", Action.UPLOAD_LAYER_PART, REPO, uploads.upload_status),
    OciRoute(_UPLOAD, "DELETE", Action.UPLOAD_LAYER_PART, REPO, uploads.cancel_upload),
    OciRoute(_NAME + "/blobs/{digest}", "GET", Action.GET_DOWNLOAD_URL_FOR_LAYER, REPO, blobs.get_blob),
    OciRoute(_NAME + "/blobs/{digest}", "HEAD", Action.BATCH_CHECK_LAYER_AVAILABILITY, REPO, blobs.get_blob),
    OciRoute(_NAME + "/blobs/{digest}", "DELETE", Action.BATCH_DELETE_IMAGE, REPO, blobs.delete_blob),
)
