"""``cnngrad forward``: each layer's output in forward order, then the loss."""

from typing import Annotated

import typer

from cnngrad.cli.common import (REPORT_FORMATS, DebugOpt, DecimalsOpt, DtypeOpt, ExactOpt,
                                FullOpt, MaxElementsOpt, OneBasedOpt, OutputOpt,
                                ReportFormatOpt, SaveSvgOpt, compute, emit_trace, guarded,
                                output_format, require_npz_target)

EPILOG = """\
Examples (cnngrad samples NAME --to samples saves the sample they read):

  cnngrad forward samples/stackexchange-network.json
  cnngrad forward samples/stackexchange-network.json --format json
  cnngrad forward samples/batched-cross-entropy.json --one-based
  cnngrad forward samples/stackexchange.json --exact --format markdown
  cnngrad forward samples/stackexchange-network.json --save-svg forward.svg
  cnngrad forward samples/stackexchange-network.json -o outputs.npz
"""


@guarded
def forward(
    problem: Annotated[str, typer.Argument(
        metavar="PROBLEM", help="The problem file (JSON), or - for standard input.",
        show_default=False)],
    format: ReportFormatOpt = None,
    output: OutputOpt = None,
    decimals: DecimalsOpt = 6,
    exact: ExactOpt = False,
    max_elements: MaxElementsOpt = 10**8,
    dtype: DtypeOpt = "float64",
    save_svg: SaveSvgOpt = None,
    full: FullOpt = False,
    one_based: OneBasedOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Each layer's output in forward order, then the loss (and, for cross_entropy, the
    softmax probabilities)."""
    fmt = output_format(format, output, REPORT_FORMATS, command="forward", picture=True,
                        save_svg=save_svg)
    if fmt == "npz":
        require_npz_target(output, exact, fmt)
    spec, trace = compute(problem, exact=exact, max_elements=max_elements, dtype=dtype, lr=None,
                          quick={}, output_format=fmt, full=full, include_backward=False,
                          one_based=one_based)
    def report():
        from cnngrad.render.tables import forward_report

        return forward_report(trace, decimals, full=full, base=1 if one_based else 0)

    emit_trace(spec, trace, fmt=fmt, output=output, decimals=decimals, save_svg=save_svg,
               include_backward=False, report=report, title="cnngrad forward",
               base=1 if one_based else 0)


def register(app: typer.Typer) -> None:
    from cnngrad.cli.plain_values import ABSENT_OPTION_HINTS, hint_quick_mode_is_backward_s

    hint_quick_mode_is_backward_s("forward")

    # backward's options asked of forward: click's closest spelling would offer --help or
    # --full, options of another meaning, where the command to run is backward
    ABSENT_OPTION_HINTS["forward", "--lr"] = (
        "forward computes no gradients, so no SGD step; for the parameters after one step: "
        "cnngrad backward PROBLEM --lr RATE")
    ABSENT_OPTION_HINTS["forward", "--show-steps"] = (
        "the intermediate matrices are backward's: cnngrad backward PROBLEM --show-steps; "
        "for how one output was computed: cnngrad explain PROBLEM <layer>.output[i,j]")
    app.command(epilog=EPILOG,
                short_help="Each layer's output in forward order, then the loss.")(forward)
