"""Pure OCI vocabulary: digests, names and references, media types, manifests.

Invariants: no I/O, no clock, no settings. Everything here is a value or a pure
function over bytes and strings. Must not import from any other strongroom package
except ``strongroom.errors``.
"""
