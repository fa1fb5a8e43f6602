"""The scan engine's use cases: read an image's blobs, run the analysers, match advisories.

Concern: everything around the pure analysers in ``strongroom.analysis`` that touches
the world — reading blobs through a reader callable (an OCI layout on disk, or the
registry's blob store), caching per-layer inventories by layer digest plus analyser
version, keeping OSV advisories in a store, running analysis of untrusted bytes
with limits, and re-evaluating scanned images from their stored inventories when the
advisories change (continuous scanning, without reading a blob).

Invariants: analysis of bytes happens only in ``strongroom.analysis``; this package
decides what to read and where results go. It knows nothing of HTTP.
"""
