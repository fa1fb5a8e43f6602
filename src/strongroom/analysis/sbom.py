"""CycloneDX JSON for an image's inventory, with package URLs and each component's layer
and path (as Trivy and Inspector record them)."""

from __future__ import annotations

import uuid

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from strongroom.analysis.inventory import Inventory, Located
from strongroom.analysis.packages.model import Kind, OsRelease, Package


def purl(package: Package, release: OsRelease | None) -> PackageURL:
    """The package URL, following OSV's purl conventions per ecosystem."""
    qualifiers = {"arch": package.arch} if package.arch else {}
    if package.kind in (Kind.DEB, Kind.APK, Kind.RPM):
        vendor = release.id if release else package.kind.value
        if release and release.version_id:
            qualifiers["distro"] = (
                f"{release.id}-{release.version_id}" if package.kind is Kind.DEB else release.version_id
            )
        return PackageURL(package.kind.value, vendor, package.name, package.version, qualifiers or None)
    if package.kind is Kind.NPM and package.name.startswith("@") and "/" in package.name:
        scope, name = package.name.split("/", 1)
        return PackageURL("npm", scope, name, package.version)
    if package.kind is Kind.MAVEN and ":" in package.name:
        group, artifact = package.name.split(":", 1)
        return PackageURL("maven", group, artifact, package.version)
    if package.kind is Kind.GOLANG and "/" in package.name:
        namespace, name = package.name.rsplit("/", 1)
        return PackageURL("golang", namespace, name, "v" + package.version)
    return PackageURL(package.kind.value, None, package.name, package.version)


_SERIALS = uuid.UUID("6f1d3c1e-52a4-4d0e-9a57-5b0d9e3c8a21")
"""The namespace of reproducible serial numbers (uuid5); any fixed UUID would do."""


def cyclonedx_json(inventory: Inventory, image: str, *, reproducible: bool = False) -> str:
    """The inventory as CycloneDX 1.6 JSON. ``reproducible``: the same image and packages
    give the same bytes (no timestamp; the serial number derived from what the document
    lists), so an SBOM stored as a referrer keeps its digest while nothing changes."""
    bom = Bom()
    bom.metadata.component = Component(name=image, type=ComponentType.CONTAINER, bom_ref=image)
    seen: set[str] = set()
    for located in inventory.packages:
        component = _component(located, inventory.os_release)
        if component.bom_ref.value not in seen:
            seen.add(str(component.bom_ref.value))
            bom.components.add(component)
            bom.register_dependency(bom.metadata.component, [component])
    if reproducible:
        # Optional in CycloneDX; the library types it as always set but leaves out None.
        bom.metadata.timestamp = None  # type: ignore[assignment]
        bom.serial_number = uuid.uuid5(_SERIALS, "\n".join([image, *sorted(seen)]))
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def _component(located: Located, release: OsRelease | None) -> Component:
    package = located.package
    url = purl(package, release)
    return Component(
        name=package.name,
        version=package.version,
        type=ComponentType.LIBRARY,
        purl=url,
        bom_ref=f"{url.to_string()}|{located.layer}|{package.path}",
        properties=[
            Property(name="strongroom:layer:digest", value=located.layer),
            Property(name="strongroom:evidence:path", value=package.path),
            *(
                [Property(name="strongroom:source:name", value=package.source_name)]
                if package.source_name
                else []
            ),
        ],
    )
