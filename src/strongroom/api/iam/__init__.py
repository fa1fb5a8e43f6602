"""The AWS IAM and STS query APIs at ``POST /`` (DESIGN §10 "POST / dispatch").

A form-encoded body names the ``Action``; the SigV4 credential scope's service (``iam``
or ``sts``) chooses which API answers; responses are XML in that service's namespace.

* :mod:`.protocol`: the wire: form parsing (size-capped), SigV4 authentication of an
  access key, XML results and errors, the one table from domain errors to IAM codes.
* :mod:`.call`: what an operation declares (its IAM action and resource ARN, which the
  authorizer decides on before the handler runs) and what its handler gets.
* :mod:`.operations`: one handler per action, by responsibility (users and keys, managed
  policies, roles and STS).
* :mod:`.endpoint`: parse → authenticate → authorize → handler → render.

Handlers call the identity use cases (:mod:`strongroom.auth.management`, and for the
policy simulator :mod:`strongroom.auth.simulation` and the policy engine) only; this
package must not import SQL, metadata or storage.
"""
