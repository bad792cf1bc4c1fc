"""Helpers for a user's own test suite.

    from cnngrad.testing import verify_op

    def test_my_conv_backward():
        verify_op(my_layers.conv_backward, "conv2d_backward", layout="nhwc")

:func:`verify_op` runs the battery of ``cnngrad verify`` and, when a case fails, raises
``AssertionError`` with the same report the command prints (the smallest failing case, its
diff grid and the slip it matches), so pytest shows it as the failure message.
"""

from __future__ import annotations

__all__ = ["verify_op"]


def verify_op(fn, op: str, *, layout: str | None = None, style: str = "plain",
              args: dict | None = None, forward=None, ties: str | None = None, seed: int = 0,
              timeout: float = 10.0, rtol: float = 1e-5, atol: float = 1e-6):
    """Hold ``fn`` to cnngrad's answers for ``op``; raise AssertionError with the report if
    any case fails.

    Parameters
    ----------
    fn : callable
        Your function.
    op : str
        What it computes: ``conv2d_backward``, ``maxpool2d_backward``, ... (the names of
        ``cnngrad verify --op``).
    layout : {"nchw", "nhwc"}, optional
        Your tensors' layout (plain style; default nchw).
    style : {"plain", "cs231n", "dls"}
        How ``fn`` is called (see ``cnngrad verify --help``).
    args : dict, optional
        Argument name → your keyword name, as ``--arg``: every argument by keyword.
    forward : callable, optional
        Your forward function, whose cache ``fn`` gets (cs231n and dls styles).
    ties : {"first", "split", "all"}, optional
        Your max-pool tie rule (default "first"), for the ops of a max pool's gradient only.
    seed, timeout, rtol, atol
        As the command's options.

    Returns
    -------
    Report
        When every case passes (``report.results`` per case).

    Raises
    ------
    AssertionError
        A case fails: the message is the text report.
    ValueError
        Unknown op, style, layout or tie rule, or a style without that op; a tie rule for an
        op without ties; ``fn`` or
        ``forward`` not a function; an ``args`` key that is not one of the op's arguments;
        ``args`` with a style other than plain, ``forward`` with the plain style, a layout the
        style does not use; a seed below 0, a timeout not above 0, a tolerance not ≥ 0 (the
        settings the command refuses).
    """
    # pytest then shows the report and the user's line that called verify_op, not 60 lines of
    # this function's source above it
    __tracebackhide__ = True
    from cnngrad.verify.ops import OPS, Options, ties_refusal
    from cnngrad.verify.report import render_text
    from cnngrad.verify.runner import run_battery
    from cnngrad.verify.styles import STYLES

    # read in any case, as the command reads --op, --style, --layout and --ties
    op, style, layout, ties = (value.lower() if isinstance(value, str) else value
                               for value in (op, style, layout, ties))
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; allowed: {', '.join(OPS)}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; allowed: {', '.join(STYLES)}")
    if not STYLES[style].supports(OPS[op]):
        raise ValueError(f"the {style} style has no {op}")
    if layout not in (None, "nchw", "nhwc"):
        raise ValueError(f"unknown layout {layout!r}; allowed: nchw, nhwc")
    if ties not in (None, "first", "split", "all"):
        raise ValueError(f"unknown tie rule {ties!r}; allowed: first, split, all")
    if ties is not None and "ties" not in OPS[op].header_options:
        why, taking = ties_refusal(op, "ties=")
        raise ValueError(f"{why}; leave it out, or give it with {' or '.join(taking)}")
    if STYLES[style].needs_forward(OPS[op]) and forward is None:
        raise ValueError(f"the {style} {op} cache is your forward function's: pass forward=")
    _check_settings(fn, OPS[op], STYLES[style], layout=layout, args=args, forward=forward,
                    seed=seed, timeout=timeout, rtol=rtol, atol=atol)
    report = run_battery(fn, op, style=style, layout=layout, keywords=args, forward=forward,
                         options=Options(ties=ties or "first"), seed=seed, timeout=timeout,
                         rtol=rtol, atol=atol)
    if not report.ok:
        text = render_text(report)
        # the verdict first: pytest's short summary shows a message's first line
        verdict = next((line.strip() for line in text.splitlines()
                        if line.startswith(("FAIL", "ERROR"))), "cnngrad verify failed")
        raise AssertionError(f"{verdict}\n\n{text}")
    return report


def _check_settings(fn, op, style, *, layout, args, forward, seed, timeout, rtol, atol) -> None:
    """The command's own checks of its settings, as ValueErrors naming the keyword."""
    import numbers

    from cnngrad.verify.runner import (keyword_clash, limits_fault, missing_keyword,
                                       missing_keyword_words)

    if not callable(fn):
        raise ValueError(f"fn must be your function itself, got {fn!r}"
                         + (" (pass the function, not its name)" if isinstance(fn, str) else ""))
    if forward is not None and not callable(forward):
        raise ValueError(f"forward must be your forward function itself, got {forward!r}")
    if forward is not None and style.name == "plain":
        raise ValueError("forward= builds the cache of the cs231n and dls styles")
    if layout is not None and style.layout is not None and layout != style.layout:
        raise ValueError(f"the {style.name} style is {style.layout}: leave layout= out")
    if args is not None:
        if not isinstance(args, dict):
            raise ValueError(f"args must be a dict (argument name → your keyword), got "
                             f"{args!r}")
        unknown = sorted(set(args) - set(op.inputs))
        if unknown:
            raise ValueError(f"{op.name} has no argument {unknown[0]!r}; its arguments: "
                             f"{', '.join(op.inputs)}")
        if args and style.name != "plain":
            raise ValueError(f"args renames the plain signature's arguments; the {style.name} "
                             f"style calls {style.signature(op)}")
        clash = keyword_clash(op.inputs, args)
        if clash is not None:
            raise ValueError(f"args passes {clash[0]} and {clash[1]} both as {clash[2]!r}: "
                             "give each argument a keyword of its own")
        missing = missing_keyword(fn, op.inputs, args) if args else None
        if missing is not None:
            raise ValueError("; ".join(missing_keyword_words(missing, api=True)))
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {seed!r}")
    for name, value in (("timeout", timeout), ("rtol", rtol), ("atol", atol)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ValueError(f"{name} must be a number, got {value!r}")
    fault = limits_fault(timeout, rtol, atol)
    if fault is not None:
        raise ValueError(f"{fault[0]} {fault[1]}")
