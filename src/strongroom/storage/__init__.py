"""Blob storage: content-addressed, immutable bytes, and the data of uploads in progress.

Invariants: a blob is visible under its digest only after its bytes were fully
written and verified (atomic commit); blobs are never modified; identical content is
stored once (dedup across repositories and accounts). Knows nothing of repositories,
manifests or SQL; must not import ``metadata``, ``registry`` or ``api``.
"""
