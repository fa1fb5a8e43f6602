"""The image hierarchy's use cases: the ``lineage.detect`` job that records what each
pushed image is built on and announces ``lineage.base-updated`` when a base tag moves
(:mod:`.detection`); reading ancestry, dependents and the patch report (:mod:`.views`);
marking roles and patch policies (:mod:`.settings`).

The rules are :mod:`strongroom.lineage`'s (pure); this package reads and writes rows and
authorizes. A caller sees the lineage of exactly the repositories where policy allows it
``ecr:DescribeImages``.

Must not import the HTTP layer, the CLI or the composition root.
"""
