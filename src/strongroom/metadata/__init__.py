"""Metadata: repositories, manifests, tags, blob links, uploads, accounts, users.

The SQL store is the source of truth (SQLite in WAL mode by default, PostgreSQL for
scale-out), reached through SQLAlchemy 2 Core and migrated by Alembic. Invariants:
a manifest row is only written when every blob and child manifest it references is
linked in its repository, in the same transaction; tags point only at manifests of
their repository (foreign key, cascade on delete). Must not import ``storage``,
``registry`` or ``api``.
"""
