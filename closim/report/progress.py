"""Progress bars for long runs (sweeps, claims): rich, on stderr, with an ETA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def progress_bar(label: str, *, enabled: bool = True) -> Iterator[Callable[[int, int, int], None]]:
    """A callback ``(done, total, failed)`` that draws a progress bar with an ETA on stderr while
    the context is open; a no-op when disabled."""
    if not enabled:
        yield lambda done, total, failed: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = progress.add_task(label, total=None, failed=0)

    def update(done: int, total: int, failed: int) -> None:
        progress.update(task, completed=done, total=total, failed=failed)

    with progress:
        yield update
