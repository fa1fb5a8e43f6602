"""Image lineage rules, pure: given an image's layers, annotations and rows already read,
they answer which image it is built on, and whether a patch policy holds (DESIGN §8).

- :mod:`.chains`: the rolling hash of a layer list's prefixes, which parent detection
  looks up in one indexed query.
- :mod:`.parents`: the base an image's annotations name, and which of the images whose
  layers it starts with is its parent.
- :mod:`.durations`: ``30d``, ``12h``, ``7d`` and back.
- :mod:`.compliance`: roles, patch policies, and the rules that say why an image is out of
  compliance (each violation names its rule and explains itself).

Invariants: no I/O, no clock (rules take ``now``). Must not import storage, metadata,
the use cases, HTTP, the CLI or the composition root (an import-linter contract says so).
"""
