"""The threads of every kernel that splits its work (conv, pooling, batch norm).

The kernels split a call into a few tasks that write disjoint parts of the outputs; numpy
releases the GIL inside its ufuncs, reductions, copies and BLAS products, so the tasks run
side by side, each on a thread started for the call.

Why new threads every call, and none for the calling thread: Linux wakes a sleeping thread
on the CPU of the thread that wakes it, and moves it only some milliseconds later, while a
new thread starts on an idle CPU.  Measured on two cores (two threads, each four 64×147 by
147×6272 float64 products): new threads 12–16 ms, the same work on kept threads woken for it
15–23 ms, the calling thread working beside one new thread 16–29 ms, with both threads on
the same CPU in the slow runs.

The threads are started with :mod:`_thread`, the standard library's documented low-level
API: ``threading.Thread.start()`` waits until its thread runs, so the second of two threads
started about 0.25 ms after the first.  Starting and joining two threads took 0.32 ms a
call with ``_thread`` against 0.51–0.64 ms with ``threading`` (medians of 300 calls of two
empty tasks on the 2-core machine).
"""

from __future__ import annotations

import _thread
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
Item = TypeVar("Item")
State = TypeVar("State")


def cores() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_tasks(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run every task, each on a new thread (the calling thread waits); their
    results in task order.

    Every task has finished when this returns or raises: a failed task's exception is
    raised after the others end (they write into the same outputs)."""
    if len(tasks) <= 1:
        return [task() for task in tasks]
    results: list = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)

    def run(k: int) -> None:
        try:
            results[k] = tasks[k]()
        except BaseException as error:  # noqa: BLE001 - raised below, on the calling thread
            errors[k] = error

    # _thread's threads, each releasing a lock of its own when it ends: threading.Thread's
    # start() waits for its thread to run before it returns (the second thread began ~0.25 ms
    # after the first), and concurrent.futures (with the logging it imports) costs 3-5 ms of
    # a start-up
    ends = []
    try:
        for k in range(len(tasks)):
            end = _thread.allocate_lock()
            end.acquire()
            _thread.start_new_thread(_run_then_release, (run, k, end))
            ends.append(end)
    finally:  # also when a thread could not start: those that did end first
        for end in ends:
            end.acquire()
    for error in errors:
        if error is not None:
            raise error
    return results


def _run_then_release(run: Callable[[int], None], k: int, end) -> None:
    try:
        run(k)
    finally:
        end.release()


def for_each(items: Iterable[Item], work: Callable[[Item, State], None],
             states: Sequence[State]) -> None:
    """``work(item, state)`` for every item, on ``len(states)`` threads, each with its own
    ``state`` (a scratch array, say); with one state, on the calling thread.

    Each thread takes the next item as it finishes one, so a thread that another process
    delays holds up one item, not a fixed share of them."""
    pending, lock, done = iter(items), threading.Lock(), object()

    def worker(state: State) -> Callable[[], None]:
        def run() -> None:
            while True:
                with lock:
                    item = next(pending, done)
                if item is done:
                    return
                work(item, state)
        return run

    run_tasks([worker(state) for state in states])
