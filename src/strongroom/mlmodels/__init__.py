"""The model index: which pushes are models, the job that records what each model is
(read from its config and documents and from its weight headers, by range, within limits),
and the listing of indexed models a caller may see.

Invariants: weights are never loaded nor read whole: only header bytes, within
:mod:`.indexing`'s limits. Parsing is :mod:`strongroom.modelformats`' (pure); this package
reads blobs, stores rows and authorizes. A caller sees the models of exactly the
repositories where policy allows it ``ecr:DescribeImages``.

Must not import the HTTP layer, the CLI or the composition root.
"""
