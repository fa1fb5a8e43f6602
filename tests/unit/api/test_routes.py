"""Every route declares what it does, so the one authorizer can decide."""

from __future__ import annotations

from strongroom.api.oci.routes import ROUTES
from strongroom.api.oci.routing import Resource
from strongroom.auth.actions import Action


def test_every_route_declares_an_action_and_resource() -> None:
    for route in ROUTES:
        if route.resource is Resource.NONE:
            assert route.path == "/v2/", "only the base endpoint may go without an action"
        else:
            assert route.action in set(Action), route


def test_routes_are_unique() -> None:
    keys = [(route.path, route.method) for route in ROUTES]
    assert len(keys) == len(set(keys))


def test_reads_and_writes_map_to_the_ecr_actions() -> None:
    actions = {(route.method, route.path): route.action for route in ROUTES}
    assert actions[("PUT", "/v2/{name:path}/manifests/{reference}")] == Action.PUT_IMAGE
    assert actions[("GET", "/v2/{name:path}/manifests/{reference}")] == Action.BATCH_GET_IMAGE
    assert actions[("GET", "/v2/{name:path}/blobs/{digest}")] == Action.GET_DOWNLOAD_URL_FOR_LAYER
    assert actions[("POST", "/v2/{name:path}/blobs/uploads/")] == Action.INITIATE_LAYER_UPLOAD
