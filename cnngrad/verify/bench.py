"""Time ``cnngrad verify``'s whole battery per op: ``python -m cnngrad.verify.bench``.

The user function is vectorized — cnngrad's own library kernel behind the op's plain
signature, and the shipped samples for conv2d_backward (one right, one wrong: a failing
battery also pays for the diagnosis) — so the time is cnngrad's share: building the cases,
its answers, the comparison, the diagnosis and the report.  The target: under 2 s per op.
The command line, its options and output, is :mod:`cnngrad.cli.bench`'s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TARGET_SECONDS = 2.0


def _vectorized(name: str):
    """A right, vectorized implementation of ``name`` with its plain signature."""
    from cnngrad.verify.ops import OPS, Options

    op = OPS[name]

    def fn(*args):
        # the op's reference, fed the call's own arguments: cnngrad's library kernels
        from cnngrad.verify.ops import Case

        arrays = {k: v for k, v in zip(op.inputs, args) if hasattr(v, "shape")}
        params = {k: v for k, v in zip(op.inputs, args) if not hasattr(v, "shape")}
        outputs = op.reference(Case("", params, arrays), Options())
        values = tuple(outputs[k] for k in op.outputs)
        return values[0] if op.single else values

    return fn


def _samples() -> Path:
    from cnngrad.bundled import samples_dir

    return samples_dir() / "verify"


#: The head of the table.
HEADER = f"{'op':<31}{'user function':<21}{'cases':>5}{'seconds':>9}  verdict"


@dataclass
class Timed:
    """One battery's row: the op, the user function, its cases, the median seconds and
    whether every case passed."""

    op: str
    function: str
    cases: int
    seconds: float
    ok: bool

    def line(self) -> str:
        verdict = "pass" if self.ok else "fail"
        return f"{self.op:<31}{self.function:<21}{self.cases:>5}{self.seconds:>9.3f}  {verdict}"


def batteries(repeat: int = 3) -> Iterator[Timed]:
    """Every op's battery against its library kernel, then conv2d_backward's against the two
    samples, each run ``repeat`` times (the median), a row at a time as each is done."""
    from cnngrad.verify import load_function, run_battery
    from cnngrad.verify.ops import OPS

    rows = [(name, _vectorized(name), "library kernel") for name in OPS]
    for sample in ("conv_right", "conv_no_rotation"):
        fn, _ = load_function(f"{_samples() / sample}.py:conv2d_backward")
        rows.append(("conv2d_backward", fn, f"{sample}.py"))
    for name, fn, words in rows:
        times, report = [], None
        for _ in range(repeat):
            start = time.perf_counter()
            report = run_battery(fn, name)
            times.append(time.perf_counter() - start)
        yield Timed(name, words, len(report.results), statistics.median(times), report.ok)


def summary(worst: float) -> str:
    """The lines under the table: the failing sample said to fail by design, the slowest
    battery against :data:`TARGET_SECONDS`."""
    return ("(conv_no_rotation.py fails by design: its time includes the diagnosis)\n"
            f"slowest battery {worst:.3f} s (target < {TARGET_SECONDS:g} s per op)")


if __name__ == "__main__":
    __import__("cnngrad.cli.bench", fromlist=["run"]).run("cnngrad.verify.bench")
