"""``cnngrad backward``: every layer's gradients, last layer first."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (DebugOpt, DecimalsOpt, DtypeOpt, ExactOpt, FormatOpt, LrOpt,
                                MaxElementsOpt, OutputOpt, ProblemArg, choose, compute, guarded,
                                render_rich, write_output)
from cnngrad.errors import UsageError

EPILOG = """\
[bold]Examples[/]

  cnngrad backward samples/stackexchange.json
  cnngrad backward samples/stackexchange-network.json --format json -o result.json
  cnngrad backward --input o.csv --kernel w.csv --delta d.csv --stride 2
  cat problem.json | cnngrad backward -
"""

OUTPUT_FORMATS = ("table", "json")
QUICK = "Quick mode (no JSON)"


@guarded
def backward(
    problem: ProblemArg = None,
    format: FormatOpt = "table",
    output: OutputOpt = None,
    decimals: DecimalsOpt = 6,
    exact: ExactOpt = False,
    lr: LrOpt = None,
    input: Annotated[Optional[str], typer.Option(
        "--input", help="The input image: a CSV or .npy file, or inline JSON.",
        rich_help_panel=QUICK)] = None,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", help="The kernel (file or inline JSON).", rich_help_panel=QUICK)] = None,
    delta: Annotated[Optional[str], typer.Option(
        "--delta", help="dE/d(conv output), the upstream delta (file or inline JSON).",
        rich_help_panel=QUICK)] = None,
    bias: Annotated[Optional[str], typer.Option(
        "--bias", help="The bias: a number, a vector or a file.", rich_help_panel=QUICK)] = None,
    stride: Annotated[Optional[str], typer.Option(
        "--stride", help="2 or [2, 1].", rich_help_panel=QUICK)] = None,
    padding: Annotated[Optional[str], typer.Option(
        "--padding", help="1, [1, 2], [top, bottom, left, right], valid or same.",
        rich_help_panel=QUICK)] = None,
    dilation: Annotated[Optional[str], typer.Option(
        "--dilation", help="2 or [2, 1].", rich_help_panel=QUICK)] = None,
    flip_kernel: Annotated[bool, typer.Option(
        "--flip-kernel", help="True convolution: the kernel is rotated 180° first.",
        rich_help_panel=QUICK)] = False,
    max_elements: MaxElementsOpt = 10**8,
    dtype: DtypeOpt = "float64",
    debug: DebugOpt = False,
) -> None:
    """Every layer's gradients, last layer first: the upstream delta, dE/dw and dE/db, and the
    input delta, as tables (or JSON).

    Without a problem file, --input, --kernel and --delta build a one-conv problem."""
    fmt = choose(format, OUTPUT_FORMATS, "--format")
    quick = dict(input=input, kernel=kernel, delta=delta, bias=bias, stride=stride,
                 padding=padding, dilation=dilation, flip_kernel=flip_kernel)
    spec, trace = compute(problem, exact=exact, max_elements=max_elements, dtype=dtype, lr=lr,
                          quick=quick)
    if fmt == "json":
        from cnngrad.render.json_result import render_json

        text = render_json(trace)
    elif fmt == "table":
        from cnngrad.render.tables import backward_report

        text = render_rich(backward_report(trace, decimals), to_file=output is not None)
    else:
        raise UsageError(f"unknown format {fmt!r}", where="--format")
    write_output(text, output, spec.input_files)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(backward)
