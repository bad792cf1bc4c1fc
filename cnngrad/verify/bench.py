"""Time ``cnngrad verify``'s whole battery per op: ``python -m cnngrad.verify.bench``.

The user function is vectorized — cnngrad's own library kernel behind the op's plain
signature, and the shipped samples for conv2d_backward (one right, one wrong: a failing
battery also pays for the diagnosis) — so the time is cnngrad's share: building the cases,
its answers, the comparison, the diagnosis and the report.  The target: under 2 s per op.
"""

from __future__ import annotations

import argparse
import statistics
import time
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnngrad.verify.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per op (median)")
    args = parser.parse_args(argv)

    from cnngrad.verify import load_function, run_battery
    from cnngrad.verify.ops import OPS

    rows = [(name, _vectorized(name), "library kernel") for name in OPS]
    for sample in ("conv_right", "conv_no_rotation"):
        fn, _ = load_function(f"{_samples() / sample}.py:conv2d_backward")
        rows.append(("conv2d_backward", fn, f"{sample}.py"))
    print(f"{'op':<31}{'user function':<21}{'cases':>5}{'seconds':>9}  verdict")
    worst = 0.0
    for name, fn, words in rows:
        times, report = [], None
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = run_battery(fn, name)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        worst = max(worst, seconds)
        verdict = "pass" if report.ok else "fail"
        print(f"{name:<31}{words:<21}{len(report.results):>5}{seconds:>9.3f}  {verdict}")
    print("(conv_no_rotation.py fails by design: its time includes the diagnosis)")
    print(f"slowest battery {worst:.3f} s (target < {TARGET_SECONDS:g} s per op)")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
