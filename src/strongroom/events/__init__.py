"""Events: what happened in the registry, named once (:mod:`.catalogue`), written in
the transaction of the change (the outbox, :mod:`.outbox`), and delivered by jobs.

Imports the metadata layer's outbox records only; never ``api``, ``cli`` or ``services``.
"""
