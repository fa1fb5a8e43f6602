"""The OCI Distribution API v1.1 at ``/v2/`` (reference/oci-distribution.md).

Every route is declared once in :mod:`.routes` with its action and resource kind;
:mod:`.routing` authenticates and authorizes before any handler runs.
"""
