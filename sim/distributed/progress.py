"""A rich progress bar on stderr over units of work (sweep cells, shards of a run), or nothing."""

from __future__ import annotations

__all__ = ["ProgressBar"]


class ProgressBar:
    """Units done / total, elapsed time and ETA on stderr; a no-op when not `enabled`.

    Parameters
    ----------
    enabled : bool
        Draw the bar (callers pass ``not as_json and stderr is a terminal``).
    total : int
        Units of work.
    label : str
        The bar's description.
    done : int
        Units already done (a resumed sweep).
    unit : str
        What a unit is called ("cells", "shards").
    transient : bool
        Remove the bar when finished.

    Use it as a context manager; `advance` after each unit.
    """

    def __init__(self, enabled: bool, total: int, label: str, *, done: int = 0,
                 unit: str = "shards", transient: bool = False):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=transient,
        )
        self.task = self.bar.add_task(label, total=total, completed=done)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
