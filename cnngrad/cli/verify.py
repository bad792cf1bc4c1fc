"""``cnngrad verify``: hold a from-scratch implementation to cnngrad's answers."""

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (DebugOpt, OutputOpt, choose, format_option, guarded,
                                output_format, output_width, write_output)
from cnngrad.errors import UsageError

# the names of cnngrad.verify.ops.OPS and .styles.STYLES, cnngrad.problem.LAYOUTS and
# cnngrad.layers._common.TIE_RULES, written out so that the command's help does not import
# numpy (tests/test_verify.py holds them equal)
OP_NAMES = ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
            "avgpool2d_forward", "avgpool2d_backward", "conv1d_backward",
            "conv_transpose2d_backward", "batchnorm2d_backward", "batchnorm1d_backward",
            "dense_backward", "softmax_cross_entropy_backward")
STYLE_NAMES = ("plain", "cs231n", "dls")
#: os._exit as it is before the user's code runs, which refuses it (it raises SystemExit in
#: cnngrad's process, as sys.exit does): the one way out of an import that catches everything
_exit_now = os._exit
LAYOUTS = ("nchw", "nhwc")
TIE_RULES = ("first", "split", "all")
#: table is the report for people (the name the other commands give theirs); text, its
#: first name, still works
OUTPUT_FORMATS = ("table", "text", "json")

EPILOG = """\
[bold]Examples[/]

  cnngrad verify samples/verify/conv_right.py:conv2d_backward \\
      --op conv2d_backward
  cnngrad verify mine.py:conv_backward --op conv2d_backward --layout nhwc
  cnngrad verify cs.py:conv_backward_naive --op conv2d_backward --style cs231n
  cnngrad verify cnn.py:pool_backward --op maxpool2d_backward --style dls \\
      --ties all
  cnngrad verify mine.py:backprop --op dense_backward --arg x=A --arg delta=dZ
  cnngrad verify mypkg.layers:conv_backward --op conv2d_backward -f json

The samples/verify/ files are in a source checkout; with cnngrad installed
they are in the folder `cnngrad samples --path` prints: copy one with
  cp "$(cnngrad samples --path)/verify/conv_right.py" .

[bold]What each op calls[/] (plain style; --layout nhwc puts channels last)

  conv2d_forward(x, w, b, stride, padding) -> y
  conv2d_backward(x, w, delta, stride, padding) -> (dx, dw, db)
  maxpool2d_forward(x, size, stride, padding) -> y
  maxpool2d_backward(x, delta, size, stride, padding) -> dx
  avgpool2d_forward(x, size, stride, padding) -> y
  avgpool2d_backward(x, delta, size, stride, padding) -> dx
  conv1d_backward(x, w, delta, stride, padding, dilation) -> (dx, dw, db)
  conv_transpose2d_backward(x, w, delta, stride, padding, output_padding,
                            dilation) -> (dx, dw, db)
  batchnorm2d_backward(x, gamma, delta, eps) -> (dx, dgamma, dbeta)
  batchnorm1d_backward(x, gamma, delta, eps) -> (dx, dgamma, dbeta)
  dense_backward(x, w, delta) -> (dx, dw, db)
  softmax_cross_entropy_backward(logits, labels) -> (loss, dx)

x (N, C, H, W) (batchnorm1d's x (N, D)), w (F, C, kh, kw) as PyTorch
(conv_transpose2d's w (C, F, kh, kw), dense's (out, in)); ints for
stride, padding, size (conv1d's padding is a pair (left, right)).  delta
has the shape of the op's output, and each gradient the shape of what it
is the gradient of (db: (F,)).  As PyTorch: max pooling pads with −∞,
average pooling divides by the whole window, padding included; the
labels are class indices (N,), and the loss is the mean over the batch,
so dx = (softmax − one-hot)/N; batch norm uses the biased variance.
More in docs/verify.md of a source checkout.

Exit code 0 when every case agrees, 1 when one does not (or the function
raises, returns the wrong thing or times out), 2 for bad usage.
"""


def _bundled_sample_hint(path: str) -> Optional[str]:
    """For a missing ``samples/verify/conv_right.py``: where that bundled file is (an
    installed cnngrad keeps its samples inside the package, not in the current folder)."""
    from cnngrad.bundled import bundled_name

    name = bundled_name(path, ".py", "verify")
    if name is None:
        return None
    return (f"{name} ships with cnngrad: `cp \"$(cnngrad samples --path)/verify/{name}\" .` "
            f"copies it here")


def _keywords(pairs: list[str]) -> dict:
    keywords = {}
    for pair in pairs:
        name, sep, keyword = pair.partition("=")
        name, keyword = name.strip(), keyword.strip()
        if not sep or not name or not keyword.isidentifier():
            raise UsageError(f"expected NAME=KEYWORD, got {pair!r}", where="--arg",
                             hint="x=A_prev maps the argument x to the keyword A_prev")
        if name in keywords and keywords[name] != keyword:
            # the last one would win without a word
            raise UsageError(f"{name} is renamed twice: {name}={keywords[name]} and "
                             f"{name}={keyword}", where="--arg",
                             hint=f"give --arg {name}=... once")
        keywords[name] = keyword
    return keywords


@guarded
def verify(
    target: Annotated[str, typer.Argument(
        metavar="MODULE:FUNCTION",
        help="Your function: a file path or an importable module, a colon, its name.",
        show_default=False)],
    op: Annotated[Optional[str], typer.Option(
        "--op", metavar="NAME",
        help=f"The operation your function computes: {', '.join(OP_NAMES)}.",
        show_default=False)] = None,
    layout: Annotated[Optional[str], typer.Option(
        "--layout", metavar="LAYOUT",
        help="nchw: x (N, C, H, W), w (F, C, kh, kw); nhwc: x (N, H, W, C), "
             "w (kh, kw, C, F); for conv_transpose2d_backward, w (C, F, kh, kw) as "
             "torch's, or with nhwc (kh, kw, F, C) as TensorFlow's; for dense_backward, "
             "w (out, in) as torch's y = x·wᵀ, or with nhwc (in, out) as y = x·w.  "
             "Default nchw (dls: nhwc).",
        show_default=False)] = None,
    style: Annotated[str, typer.Option(
        "--style", metavar="STYLE",
        help="How your function is called: plain (the op's arguments in cnngrad's order, "
             "f(x, w, delta, stride, padding) for conv2d_backward; docs/verify.md lists "
             "each op's), cs231n (dout, cache) or dls (dZ, cache).")] = "plain",
    arg: Annotated[Optional[list[str]], typer.Option(
        "--arg", metavar="NAME=KEYWORD",
        help="Pass the argument NAME by your keyword name (repeat it; then every argument "
             "is passed by keyword): --arg x=A_prev --arg delta=dZ.",
        show_default=False)] = None,
    forward: Annotated[Optional[str], typer.Option(
        "--forward", metavar="[MODULE:]FUNCTION",
        help="Your forward function, whose cache your backward function gets "
             "(cs231n and dls styles); a bare name is looked up in the same module.",
        show_default=False)] = None,
    ties: Annotated[Optional[str], typer.Option(
        "--ties", metavar="RULE",
        help="Your max-pool rule for tied maxima: first (PyTorch's: the first in "
             "row-major order; the default), split (shared equally) or all (each gets it).",
        show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0,
                                      help="Seed of the battery's values.")] = 0,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds per call before it is abandoned (your module's import, "
                          "which runs its top level, gets this or 60 s, the longer).")] = 10.0,
    rtol: Annotated[float, typer.Option(
        "--rtol", help="Relative tolerance: right when |got − expected| ≤ atol + "
                       "rtol·|expected|.")] = 1e-5,
    atol: Annotated[float, typer.Option("--atol", help="Absolute tolerance.")] = 1e-6,
    format: Annotated[Optional[str], format_option(
        OUTPUT_FORMATS,
        help="table (the report for people; text is another name for "
             "it) or json (for CI).")] = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Hold your own implementation of a layer to cnngrad's answers, on a seeded battery
    of edge cases (1×1 and non-square kernels, strides with leftover rows, padding,
    batches, tied maxima), smallest first; name the slip behind a wrong answer (kernel not
    rotated, stride ignored, padding not cropped, ...)."""
    if op is None:
        raise UsageError("missing --op", where="--op",
                         hint=f"the operation your function computes: {', '.join(OP_NAMES)}")
    activation = re.fullmatch(r"(leaky_?relu|relu|sigmoid|tanh)(_backward|_forward)?",
                              op.strip().lower())
    if op not in OP_NAMES and activation:
        # nearest by spelling (relu_backward → dense_backward) would mislead
        raise UsageError(f"unknown value '{op}'", where="--op",
                         hint=f"verify holds layers with a battery of edge cases; "
                              f"{activation[1]}'s backward is one elementwise derivative, "
                              f"which cnngrad backward and cnngrad explain show for a problem "
                              f"(cnngrad samples lists some); ops: {', '.join(OP_NAMES)}")
    with_loss = next((name for name in OP_NAMES if name.endswith("_cross_entropy_backward")),
                     None)
    if op not in OP_NAMES and with_loss and with_loss.split("_")[0] in op.strip().lower():
        # softmax_loss (CS231n), softmax_backward: the op verify has is softmax with its loss
        from cnngrad.families import LAYERS

        # the layer type the op names (log_softmax_backward: log_softmax), the longest first
        alone = next(kind for kind in sorted(LAYERS, key=len, reverse=True)
                     if kind in op.strip().lower() or kind == with_loss.split("_")[0])
        raise UsageError(f"unknown value '{op}'", where="--op",
                         hint="softmax with its cross-entropy loss is "
                              "softmax_cross_entropy_backward (the loss and its gradient as "
                              f"CS231n's softmax_loss returns them); {alone} alone is a layer "
                              "type, which cnngrad backward and cnngrad explain show for a "
                              "problem")
    layer = _layer_without_op(op)
    if op not in OP_NAMES and layer:
        # nearest by spelling (upsample_backward → dense_backward) would mislead too
        kind, words = layer
        raise UsageError(f"unknown value '{op}'", where="--op",
                         hint=f"verify has no op for {kind}, a {words} of the problem "
                              f"format: cnngrad backward and cnngrad explain show its "
                              f"backward for a problem (cnngrad samples lists some); verify "
                              f"checks: {', '.join(OP_NAMES)}")
    batch_norm = re.fullmatch(r"(spatial_)?batch_?norm(_backward(_alt)?|_forward)?",
                              op.strip().lower())
    if op not in OP_NAMES and batch_norm:
        # CS231n's names: the nearest spelling, batchnorm2d_backward, is for maps only
        raise UsageError(f"unknown value '{op}'", where="--op", hint=(
            "batchnorm2d_backward, for maps (N, C, H, W)" if batch_norm[1] else
            "batchnorm1d_backward for vectors (N, D), CS231n's batchnorm_backward; "
            "batchnorm2d_backward for maps (N, C, H, W), its spatial_batchnorm_backward"))
    passes = [name for name in OP_NAMES if name.rpartition("_")[0] == op.strip().lower()]
    if op not in OP_NAMES and passes:
        # a layer's name alone (conv2d): the nearest spelling is whichever pass sorts first,
        # where the function's own name (conv2d_backward, conv_backward_naive) may well say
        # which it is
        _, colon, function = target.rpartition(":")
        words = re.split(r"[^a-z0-9]+", function.lower()) if colon else []
        named = [name for name in passes if name.rpartition("_")[2] in words]
        raise UsageError(f"unknown value '{op}'", where="--op", hint=(
            f"the op names the pass too: --op {named[0]}, as your function {function} says"
            if len(named) == 1 else f"the op names the pass too: {' or '.join(passes)}"))
    op = choose(op, OP_NAMES, "--op")
    style = choose(style, STYLE_NAMES, "--style")
    ties_given = ties is not None
    ties = choose("first" if ties is None else ties, TIE_RULES, "--ties")
    fmt = output_format(format, output, OUTPUT_FORMATS, command="verify")
    if layout is not None:
        layout = choose(layout, LAYOUTS, "--layout")
    from cnngrad.verify.runner import limits_fault

    fault = limits_fault(timeout, rtol, atol)
    if fault is not None:
        raise UsageError(fault[1], where=f"--{fault[0]}")
    keywords = _keywords(arg or [])

    from cnngrad.verify import load_function, run_battery
    from cnngrad.verify.load import LoadError
    from cnngrad.verify.ops import OPS, Options, ties_refusal
    from cnngrad.verify.styles import STYLES

    operation, calling = OPS[op], STYLES[style]
    if not calling.supports(operation):
        supported = [name for name in OP_NAMES if calling.supports(OPS[name])]
        raise UsageError(f"the {style} style has no {op}", where="--style",
                         hint=f"it has: {', '.join(supported)}; or use --style plain")
    if ties_given and "ties" not in operation.header_options:
        why, taking = ties_refusal(op, "--ties")
        raise UsageError(why, where="--ties",
                         hint=f"leave it out, or give it with --op {' or '.join(taking)}")
    if layout is not None and not operation.channels_last:
        # as --ties where no tie rule counts: given and ignored, it would be believed checked
        raise UsageError(f"{op}'s arrays have no channel axis to lay out: --layout changes "
                         "nothing", where="--layout", hint="leave it out")
    if layout is not None and calling.layout is not None and layout != calling.layout:
        raise UsageError(f"the {style} style is {calling.layout}", where="--layout",
                         hint="leave --layout out")
    unknown = sorted(set(keywords) - set(operation.inputs))
    if unknown:
        raise UsageError(f"{op} has no argument {unknown[0]!r}", where="--arg",
                         hint=f"its arguments: {', '.join(operation.inputs)}")
    if keywords and style != "plain":
        raise UsageError("--arg renames the plain signature's arguments", where="--arg",
                         hint=f"the {style} style calls {calling.signature(operation)}")
    from cnngrad.verify.runner import keyword_clash, missing_keyword, missing_keyword_words

    clash = keyword_clash(operation.inputs, keywords)
    if clash is not None:
        first, second, keyword = clash
        # the one that kept its own name is the one to rename
        other = second if keywords.get(second) != keyword else first
        raise UsageError(f"{first} and {second} would both be passed as {keyword!r}, and one "
                         "of them lost", where="--arg",
                         hint=f"give {other} a keyword of its own: --arg {other}=...")
    if forward is not None and style == "plain":
        cached = [name for name in STYLE_NAMES if name != "plain"
                  and STYLES[name].supports(operation)]
        raise UsageError("--forward builds the cache of the cs231n and dls styles",
                         where="--forward", hint=(
                             f"add {' or '.join(f'--style {name}' for name in cached)} for a "
                             f"backward that takes (dout, cache)" if cached else
                             f"no style with a cache has {op}: drop --forward"))
    from cnngrad.cli.common import CURRENT_FOLDER_GONE, current_folder_gone

    if current_folder_gone():  # your module is imported as `python -m` would, from it
        raise UsageError(CURRENT_FOLDER_GONE[0], where="MODULE:FUNCTION",
                         hint="cd to a folder that exists: verify imports your code from "
                              "the current folder, even given in full")
    from cnngrad.verify.load import IMPORT_SECONDS, SLOW_IMPORT_SECONDS

    import_seconds = max(timeout, IMPORT_SECONDS)

    def still_importing(shown: str):
        def say() -> None:  # the module's top level is running: say what is waited for
            print(f"note: importing {shown}: still running after {SLOW_IMPORT_SECONDS:g} s "
                  f"(its top level runs at import; given up after {import_seconds:g} s)",
                  file=sys.stderr, flush=True)
        return say

    def stuck(error) -> None:
        # the module catches every exception its import is stopped with: said, and the
        # process ended, as nothing raised would end it
        from cnngrad.cli.common import report_error

        sys.stderr = sys.__stderr__  # the module may have taken sys.stderr for itself
        report_error(error)
        sys.stderr.flush()
        _exit_now(error.exit_code)

    try:
        fn, module = load_function(target, seconds=import_seconds,
                                   on_slow=still_importing(target.rpartition(":")[0]),
                                   on_stuck=stuck)
        forward_fn, forward_module = (None, None) if forward is None else \
            load_function(forward, "--forward", default_module=None if ":" in forward
                          else module, verified=fn, seconds=import_seconds,
                          on_slow=still_importing(forward.rpartition(":")[0]),
                          on_stuck=stuck)
    except LoadError as exc:
        if exc.what.startswith("no such file") and exc.hint is None:
            exc.hint = _bundled_sample_hint(exc.what.partition(": ")[2])
        if exc.details:
            print(exc.details, file=sys.stderr)
        raise
    missing = missing_keyword(fn, operation.inputs, keywords) if keywords else None
    if missing is not None:
        what, hint = missing_keyword_words(missing, api=False)
        raise UsageError(what, where="--arg", hint=hint)
    if calling.needs_forward(operation) and forward_fn is None:
        raise UsageError(f"the {style} {op} cache is your forward function's own",
                         where="--forward",
                         hint=f"give it: --forward {calling.forward_name(operation)}")
    # the report never takes the place of the user's own code (-o layers.py by a slip):
    # refused here, before the battery runs, and by write_output as every -o is
    from cnngrad.cli.output import protected_as

    sources = [(Path(m.__file__), "the file of your function") for m in (module, forward_module)
               if getattr(m, "__file__", None)]
    what = None if output in (None, "-") else protected_as(output, sources)
    if what is not None:
        raise UsageError(f"refusing to overwrite {what}", where="--output", file=output,
                         hint="give another file name, such as report.txt")
    report = run_battery(fn, operation, style=calling, layout=layout, keywords=keywords,
                         forward=forward_fn, options=Options(ties=ties), seed=seed,
                         timeout=timeout, rtol=rtol, atol=atol)
    if getattr(fn, "__name__", None) in (None, "<lambda>"):
        # a lambda, a functools.partial or an object with __call__ has no name of its own: the
        # one typed
        report.function = target.rpartition(":")[2]
    from cnngrad.verify.report import render_json, render_text

    # table or text: a terminal narrower than 80 columns gets the report at its own width
    terminal = output is None and sys.stdout is not None and sys.stdout.isatty()
    text = render_json(report) if fmt == "json" else render_text(report, output_width(terminal))
    write_output(text, output, sources)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from cnngrad.cli.plain_values import ABSENT_OPTION_HINTS

    ABSENT_OPTION_HINTS["verify", "--exact"] = (
        "verify has no exact mode: your function computes in floats, and its results are "
        "held to cnngrad's within --rtol and --atol")
    app.command(epilog=EPILOG, short_help="Hold your own layer code to cnngrad's answers; "
                                          "name its slip.")(verify)


def _layer_without_op(op: str) -> tuple[str, str] | None:
    """(type, "layer type" or "loss") of the problem format that ``op`` names, with or
    without ``_backward`` or ``_forward`` (``upsample_backward``, ``flatten``,
    ``upsample_nearest_backward``), when verify has no op for it; else None."""
    from cnngrad.families import LAYERS, LOSSES

    base = re.sub(r"_(backward|forward)$", "", op.strip().lower())
    # an op's name without its direction: its type (conv2d), or one that ends with it (the
    # cross-entropy loss in softmax_cross_entropy)
    with_ops = {name.rsplit("_", 1)[0] for name in OP_NAMES}

    def has_op(kind: str) -> bool:
        return any(name == kind or name.endswith("_" + kind) for name in with_ops)
    # the longest type first: leaky_relu before relu, global_avgpool before avgpool
    for kind in sorted((*LAYERS, *LOSSES), key=len, reverse=True):
        if not has_op(kind) and (base == kind or base.startswith(kind + "_")):
            return kind, "loss" if kind in LOSSES else "layer type"
    return None
