"""Use cases shared by the OCI and ECR APIs: uploads, blobs, manifests, tags, referrers.

Each use case takes parsed values (``RepositoryRef``, ``Digest``), enforces the
registry's rules, and returns an outcome the API renders in its own protocol.
Write order is always blob bytes first, then one metadata transaction, so a crash
leaves at most unreferenced bytes. Must not import ``api`` or know about HTTP.
"""
