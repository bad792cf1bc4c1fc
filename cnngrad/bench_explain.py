"""How long ``cnngrad explain`` takes on one cell of a large problem:
``python -m cnngrad.bench_explain``.

The problem is the one users wait on: a 1×3×224×224 input (from ``.npy`` files), conv 64
7×7/2 padding 3 with a bias, relu, max pool 3×3/2 padding 1, the delta given.  For a few
paths it times, in one process and on one finished run (medians of ``--repeat``):

- ``explain``: the explanation and its plain text, as ``cnngrad explain -f text`` makes them
  (only the listed terms are built; the counts and sums take a few passes over arrays);
- ``every term``: the same text with every term built first, the way ``explain`` worked
  before it built only the listed ones (and what ``--all-terms`` still costs);

and the run itself (reading the problem, forward and backward), which ``explain`` shares with
``backward``.  Not part of the tests' pass/fail: ``--quick`` (tiny sizes) is the smoke the
tests run.  The command line, its options and output, is :mod:`cnngrad.cli.bench`'s.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: The explain step of a cell of the large problem should stay under this (seconds).
TARGET_SECONDS = 0.3



def paths(size: int) -> list[str]:
    """The cells explained: a kernel entry and a bias (a term per output cell), an input
    delta of the conv and of the pool (a few terms each)."""
    return ["conv2d_1.grads.kernel[0,0,0,0]", "conv2d_1.grads.bias[0]",
            f"conv2d_1.delta_in[0,0,{size // 2},{size // 2}]",
            f"maxpool2d_1.delta_in[0,1,{size // 4},{size // 4}]"]


def write_problem(folder: Path, size: int = 224, filters: int = 64, seed: int = 0) -> Path:
    """The benchmark's problem in ``folder``: its JSON file and four ``.npy`` tensors."""
    rng = np.random.default_rng(seed)
    out = (size + 2 * 3 - 7) // 2 + 1  # conv 7×7/2 p3
    pooled = (out + 2 * 1 - 3) // 2 + 1  # max pool 3×3/2 p1
    np.save(folder / "input.npy", rng.standard_normal((1, 3, size, size)))
    np.save(folder / "kernel.npy", rng.standard_normal((filters, 3, 7, 7)) * 0.1)
    np.save(folder / "bias.npy", rng.standard_normal(filters))
    np.save(folder / "delta.npy", rng.standard_normal((1, filters, pooled, pooled)))
    doc = {"input": {"npy": "input.npy"},
           "layers": [{"type": "conv2d", "kernel": {"npy": "kernel.npy"},
                       "bias": {"npy": "bias.npy"}, "stride": 2, "padding": 3},
                      {"type": "relu"},
                      {"type": "maxpool2d", "size": 3, "stride": 2, "padding": 1}],
           "delta": {"npy": "delta.npy"}}
    path = folder / "problem.json"
    path.write_text(json.dumps(doc))
    return path


def median_time(work: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The median of ``repeat`` timed calls (after one untimed call) and the last result."""
    result = work()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(repeat: int = 7, quick: bool = False) -> list[dict]:
    """Time the run and each path's explanation both ways; check the two texts agree."""
    from cnngrad.network import run
    from cnngrad.problem import load_problem
    from cnngrad.render.explain import explanation_text
    from cnngrad.teach.explain import _Explainer, parse_path

    size, filters = (32, 8) if quick else (224, 64)
    with tempfile.TemporaryDirectory() as folder:
        problem_file = write_problem(Path(folder), size, filters)
        seconds, trace = median_time(lambda: run(load_problem(str(problem_file))), repeat)
    rows = [{"what": "run (read, forward, backward)", "terms": "", "seconds": seconds}]
    for path in paths(size):
        parsed = parse_path(trace, path)

        def text(eager: bool) -> str:
            return explanation_text(_Explainer(trace, False, eager).explain(parsed))

        lazy_seconds, lazy = median_time(lambda: text(False), repeat)
        eager_seconds, eager = median_time(lambda: text(True), repeat)
        if lazy != eager:
            raise AssertionError(f"{path}: the explanation differs when every term is built")
        explanation = _Explainer(trace, False).explain(parsed)
        rows.append({"what": path, "terms": explanation.term_count, "seconds": lazy_seconds,
                     "every_term_seconds": eager_seconds})
    return rows


def report(rows: list[dict]) -> str:
    lines = [f"{'':34} {'terms':>6} {'explain':>9} {'every term':>11} {'ratio':>6}"]
    for row in rows:
        eager = row.get("every_term_seconds")
        lines.append(f"{row['what']:34} {row['terms']!s:>6} {row['seconds'] * 1e3:>7.1f}ms"
                     + (f" {eager * 1e3:>9.1f}ms {row['seconds'] / eager:>6.3f}" if eager
                        else ""))
    worst = max(row["seconds"] for row in rows[1:])
    lines.append(f"slowest explain step: {worst * 1e3:.1f} ms (target < "
                 f"{TARGET_SECONDS * 1e3:.0f} ms, on top of the run)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    __import__("cnngrad.cli.bench", fromlist=["run"]).run("cnngrad.bench_explain")
