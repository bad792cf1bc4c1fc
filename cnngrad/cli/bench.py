"""The benchmarks' command lines: ``python -m cnngrad.bench``, ``python -m
cnngrad.bench_explain``, ``python -m cnngrad.bench_grading``, ``python -m
cnngrad.generate.bench`` and ``python -m cnngrad.verify.bench``.

The measuring modules compute and return their results (rows, report text) and raise
:class:`~cnngrad.errors.CnnGradError`; each entry here reads its options (argparse: a bad one
is the usage and the ``error:`` line argparse gives, exit code 2), prints what its module
returns and chooses the exit code.  A ``CnnGradError`` is caught once, in :func:`_one_line`,
and is one ``error:`` line on stderr with its exit code (a misspelt ``CNNGRAD_BLAS``: 2; a
command the benchmark times that fails: 1).  Each module's ``if __name__ == "__main__":``
calls :func:`run` with its own name.

An entry imports its measuring module when it runs, not with this module: each benchmark
starts up as it did on its own.
"""

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from cnngrad.errors import CnnGradError

Entry = Callable[[Sequence[str] | None], int]


def _one_line(entry: Entry) -> Entry:
    """``entry`` with a CnnGradError said as one ``error:`` line on stderr and returned as
    its exit code."""

    @functools.wraps(entry)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            return entry(argv)
        except CnnGradError as error:
            from cnngrad.cli.common import report_error

            report_error(error)
            return error.exit_code

    return wrapper


def _first_paragraph(doc: str | None, joined: bool = True) -> str:
    """A module docstring's first paragraph as plain text (its reST ````code```` marks
    dropped: ``--help`` is read in a terminal)."""
    first = (doc or "").split("\n\n")[0].replace("``", "")
    return " ".join(first.split()) if joined else first


# --------------------------------------------------------------------------- cnngrad.bench


def bench_parser() -> argparse.ArgumentParser:
    from cnngrad.bench import ALL_CASES, DTYPES, REFERENCES

    parser = argparse.ArgumentParser(
        prog="python -m cnngrad.bench",
        description="Time cnngrad's convolution and pooling kernels against torch (or, "
                    "without torch, against the plain-loop references on scaled-down sizes).")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 3 repetitions: a smoke test, not a measurement")
    dtypes = (*DTYPES, "both")
    parser.add_argument("--dtype", choices=dtypes, default="both", metavar="DTYPE",
                        help=f"{', '.join(dtypes[:-1])} or both (default)")
    parser.add_argument("--case", action="append", choices=tuple(ALL_CASES), metavar="NAME",
                        help=f"run only this case (repeatable; default: all): "
                             f"{', '.join(ALL_CASES)}")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="timed pairs per case after the warm-up (default 5; 3 with --quick)")
    parser.add_argument("--reference", choices=REFERENCES, default="auto", metavar="REF",
                        help="torch, naive (the plain loops, on scaled-down sizes) or auto: "
                             "torch when installed (default)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the working-memory subprocesses")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-end-to-end", action="store_true",
                        help="skip the command-line cases (the medium problem as JSON against a "
                             "torch script, gradcheck, explain, start-up against python -c "
                             "'import numpy'); --quick and --case skip them too")
    parser.add_argument("--end-to-end", action="store_true",
                        help="run the command-line cases with --case as well (e.g. --case "
                             "conv-tiny --end-to-end: the quickest way to them)")
    return parser


@_one_line
def bench(argv: Sequence[str] | None = None) -> int:
    """``python -m cnngrad.bench``: the kernels against torch; exit code 0, 2 for bad usage
    or a misspelt ``CNNGRAD_BLAS``."""
    from cnngrad import bench as measuring

    parser = bench_parser()
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if repeat < 1:
        parser.error(f"--repeat must be ≥ 1, got {repeat}")
    # the BLAS the header names (CNNGRAD_BLAS): a misspelt or missing one is one line
    blas = measuring.blas_name()
    torch = None if args.reference == "naive" else measuring.import_torch()
    if args.reference == "torch" and torch is None:
        parser.error("--reference torch: torch is not installed (pip install 'cnngrad[bench]')")
    result = measuring.run_bench(
        torch, args.case or list(measuring.ALL_CASES),
        measuring.DTYPES if args.dtype == "both" else (args.dtype,), repeat, blas=blas,
        quick=args.quick, memory=not args.no_memory,
        end_to_end_cases=not (args.quick or args.no_end_to_end
                              or (args.case and not args.end_to_end)))
    print(result.json_text() if args.json else result.text())
    return 0


# --------------------------------------------------------------------------- bench_explain


@_one_line
def bench_explain(argv: Sequence[str] | None = None) -> int:
    """``python -m cnngrad.bench_explain``: explain's time on a cell of a large problem."""
    from cnngrad import bench_explain as measuring

    parser = argparse.ArgumentParser(prog="python -m cnngrad.bench_explain",
                                     description=_first_paragraph(measuring.__doc__))
    parser.add_argument("--repeat", type=int, default=7, metavar="N",
                        help="timed calls per figure (7)")
    parser.add_argument("--quick", action="store_true", help="a 32×32 input with 8 filters")
    args = parser.parse_args(argv)
    print(measuring.report(measuring.measure(args.repeat, args.quick)), end="")
    return 0


# --------------------------------------------------------------------------- bench_grading


@_one_line
def bench_grading(argv: Sequence[str] | None = None) -> int:
    """``python -m cnngrad.bench_grading``: how long check takes over a class; exit code 1
    when a timed check fails."""
    from cnngrad import bench_grading as measuring

    parser = argparse.ArgumentParser(prog="python -m cnngrad.bench_grading",
                                     description=_first_paragraph(measuring.__doc__, False))
    parser.add_argument("--students", type=int, default=200, metavar="N",
                        help="answers files (200)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="timed runs (3)")
    args = parser.parse_args(argv)
    print(measuring.report(measuring.measure(args.students, args.repeat)), end="")
    return 0


# --------------------------------------------------------------------------- generate.bench


@_one_line
def generate_bench(argv: Sequence[str] | None = None) -> int:
    """``python -m cnngrad.generate.bench``: every recipe and style over many seeds, and
    the time of an exam; exit code 1 when a seed fails."""
    from cnngrad.cli.generate import write_class
    from cnngrad.generate import bench as measuring

    parser = argparse.ArgumentParser(prog="python -m cnngrad.generate.bench",
                                     description=_first_paragraph(measuring.__doc__))
    parser.add_argument("--seeds", type=int, default=200, metavar="N",
                        help="seeds per recipe and style")
    parser.add_argument("--students", type=int, default=200, metavar="N",
                        help="students in the exam")
    parser.add_argument("--exam-only", action="store_true", help="only time the exam")
    args = parser.parse_args(argv)
    failures = 0
    if not args.exam_only:
        print(measuring.RECIPES_HEADER)
        for text, failed in measuring.recipes_report(args.seeds):
            print(text)
            failures += failed
    for recipe in measuring.EXAM_RECIPES:
        print(measuring.exam_report(args.students, write_class, recipe))
    return 1 if failures else 0


# --------------------------------------------------------------------------- verify.bench


@_one_line
def verify_bench(argv: Sequence[str] | None = None) -> int:
    """``python -m cnngrad.verify.bench``: verify's battery per op; exit code 1 when the
    slowest misses its target."""
    from cnngrad.verify import bench as measuring

    parser = argparse.ArgumentParser(prog="python -m cnngrad.verify.bench",
                                     description=_first_paragraph(measuring.__doc__, False))
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs per op (median)")
    args = parser.parse_args(argv)
    print(measuring.HEADER)
    worst = 0.0
    for row in measuring.batteries(args.repeat):
        print(row.line())
        worst = max(worst, row.seconds)
    print(measuring.summary(worst))
    return 0 if worst < measuring.TARGET_SECONDS else 1


# --------------------------------------------------------------------------- python -m


#: Each benchmark module's entry, by the name ``python -m`` runs it as.
ENTRIES: dict[str, Entry] = {
    "cnngrad.bench": bench,
    "cnngrad.bench_explain": bench_explain,
    "cnngrad.bench_grading": bench_grading,
    "cnngrad.generate.bench": generate_bench,
    "cnngrad.verify.bench": verify_bench,
}


def run(module: str) -> NoReturn:
    """``python -m <module>``: its entry on the command line's arguments, its exit code the
    process's."""
    sys.exit(ENTRIES[module]())
