"""What ``lifecycle run`` and ``gc`` show a person (``--output table``): one row per
judged image with its fate and the rule's reason, then the collection's counts."""

from __future__ import annotations

from datetime import UTC, datetime

from strongroom.cli.lifecycle import gc_table, verdicts_table
from strongroom.lifecycle.evaluation import Verdict
from strongroom.registry.gc import GcReport
from strongroom.registry.lifecycle import LifecycleRun

NOW = datetime(2026, 12, 1, tzinfo=UTC)
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def verdict(digest: str, *tags: str) -> Verdict:
    return Verdict(digest, tags, NOW, "EXPIRE", 1, "rule 1: more than 1 image")


def test_each_judged_image_is_a_row_saying_what_happened() -> None:
    runs = [
        LifecycleRun(
            "111122223333", "ml/a", False, (verdict(A, "old"), verdict(B)), expired=(A,), skipped=(B,)
        ),
        LifecycleRun("111122223333", "ml/b", False, ()),
    ]
    table = verdicts_table(runs)
    assert table.title is None
    assert [list(row[:4]) for row in table.rows] == [
        ["111122223333/ml/a", "expired", A, ["old"]],
        ["111122223333/ml/a", "kept (changed)", B, "<untagged>"],
        ["111122223333/ml/b", "nothing to expire", None, None],
    ]
    dry = verdicts_table([LifecycleRun("111122223333", "ml/a", True, (verdict(B),))])
    assert dry.rows[0][1] == "would expire"
    assert verdicts_table([]).title == "no repository has a lifecycle policy"


def test_gc_counts_say_would_on_a_dry_run() -> None:
    report = GcReport(dry_run=True, grace_seconds=0, links_removed=2, blobs_deleted=1, bytes_freed=512)
    assert gc_table(report).lines() == [
        "GARBAGE COLLECTION                    COUNT",
        "blob links would be removed           2",
        "blobs would be deleted                1",
        "bytes would be freed                  512",
        "blobs kept (in use by a racing push)  0",
    ]
