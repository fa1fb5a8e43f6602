"""The Amazon ECR and ECR Public APIs (AWS JSON 1.1 over SigV4) on ``POST /``.

* :mod:`.model`: botocore's service models, the source of truth for every input shape.
* :mod:`.errors`: domain errors → ECR ``__type`` names, in one table.
* :mod:`.protocol`: reading the JSON body, rendering results and errors.
* :mod:`.endpoint`: target → authenticate → validate → authorize → handler → render.
* :mod:`.operations`: one module per capability, each declaring its operations with
  the IAM action and resource the endpoint authorizes before the handler runs.

Handlers call the same use cases as the OCI API (:mod:`strongroom.registry`); they never
touch SQL or blob storage.
"""
