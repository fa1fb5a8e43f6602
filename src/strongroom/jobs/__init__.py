"""Background work a server runs besides answering requests.

Each job is a loop that the application starts in every worker process; a job that
must not run once per worker takes a lease first. Jobs call use cases
(:mod:`strongroom.registry`) through :class:`strongroom.services.Services`; they must
not import ``api`` or ``cli``.
"""
