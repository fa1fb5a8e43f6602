"""``/admin/v1``: the registry's own JSON API for what neither OCI nor ECR covers (jobs,
events and webhooks now; findings, models and lineage later). Callers authenticate as
on the ECR API (SigV4, service ``strongroom``), with a bearer token from ``/token`` or
with Basic credentials; every route declares its ``strongroom:`` action and resource,
and one step authorizes it through the policy engine before the handler runs. Errors
have one shape: ``{"error": {"code": …, "message": …}}``. Must not import ``metadata``
or ``storage``.
"""
