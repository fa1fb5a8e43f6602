"""Background work on the durable job queue (DESIGN §5).

A :class:`~strongroom.jobs.runner.JobRunner` claims jobs of the kinds it has handlers
for, runs each under a lease it renews, and records the outcome; a job whose runner
dies is claimed again once its lease lapses, so every handler must be idempotent (a
re-run is harmless). Periodic work is scheduled onto the queue once per deployment per
interval (:mod:`.schedule`). Handlers are registered by kind in the composition root
(``services.py``). Must not import ``api``, ``cli``, ``app`` or ``services``.
"""
