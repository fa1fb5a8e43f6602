"""Media types and well-known values, each with the spec that defines it."""

from __future__ import annotations

# OCI image-spec v1.1 (media-types.md)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
# IANA's registration for CycloneDX JSON; the artifactType oras, cosign and Harbor recognise.
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
# Dropped before image-spec 1.1 final; registries may reject it (distribution-spec §6.2).
OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"

# Docker image manifest v2 schema 2 (distribution docs, manifest-v2-2.md)
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# Docker schema 1: deprecated, refused by containerd 2; rejected here.
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

# Layers that by design are not pushed to the registry (image-spec layer.md,
# "non-distributable"; Docker "foreign" layers carry `urls`).
NONDISTRIBUTABLE_LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
ACCEPTED_MANIFESTS = IMAGE_MANIFESTS | INDEXES

# distribution-spec §6.4: registries SHOULD accept manifests of at least 4 MB.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# The content `{}` of the empty descriptor (image-spec manifest.md, "Guidance for an Empty Descriptor").
EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# image-spec annotations.md: when the artifact was made (RFC 3339).
ANNOTATION_CREATED = "org.opencontainers.image.created"
# image-spec annotations.md: a layer's file name (oras pulls a layer into a file of this name).
ANNOTATION_TITLE = "org.opencontainers.image.title"
