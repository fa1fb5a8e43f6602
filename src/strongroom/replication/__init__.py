"""Replication (ECR ``PutReplicationConfiguration``, DESIGN §8, ADR 0020): images of a
repository that a rule matches are copied to each of the rule's destinations.

- :mod:`.rules` (pure) decides which destinations a push goes to;
- :mod:`.on_push` turns a push into one ``replication.image`` job per destination, in
  the push's transaction (the outbox), and runs those jobs;
- :mod:`.copy` copies an image over a destination's OCI API with the client transport
  (:mod:`strongroom.client`), streaming blobs and skipping what the destination has;
- :mod:`.destinations` registers where destinations live, secrets encrypted at rest.

Invariants: a job is idempotent (a copy run again sends only what is missing); the
image's status at each destination is IN_PROGRESS from the push's transaction until the
job ends COMPLETE or, after its last attempt, FAILED. Must not import HTTP (``api``), the
CLI or the composition root.
"""
