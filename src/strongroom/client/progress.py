"""Transfer progress: a small interface, a silent twin, and rich bars for a terminal."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol


class Progress(Protocol):
    def start(self, name: str, total: int) -> None: ...
    def advance(self, name: str, amount: int) -> None: ...
    def finish(self, name: str) -> None: ...


class NullProgress:
    """Says nothing (not a terminal, ``--quiet``, the SDK by default)."""

    def start(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, amount: int) -> None:
        pass

    def finish(self, name: str) -> None:
        pass


class RichProgress:
    """One bar per file being transferred, on standard error; use as a context manager."""

    def __init__(self) -> None:
        from rich import progress
        from rich.console import Console

        self._bars = progress.Progress(
            progress.TextColumn("{task.description}"),
            progress.BarColumn(),
            progress.DownloadColumn(),
            progress.TransferSpeedColumn(),
            progress.TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bars.stop()

    def start(self, name: str, total: int) -> None:
        self._tasks[name] = self._bars.add_task(name, total=total)

    def advance(self, name: str, amount: int) -> None:
        if name in self._tasks:
            self._bars.advance(self._tasks[name], amount)

    def finish(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            self._bars.update(task, completed=self._bars.tasks[task].total)
