"""A registry reference, parsed once: ``host[:port]/name[:tag][@digest]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class BadReference(ValueError):
    """Not a reference this client can use."""


@dataclass(frozen=True, slots=True)
class Reference:
    registry: str
    """``host[:port]``, as OCI clients and login files name a registry."""
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        registry, slash, rest = text.partition("/")
        if not slash or not rest or not ("." in registry or ":" in registry or registry == "localhost"):
            raise BadReference(f"{text!r}: expected host[:port]/repository[:tag][@digest]")
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.match(digest):
                raise BadReference(f"{text!r}: bad digest {digest!r}")
        tag = None
        name, colon, maybe_tag = rest.rpartition(":")
        if colon and "/" not in maybe_tag:
            rest, tag = name, maybe_tag
            if not _TAG.match(tag):
                raise BadReference(f"{text!r}: bad tag {tag!r}")
        if not _NAME.match(rest):
            raise BadReference(f"{text!r}: bad repository name {rest!r}")
        return cls(registry, rest, tag, digest)

    @property
    def target(self) -> str:
        """What names the manifest: the digest when given, else the tag (default ``latest``)."""
        return self.digest or self.tag or "latest"

    def base_url(self, plain_http: bool | None = None) -> str:
        """``http://`` for loopback hosts (or when asked), ``https://`` otherwise."""
        if plain_http is None:
            plain_http = self.registry.rsplit(":", 1)[0] in _LOCAL_HOSTS or self.registry.startswith("[::1]")
        return ("http://" if plain_http else "https://") + self.registry

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
