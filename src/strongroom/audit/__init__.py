"""The append-only, tamper-evident audit log (DESIGN §3: every mutation and every denial).

Concern: what an audit event says (:class:`~strongroom.audit.log.AuditEvent`), how events
are chained (``chain.py``), and the service that records, queries, exports and verifies
them (:class:`~strongroom.audit.log.AuditLog`). The SQL adapter is
``strongroom.metadata.audit.SqlAuditStore``, chosen at wiring time.

Modules::

    chain.py   canonical JSON, hash links, ChainVerifier / verify_chain (pure)
    log.py     AuditEvent, AuditEntry, the AuditStore port, the AuditLog service

Invariants:

- An event's record is its canonical JSON (sorted keys, no whitespace, ASCII only), and
  ``hash = sha256(prev_hash + "\\n" + record)``; the first event's ``prev_hash`` is 64
  zeros. Appending reads the last hash and inserts in one serialised transaction, so the
  chain never forks and ``seq`` runs 1, 2, 3… without gaps: a gap means a deleted row.
- Events are only appended; nothing here updates or deletes one.
- A record never holds credentials: detail keys that name secrets, passwords, tokens or
  authorization headers are refused when the event is built.
- The chain proves that no event was altered, removed or reordered after the fact, not
  that the newest events are still there: comparing the head with one kept elsewhere
  (``verify(expect_head=…)``) detects a truncated tail.

Must not import ``api``, ``registry``, ``storage``, ``auth`` or ``metadata`` (the store is
a port declared in ``log.py``); ``chain.py`` imports only the standard library, so the
metadata adapter can share it.
"""
