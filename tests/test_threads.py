"""The kernels' one thread helper: results in task order, every task finished before an
error is raised, every item taken once."""

import threading
import time

import pytest

from cnngrad.layers import _threads


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_run_tasks_returns_results_in_task_order(count):
    # the later tasks finish first
    tasks = [lambda k=k: (time.sleep(0.002 * (count - k)), k)[1] for k in range(count)]
    assert _threads.run_tasks(tasks) == list(range(count))


def test_run_tasks_runs_tasks_side_by_side():
    # two tasks that each wait for the other can only finish on two threads
    both = threading.Barrier(2, timeout=5)
    assert _threads.run_tasks([both.wait, both.wait]) in ([0, 1], [1, 0])


@pytest.mark.parametrize("error", [FloatingPointError, KeyboardInterrupt])
def test_a_failed_task_is_raised_after_the_others_end(error):
    finished = []

    def slow():
        time.sleep(0.05)
        finished.append("slow")

    def fails():
        raise error("task 1")

    with pytest.raises(error, match="task 1"):
        _threads.run_tasks([fails, slow, slow])
    assert finished == ["slow", "slow"]


def test_a_thread_that_cannot_start_waits_for_those_that_did(monkeypatch):
    finished, started = [], []
    real_start = _threads._thread.start_new_thread

    def start_two(function, args):
        if len(started) == 2:
            raise RuntimeError("can't start new thread")
        started.append(args)
        return real_start(function, args)

    def slow():
        time.sleep(0.05)
        finished.append("slow")

    monkeypatch.setattr(_threads._thread, "start_new_thread", start_two)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        _threads.run_tasks([slow, slow, slow])
    assert finished == ["slow", "slow"]  # the two that started ran to their end


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_for_each_takes_every_item_once_with_one_state_per_thread(workers):
    seen, lock = [], threading.Lock()
    states = [[] for _ in range(workers)]

    def work(item, state):
        state.append(item)
        with lock:
            seen.append((item, threading.get_ident()))

    items = [None, 0, (), *range(1, 40)]  # falsy items are items too
    _threads.for_each(items, work, states)
    assert sorted(map(repr, (item for item, _ in seen))) == sorted(map(repr, items))
    assert sorted(map(repr, sum(states, []))) == sorted(map(repr, items))
    # a state is one thread's own
    for state in states:
        owners = {ident for item, ident in seen if any(item is s for s in state)}
        assert len(owners) <= 1


def test_cores_is_positive():
    assert _threads.cores() >= 1
