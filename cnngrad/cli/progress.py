"""A progress bar for a problem that takes a while: on standard error, only on a terminal
that can redraw a line, and only once the work has run for :data:`SHOW_AFTER` seconds.

A quick problem never shows one, nor does a pipe, a file, a dumb terminal (``TERM=dumb``:
Emacs's shell, some CI consoles) or a test; Rich is imported only when the bar shows
(start-up time matters, see docs/performance.md).
"""

import os
import sys
import threading

#: Seconds of work before the bar appears.
SHOW_AFTER = 1.0


def dumb_terminal() -> bool:
    """Whether ``TERM`` names a dumb terminal (``dumb``, ``unknown``: Rich's own test,
    without importing Rich): no colours, no redrawn lines, and a width Rich does not read."""
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


def redraws(stream) -> bool:
    """Whether ``stream`` is a terminal that can redraw a line in place, where a bar does not
    leave blank lines behind: a terminal, not a dumb one."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not dumb_terminal()


class DelayedProgress:
    """Counts the steps of a computation; after ``delay`` seconds (on a terminal) shows them
    as a transient Rich progress bar on ``stream`` (default: standard error).

    Use as a context manager; call the object with a step's description before each step::

        with DelayedProgress() as step:
            step("reading the problem")
            ...
            step.total = 2 * len(layers) + 2  # once known; until then the bar just pulses
            step("forward conv2d_1")
            ...
    """

    def __init__(self, total: int | None = None, *, delay: float | None = None, stream=None,
                 enabled: bool | None = None) -> None:
        self.total = total
        self.delay = SHOW_AFTER if delay is None else delay
        self.stream = sys.stderr if stream is None else stream
        self.enabled = redraws(self.stream) if enabled is None else enabled
        self.done = 0
        self.description = ""
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._progress = None  # the Rich Progress, once shown
        self._task = None
        self._closed = False

    def __enter__(self) -> "DelayedProgress":
        if self.enabled:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __call__(self, description: str) -> None:
        """A new step begins: the one before it is done."""
        with self._lock:
            if self.description:
                self.done += 1
            self.description = description
            if self._progress is not None:
                self._progress.update(self._task, total=self.total, completed=self.done,
                                      description=description)

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def _show(self) -> None:
        # on the timer's thread: the work goes on meanwhile (numpy releases the GIL)
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        with self._lock:
            if self._closed:
                return
            progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(file=self.stream, force_terminal=True),
                                transient=True)
            self._task = progress.add_task(self.description, total=self.total,
                                           completed=self.done)
            progress.start()
            self._progress = progress

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._progress is not None:
                self._progress.stop()  # transient: the bar is erased, the report follows


__all__ = ["DelayedProgress", "SHOW_AFTER", "dumb_terminal", "redraws"]
