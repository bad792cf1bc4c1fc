"""``cnngrad forward``: each layer's output in forward order, then the loss."""

from __future__ import annotations

from typing import Annotated

import typer

from cnngrad.cli.common import (DebugOpt, DecimalsOpt, DtypeOpt, ExactOpt, FullOpt,
                                MaxElementsOpt, OutputOpt, ReportFormatOpt, SaveSvgOpt, choose,
                                compute, guarded, render_rich, render_svg, require_npz_target,
                                write_output)
from cnngrad.errors import UsageError
from cnngrad.render import TEXT_FORMATS, render_text

EPILOG = """\
[bold]Examples[/]

  cnngrad forward samples/stackexchange-network.json
  cnngrad forward samples/stackexchange-network.json --format json
  cnngrad forward samples/stackexchange.json --exact --format markdown
  cnngrad forward samples/stackexchange-network.json --save-svg forward.svg
  cnngrad forward samples/stackexchange-network.json --format npz -o outputs.npz
"""

OUTPUT_FORMATS = ("table", "json", "csv", "latex", "markdown", "npz")


@guarded
def forward(
    problem: Annotated[str, typer.Argument(
        metavar="PROBLEM", help="The problem file (JSON), or - for standard input.",
        show_default=False)],
    format: ReportFormatOpt = "table",
    output: OutputOpt = None,
    decimals: DecimalsOpt = 6,
    exact: ExactOpt = False,
    max_elements: MaxElementsOpt = 10**8,
    dtype: DtypeOpt = "float64",
    save_svg: SaveSvgOpt = None,
    full: FullOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Each layer's output in forward order, then the loss."""
    fmt = choose(format, OUTPUT_FORMATS, "--format")
    if fmt == "npz":
        require_npz_target(output, exact)
    spec, trace = compute(problem, exact=exact, max_elements=max_elements, dtype=dtype, lr=None,
                          quick={})
    if save_svg is not None:
        from cnngrad.render.tables import forward_report

        write_output(render_svg(forward_report(trace, decimals, full=full),
                                title="cnngrad forward"),
                     save_svg, spec.input_files, option="--save-svg")
    if fmt == "json":
        from cnngrad.render.json_result import render_json

        text = render_json(trace, include_backward=False)
    elif fmt == "npz":
        from cnngrad.render.npz_result import render_npz

        text = render_npz(trace, include_backward=False)
    elif fmt in TEXT_FORMATS:
        text = render_text(fmt, trace, decimals, include_backward=False)
    elif fmt == "table":
        from cnngrad.render.tables import forward_report

        text = render_rich(forward_report(trace, decimals, full=full),
                           to_file=output is not None)
    else:
        raise UsageError(f"unknown format {fmt!r}", where="--format")
    write_output(text, output, spec.input_files)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG,
                short_help="Each layer's output in forward order, then the loss.")(forward)
