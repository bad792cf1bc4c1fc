"""Run a user's function over an op's battery, compare with cnngrad, name the slips.

Each call runs on a worker thread of its own, joined with a timeout: a call that runs past
it is abandoned (the thread cannot be killed; it is a daemon, so it never holds the process
open) and the battery stops there.  Whatever the user's code does — raise, return the wrong
thing, print — becomes a line of the report, never a cnngrad traceback.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import itertools
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field

import numpy as np

from cnngrad.verify.load import running_user_code, user_cwd, user_folders
from cnngrad.verify.ops import OPS, Alternative, Case, Op, Options, battery
from cnngrad.verify.styles import STYLES, ResultError, Style

__all__ = ["CaseResult", "Report", "SlipMatch", "run_battery", "user_traceback"]

#: The statuses of a case, and of a whole report.
STATUSES = ("pass", "mismatch", "shape", "nonfinite", "raised", "bad_return", "timeout",
            "not_run")


@dataclass
class OutputCheck:
    """One output of one case that is not right."""

    name: str
    status: str  # mismatch | shape | nonfinite | bad_return
    message: str
    got: np.ndarray | None = None
    expected: np.ndarray | None = None
    absent: str | None = None  # "none" (returned as None) | "missing" (left out of the return)


@dataclass
class CaseResult:
    case: Case
    status: str
    message: str = ""
    failures: list[OutputCheck] = field(default_factory=list)
    traceback: str | None = None
    seconds: float = 0.0
    #: the arguments the call changed in place, by the names the call gives them
    changed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "pass"


@dataclass
class SlipMatch:
    """A slip whose answer equals the user's at ``output`` in ``matched`` of the ``of``
    failing cases diagnosed (where the slip applies); ``output`` is None for a slip of the
    whole return (its outputs in another order)."""

    output: str | None
    name: str
    description: str
    matched: int
    of: int


@dataclass
class Report:
    op: Op
    style: Style
    layout: str
    function: str
    call: str
    options: Options
    seed: int
    timeout: float
    rtol: float
    atol: float
    results: list[CaseResult]
    skipped: int  # cases the calling style cannot express
    slips: list[SlipMatch]
    forward: str | None = None  # the user's forward function's name (--forward), if any
    #: the --arg that would pass the op's arguments by the names the user's function gives
    #: them, where it takes them in another order (``--arg delta=dout``); None otherwise
    by_name: str | None = None
    #: the op's arguments the user's function takes by keyword alone (after ``*``): why
    #: ``by_name`` is needed, when the order is otherwise the op's
    keyword_only: tuple[str, ...] = ()
    #: the other layout, where most cases failed in the one given and every case passes
    #: laid out the other way (run again so): the function was written for it
    passes_laid_out: str | None = None
    #: where most cases failed: the cases run again laid out the other way, up to the first
    #: failure unless most raised on shapes (None: not run)
    other_layout_results: list[CaseResult] | None = None

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status not in ("pass", "not_run")]


# --------------------------------------------------------------------------- calling


def _user_frames(exc: BaseException) -> list:
    """The frames of the user's code and what it called: not cnngrad's, nor the machinery
    that ran it (the threading module, the import system: ``<frozen importlib._bootstrap>``
    and the importlib package, which import the user's module)."""
    import importlib

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    machinery = os.path.dirname(os.path.abspath(importlib.__file__))
    return [frame for frame in traceback.extract_tb(exc.__traceback__)
            if not os.path.abspath(frame.filename).startswith((package + os.sep,
                                                               machinery + os.sep))
            and not frame.filename.startswith("<frozen ")
            and os.path.basename(frame.filename) != "threading.py"]


def exception_words(exc: BaseException) -> str:
    """``ValueError: its message`` on one line (at most 160 characters of the message), or
    the bare name when the message is empty (a bare ``assert``, ``raise KeyboardInterrupt``),
    as Python's own last traceback line has it: no colon over nothing."""
    words = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def user_traceback(exc: BaseException) -> str:
    """The traceback of an exception raised in the user's code, without cnngrad's frames
    (nor the threading module's): only what the user wrote and what it called."""
    frames = _user_frames(exc)
    # a syntax error in the user's module has no frame of theirs, only its line: shown as
    # Python shows it, without a header over nothing
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).rstrip("\n")
    # a library's frames by the name it is imported as (numpy/_core/fromnumeric.py), not by
    # the folder of packages it sits in, which would run past the line
    for folder in _package_folders():
        text = text.replace(f'File "{folder}{os.sep}', 'File "')
    return text


@functools.cache
def _package_folders() -> tuple[str, ...]:
    """The folders of installed packages and of the standard library, longest first (found
    once: every case that raises asks)."""
    import site
    import sysconfig

    folders = {sysconfig.get_paths().get(key) for key in ("purelib", "platlib", "stdlib")}
    try:
        folders.update(site.getsitepackages() + [site.getusersitepackages()])
    except AttributeError:  # an embedded or virtualenv-patched site module without them
        pass
    return tuple(sorted((os.path.abspath(f) for f in folders if f), key=len, reverse=True))


@dataclass
class _Outcome:
    value: object = None
    error: BaseException | None = None
    timed_out: bool = False
    seconds: float = 0.0


# the calls abandoned after their timeout, some perhaps still running (calls_still_running)
_ABANDONED: list[threading.Thread] = []


def calls_still_running() -> bool:
    """Whether a call abandoned after its timeout is still running, or an import was given
    up on: one inside a C library (a large BLAS matmul) keeps that library's exit handlers
    waiting for ever, and a thread the module started, the interpreter's, so the command
    ends its process without them (:func:`cnngrad.cli.main`)."""
    from cnngrad.verify.load import imports_abandoned

    # an import given up on may have started threads that never end
    return bool(imports_abandoned) or any(worker.is_alive() for worker in _ABANDONED)


def call_with_timeout(run, timeout: float, folders: tuple[str, ...] = (),
                      cwd: str | None = None) -> _Outcome:
    """``run()`` on a worker thread; abandoned after ``timeout`` seconds.  ``folders`` are
    first on ``sys.path`` meanwhile (the user's code may import its neighbours), and ``cwd``
    is the working folder (where the user's module moved at its import)."""
    import time

    outcome = _Outcome()

    def work() -> None:
        try:
            with np.errstate(all="ignore"):  # an overflow is reported as NaN/inf, not warned
                outcome.value = run()
        except BaseException as exc:  # noqa: BLE001 - the user's SystemExit is reported too
            outcome.error = exc

    worker = threading.Thread(target=work, name="cnngrad-verify-call", daemon=True)
    start = time.perf_counter()
    # the user's prints go to stderr: stdout carries the report (and --format json)
    with contextlib.redirect_stdout(sys.stderr), running_user_code(folders, cwd):
        worker.start()
        worker.join(timeout)
    outcome.seconds = time.perf_counter() - start
    outcome.timed_out = worker.is_alive()
    if outcome.timed_out:
        _ask_to_stop(worker)
        _ABANDONED.append(worker)
    return outcome


class Abandoned(BaseException):
    """Raised inside an abandoned call: a Python loop stops at its next step (a call
    blocked in C, such as a sleep, stops when it returns)."""


def _ask_to_stop(worker: threading.Thread) -> None:
    # CPython's way to raise in another thread; elsewhere the daemon thread just runs on
    try:
        import ctypes

        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident),
                                                   ctypes.py_object(Abandoned))
    except (AttributeError, OSError, TypeError):
        pass


# --------------------------------------------------------------------------- comparing


def _as_numbers(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - a ragged list, an odd object
        array = _detached(value)
        if array is None:
            raise ResultError(f"{name} is not an array ({type(exc).__name__}: {exc})") \
                from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        if isinstance(value, np.ndarray):  # an array, but of what
            held = _DTYPE_KINDS.get(array.dtype.kind, "values")
            raise ResultError(f"{name} is an array of {held} ({array.dtype}), not of numbers")
        raise ResultError(f"{name} is {_describe_value(value)}, not an array of numbers")
    if np.iscomplexobj(array):  # float64 would drop the imaginary parts without a word
        raise ResultError(f"{name} is an array of complex numbers ({array.dtype}), not of "
                          f"real ones")
    return array.astype(np.float64, copy=False)


def _detached(value) -> np.ndarray | None:
    """The numbers of a torch tensor that numpy cannot read as it is (one that still
    requires grad, or one on a GPU), or of a list or tuple of them: their values, as
    ``.detach().cpu()`` gives them; None for anything else."""
    try:
        return np.asarray(_detach_all(value))
    except Exception:  # noqa: BLE001 - not tensors after all: the first error is said
        return None


def _detach_all(value):
    if isinstance(value, (list, tuple)):
        return [_detach_all(item) for item in value]
    detach = getattr(value, "detach", None)
    if not callable(detach):
        return value
    tensor = detach()
    return tensor.cpu() if callable(getattr(tensor, "cpu", None)) else tensor


#: What an array that holds no numbers holds, by its dtype's kind.
_DTYPE_KINDS = {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates",
                "m": "time spans", "V": "raw records"}


def _describe_value(value) -> str:
    if value is None:
        return "None"
    from cnngrad.verify.styles import a_name

    return a_name(value)


def shape_words(shape: tuple, axes: tuple[str, ...] = ()) -> str:
    """``(2, 3)``, with the axes' names after it when given: ``(2, 3) (n, c)``."""
    text = f"({', '.join(map(str, shape))}{',' if len(shape) == 1 else ''})"
    return f"{text} {'(' + ', '.join(axes) + ')' if len(axes) == len(shape) and axes else ''}" \
        .rstrip()


def _fits(got: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    """``got`` shaped as ``expected`` when it is; a scalar or a per-filter vector (a loss,
    db, dgamma) may also come with extra axes of length 1: (1,), (F, 1), (1, 1, 1, F)."""
    if got.shape == expected.shape:
        return got
    if expected.ndim <= 1 and got.size == expected.size and \
            tuple(n for n in got.shape if n != 1) == tuple(n for n in expected.shape if n != 1):
        return got.reshape(expected.shape)
    return None


def close(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    return bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))


def _index_words(index) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _check_output(name: str, value, expected: np.ndarray, axes, rtol, atol,
                  label: str | None = None) -> OutputCheck | None:
    """None when ``value`` is right; else what is wrong, in words that call the output
    ``label`` (the name the style's signature gives it; cnngrad's ``name`` by default)."""
    shown = label or name
    try:
        got = _as_numbers(value, shown)
    except ResultError as exc:
        return OutputCheck(name, "bad_return", str(exc), absent="none" if value is None else None)
    fitted = _fits(got, expected)
    if fitted is None:
        return OutputCheck(name, "shape", f"{shown} has shape {shape_words(got.shape, ())}; "
                           f"expected {shape_words(expected.shape, axes)}", got, expected)
    bad = ~np.isfinite(fitted) & np.isfinite(expected)
    if bad.any():
        where = np.argwhere(bad)[0]
        if fitted.ndim == 0:
            return OutputCheck(name, "nonfinite", f"{shown} is {float(fitted)}", fitted,
                               expected)
        return OutputCheck(name, "nonfinite", f"{shown} holds {fitted[tuple(where)]} at "
                           f"{_index_words(where)} ({int(bad.sum())} of {bad.size} values "
                           "not finite)", fitted, expected)
    if not close(fitted, expected, rtol, atol):
        wrong = ~np.isclose(fitted, expected, rtol=rtol, atol=atol, equal_nan=True)
        diff = np.abs(fitted - expected)
        worst = np.unravel_index(int(np.argmax(np.where(wrong, diff, -1))), diff.shape)
        where = f" at {_index_words(worst)}" if fitted.ndim else ""
        # float16 holds about 3 significant digits: the tolerances ask for more
        half = "; it is float16: compute in float32 or float64" \
            if np.asarray(value).dtype == np.float16 else ""
        return OutputCheck(name, "mismatch", f"{shown} differs in {int(wrong.sum())} of "
                           f"{wrong.size} values (largest |diff| {_g(diff[worst])}{where})"
                           f"{half}", fitted, expected)
    return None


def _g(value: float) -> str:
    return f"{float(value):.4g}"


# --------------------------------------------------------------------------- the battery


def limits_fault(timeout: float, rtol: float, atol: float) -> tuple[str, str] | None:
    """(setting, what is wrong with it) for a timeout not above 0 or not finite (a thread
    waits at most ``threading.TIMEOUT_MAX``) or a tolerance not a finite number ≥ 0 (an
    infinite one would pass any answer); None when all three are usable.  The command and
    :func:`cnngrad.testing.verify_op` say it in their own way (an option, a keyword)."""
    if not 0 < timeout <= threading.TIMEOUT_MAX:
        if 0 < timeout < float("inf"):  # finite, and past what a thread can be waited for
            return "timeout", (f"must be at most {threading.TIMEOUT_MAX:.3g} s (the longest a "
                               f"call can be waited for), got {timeout:g}")
        return "timeout", f"must be more than 0 and finite, got {timeout:g}"
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (value >= 0 and value < float("inf")):  # nan fails both
            return name, f"must be a finite number ≥ 0, got {value:g}"
    return None


def function_name(fn) -> str:
    """The name a report gives ``fn``: its own, else that of the function a
    ``functools.partial`` wraps, else its class's (an object with ``__call__``)."""
    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def keyword_clash(inputs: tuple[str, ...], keywords: dict) -> tuple[str, str, str] | None:
    """(first argument, second argument, the keyword) when two of the op's ``inputs`` would
    be passed under one keyword (``--arg x=w`` while w keeps its own name): a call can hold
    one value per keyword, so the other argument would be lost without a word; None when
    every argument has a keyword of its own."""
    owner: dict[str, str] = {}
    for name in inputs:
        keyword = keywords.get(name, name)
        if keyword in owner:
            return owner[keyword], name, keyword
        owner[keyword] = name
    return None


#: What courses and textbooks call the ops' arguments (lower case): a function's parameter of
#: one of these names takes that argument.
ARGUMENT_NAMES = {
    "x": ("a_prev", "inputs", "input", "a", "inp", "x_in"),
    "w": ("weight", "weights", "kernel", "filters", "k"),
    "b": ("bias",),
    "delta": ("dout", "dy", "dz", "da", "d_out", "delta_out", "grad_output", "grad_out",
              "grad", "dvalues", "upstream"),
    "gamma": ("g", "scale"),
    "eps": ("epsilon",),
    "logits": ("scores", "z", "x"),
    "labels": ("y", "target", "targets"),
    "size": ("pool_size", "kernel_size", "f"),
    "stride": ("s",),
    "padding": ("pad", "p"),
}


def _parameters(fn) -> list | None:
    """``fn``'s parameters (:class:`inspect.Parameter`), or None for a builtin or an object
    :mod:`inspect` cannot read."""
    import inspect

    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None


def _by_keyword(parameters: list) -> list[str]:
    """The names of the parameters a keyword reaches."""
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def arguments_by_name(fn, inputs: tuple[str, ...]) -> str | None:
    """``--arg delta=dout`` when ``fn`` names a parameter for each of the op's arguments (its
    own name, or one of :data:`ARGUMENT_NAMES`) but takes them in another order (``(dout, x,
    gamma, eps)`` for ``(x, gamma, delta, eps)``): every call passes the wrong arrays, which
    passing them by name mends.  None when the order is the op's, a parameter is missing or
    can only be given by position, or the function cannot be inspected."""
    found = _parameters_chosen(fn, inputs)
    if found is None:
        return None
    parameters, chosen = found
    if _in_order(parameters, [chosen[argument] for argument in inputs]):
        return None  # the op's order: the arrays reach the right parameters already
    # one --arg passes every argument by keyword, the others by the op's own names: the
    # renamed ones, else one naming itself (the one taken by keyword alone, when one is)
    renamed = [f"--arg {argument}={own}" for argument, own in chosen.items() if own != argument]
    first = (_keyword_only(parameters, chosen, inputs) or inputs)[0]
    return " ".join(renamed or [f"--arg {first}={first}"])


def keyword_only_arguments(fn, inputs: tuple[str, ...]) -> tuple[str, ...]:
    """The op's arguments that ``fn`` takes by keyword alone (after ``*`` in its
    parameters), which a call by position cannot reach, when they are why the call fails:
    the others are in the op's order.  () when none is, the others are out of order, or
    ``fn`` does not name a parameter for each argument."""
    found = _parameters_chosen(fn, inputs)
    return () if found is None else _keyword_only(*found, inputs)


def _keyword_only(parameters: list, chosen: dict[str, str],
                  inputs: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`keyword_only_arguments` of a function's parameters and the one chosen for
    each argument."""
    alone = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
    if not _in_order(parameters, [chosen[argument] for argument in inputs
                                  if chosen[argument] not in alone]):
        return ()  # out of order as well: the order is the reason to give
    return tuple(argument for argument in inputs if chosen[argument] in alone)


def _in_order(parameters: list, names: list[str]) -> bool:
    """Whether ``names`` are the first parameters a call by position reaches, in order."""
    positional = [p.name for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[:len(names)] == names


def _parameters_chosen(fn, inputs: tuple[str, ...]) -> tuple[list, dict[str, str]] | None:
    """``fn``'s parameters and, for each of the op's arguments, the parameter that takes
    it (its own name or one of :data:`ARGUMENT_NAMES`); None when one has none or ``fn``
    cannot be inspected."""
    parameters = _parameters(fn)
    if parameters is None:
        return None
    lower = {name.lower(): name for name in _by_keyword(parameters)}
    chosen: dict[str, str] = {}
    for argument in inputs:
        candidates = (argument, *ARGUMENT_NAMES.get(argument, ()))
        own = next((lower[name] for name in candidates
                    if name in lower and lower[name] not in chosen.values()), None)
        if own is None:
            return None
        chosen[argument] = own
    return parameters, chosen


def missing_keyword(fn, inputs: tuple[str, ...], keywords: dict
                    ) -> tuple[str, str, str | None, list[str], tuple | None] | None:
    """(keyword, argument, a parameter of ``fn`` nothing is passed as, every parameter,
    crossed) when, every argument passed by keyword (``--arg``), ``fn`` has no parameter for
    one of them: every case would raise the same TypeError; None when it has one for each,
    takes ``**kwargs``, or cannot be inspected.  ``crossed`` is (other argument, parameter,
    a spare parameter or None) when the parameter named as the argument (``W`` for ``w``) is
    passed as another one (``--arg x=W``), else None."""
    parameters = _parameters(fn)
    if parameters is None or any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    named = _by_keyword(parameters)
    if not named:  # (*args) or positional-only: no keyword reaches it at all
        keyword = next(iter(keywords.values()), "")
        argument = next(iter(keywords), "")
        return keyword, argument, None, [], None
    passed = {keywords.get(a, a) for a in inputs}
    positional = {p.name for p in parameters if p.kind is p.POSITIONAL_ONLY}
    for argument in inputs:
        keyword = keywords.get(argument, argument)
        if keyword in positional:  # before a /: there, but no keyword reaches it
            return keyword, argument, None, [], None
        if keyword not in named:
            # the argument's own name first, where the function has it and nothing is
            # passed as it (--arg x=A_prev for a parameter x: the rename is the slip)
            spare = [name for name in named if name not in passed]
            spare.sort(key=lambda name: name != argument)
            return (keyword, argument, spare[0] if spare else None, named,
                    _crossed(argument, named, passed, inputs, keywords, spare))
    return None


def _crossed(argument: str, named: list[str], passed: set, inputs: tuple[str, ...],
             keywords: dict, spare: list[str]) -> tuple[str, str, str | None] | None:
    """(other argument, parameter, what to pass as the other instead) when ``fn``'s parameter
    called as ``argument`` is, whatever its case (W for w), passed as another argument
    (--arg x=W): the two are crossed.  None otherwise."""
    own = next((name for name in named if name.lower() == argument.lower() and name in passed),
               None)
    other = next((a for a in inputs if a != argument and keywords.get(a, a) == own), None)
    if own is None or other is None:
        return None
    instead = sorted(spare, key=lambda name: name.lower() != other.lower())
    return other, own, instead[0] if instead else None


def missing_keyword_words(missing: tuple[str, str, str | None, list[str], tuple | None], *,
                          api: bool) -> tuple[str, str]:
    """What :func:`missing_keyword` found, and what to do, in the command's words (``--arg
    x=pad``) or :func:`cnngrad.testing.verify_op`'s (``api``: ``args``)."""
    keyword, argument, spare, named, crossed = missing
    given, fn = ("args", "fn") if api else ("--arg", "your function")
    what = (f"with {given} every argument is passed by keyword, and {fn} has no parameter "
            f"{keyword!r} for {argument}")
    if crossed is not None:  # --arg x=W where W is w's: the fix is the other one's
        other, own, instead = crossed
        passing = f"{other!r}: {own!r} in args" if api else f"--arg {other}={own}"
        fix = "" if instead is None else (f": give {other!r}: {instead!r} instead" if api
                                          else f": give --arg {other}={instead} instead")
        hint = f"{own} looks like {argument}, and {passing} passes it as {other}{fix}"
    elif spare == argument:  # the rename is the slip
        hint = (f"fn calls it {argument!r} already: drop {argument!r} from args" if api else
                f"your function calls it {argument} already: drop --arg {argument}={keyword}")
    elif spare:
        hint = f"add {argument!r}: {spare!r} to args" if api else \
            f"name yours: --arg {argument}={spare}"
    elif named:
        hint = f"its parameters: {', '.join(named)}"
    else:
        hint = f"it takes its arguments by position only: drop {given}"
    return what, hint


def run_battery(fn, op: Op | str, *, style: Style | str = "plain", layout: str | None = None,
                keywords: dict | None = None, forward=None, options: Options = Options(),
                seed: int = 0, timeout: float = 10.0, rtol: float = 1e-5,
                atol: float = 1e-6) -> Report:
    """Hold ``fn`` to cnngrad's answers on ``op``'s battery.

    Parameters
    ----------
    fn : callable
        The user's function, called as ``style`` says.
    op : Op or str
        One of :data:`cnngrad.verify.ops.OPS`.
    style : Style or str
        "plain", "cs231n" or "dls" (:data:`cnngrad.verify.styles.STYLES`).
    layout : {"nchw", "nhwc"}, optional
        The plain style's tensor layout; the assignment styles imply theirs.
    keywords : dict, optional
        Argument name → the user's keyword name (plain style): every argument by keyword.
    forward : callable, optional
        The user's forward function, whose cache the backward call gets.
    options : Options
        The tie rule and batch norm's ε.
    seed : int
        The battery's seed.
    timeout : float
        Seconds per call before it is abandoned (the battery stops there).
    rtol, atol : float
        An output is right when |got − expected| ≤ atol + rtol·|expected| everywhere.

    Returns
    -------
    Report
    """
    op = OPS[op] if isinstance(op, str) else op
    style = STYLES[style] if isinstance(style, str) else style
    layout = layout or style.layout or "nchw"
    keywords = keywords or {}
    if seed < 0:
        raise ValueError(f"seed must be ≥ 0, got {seed}")
    cases = battery(op, seed, options)
    usable = [case for case in cases if style.accepts(op, case)]
    for number, case in enumerate(usable, start=1):  # numbered as the user sees them
        case.index = number
    folders, cwd = user_folders(fn, forward), user_cwd(fn, forward)
    call_words = ""

    def run(case: Case, laid_out: str) -> CaseResult:
        nonlocal call_words
        truth = op.reference(case, options)
        expected = {name: np.asarray(style.tensor(op, name, truth[name], case, laid_out),
                                     dtype=np.float64) for name in op.outputs}
        call = style.bind(fn, op, case, laid_out, keywords, forward)
        call_words = call_words or call.shown
        before = [array.copy() for _, array in call.arrays]
        outcome = call_with_timeout(call.run, timeout, folders, cwd)
        result = _judge(op, style, laid_out, case, outcome, expected, timeout, rtol, atol,
                        cache_built=forward is None and style.name != "plain"
                        and op.name.endswith("_backward"), fn=fn, forward=forward)
        if not outcome.timed_out:  # an abandoned call may still be writing
            result.changed = _changed(call.arrays, before)
        return result

    results: list[CaseResult] = []
    stopped = False
    for case in usable:
        if stopped:
            results.append(CaseResult(case, "not_run", "not run: an earlier call timed out"))
            continue
        results.append(run(case, layout))
        stopped = results[-1].status == "timeout"
    report = Report(op=op, style=style, layout=layout, function=function_name(fn),
                    call=call_words, options=options, seed=seed, timeout=timeout, rtol=rtol,
                    atol=atol, results=results, skipped=len(cases) - len(usable), slips=[],
                    forward=None if forward is None else function_name(forward),
                    by_name=None if keywords or style.name != "plain"
                    else arguments_by_name(fn, op.inputs),
                    keyword_only=() if keywords or style.name != "plain"
                    else keyword_only_arguments(fn, op.inputs))
    other = other_layout(layout)
    if (style.layout is None and op.channels_last and not stopped and report.by_name is None
            and 2 * len(report.failed) > len(results)):
        from cnngrad.verify.report import layout_suspect

        # every case only where the layout hint would be given (most raised on shapes): it
        # is not where they raise as often laid out the other way; otherwise the first
        # failure tells that the function is not the other layout's
        whole = bool(layout_suspect(report))
        report.other_layout_results = []
        for case in usable:
            report.other_layout_results.append(run(case, other))
            last = report.other_layout_results[-1]
            if last.status == "timeout" or (not whole and not last.ok):
                break
        if all(result.ok for result in report.other_layout_results):
            # code for the other layout: every case run again laid out that way passes
            report.passes_laid_out = other
    report.slips = diagnose(report)
    return report


def _changed(arrays: tuple[tuple[str, np.ndarray], ...], before: list[np.ndarray]
             ) -> tuple[str, ...]:
    """The names of the arrays that differ from their copies taken before the call."""
    return tuple(name for (name, array), copy in zip(arrays, before)
                 if not np.array_equal(array, copy, equal_nan=array.dtype.kind in "fc"))


def _judge(op, style, layout, case, outcome, expected, timeout, rtol, atol, *,
           cache_built: bool = False, fn=None, forward=None) -> CaseResult:
    if outcome.timed_out:
        return CaseResult(case, "timeout", f"did not return within {_g(timeout)} s "
                          "(abandoned; raise --timeout for a slow implementation)",
                          seconds=outcome.seconds)
    if outcome.error is not None:
        exc = outcome.error
        if isinstance(exc, ResultError):  # the cache-building forward returned nonsense
            return CaseResult(case, "bad_return", str(exc), seconds=outcome.seconds)
        message = f"raised {exception_words(exc)}"
        if not _user_frames(exc):  # raised before any line of the user's code ran
            if isinstance(exc, TypeError):
                message += (" — the call does not fit your function: "
                            + _misfit_hint(op, style, fn, forward))
            return CaseResult(case, "raised", message, seconds=outcome.seconds)
        if cache_built and isinstance(exc, ValueError) and "values to unpack" in str(exc):
            # the cache cnngrad builds is the assignment's; a forward of the user's own may
            # keep more in it (the padded x) or less
            message += (" — your code unpacks a cache other than the one the assignment's "
                        "forward builds: give your own forward with --forward NAME")
        return CaseResult(case, "raised", message, traceback=user_traceback(exc),
                          seconds=outcome.seconds)
    short = None
    try:
        values = style.unpack(op, outcome.value)
    except ResultError as exc:
        values = _one_short(op, outcome.value, expected)
        if values is None:
            return CaseResult(case, "bad_return", str(exc), seconds=outcome.seconds)
        short = str(exc)
    failures = []
    for name in op.outputs:
        if name not in values:
            held = ", ".join(style.shown(op, n) for n in op.outputs if n in values)
            failures.append(OutputCheck(name, "bad_return",
                                        f"{style.shown(op, name)} is left out of the return, "
                                        f"whose {len(values)} values fit ({held})",
                                        absent="missing"))
            continue
        check = _check_output(name, values[name], expected[name],
                              style.axes(op, name, layout), rtol, atol, style.shown(op, name))
        if check is not None:
            failures.append(check)
    if short is not None:  # the return itself is wrong, whatever the values it holds
        return CaseResult(case, "bad_return", short, failures, seconds=outcome.seconds)
    if not failures:
        return CaseResult(case, "pass", seconds=outcome.seconds)
    first = failures[0]
    return CaseResult(case, first.status, first.message, failures, seconds=outcome.seconds)


#: The outputs that a return may leave out and still be read: a bias's gradient, the last.
BIAS_GRADIENTS = ("db", "dbeta")


def _one_short(op: Op, raw, expected: dict) -> dict | None:
    """A return one value short whose values fit the shapes of the op's outputs but the last,
    a bias gradient (``(dx, dw)`` for ``(dx, dw, db)``): those outputs by name; else None."""
    if op.outputs[-1] not in BIAS_GRADIENTS or not isinstance(raw, (tuple, list)) \
            or len(raw) != len(op.outputs) - 1:
        return None
    for value, name in zip(raw, op.outputs):
        try:
            if _fits(_as_numbers(value, name), expected[name]) is None:
                return None
        except ResultError:
            return None
    return dict(zip(op.outputs, raw))


# --------------------------------------------------------------------------- diagnosis


def _takes_plain_call(fn, op: Op) -> bool:
    """Whether the plain style's call, the op's arguments by position, fits ``fn`` as it
    is: its first positional parameters named as those arguments and in their order, and
    every other parameter optional (a default, ``*args``, ``**kwargs``)."""
    parameters = _parameters(fn) if fn is not None else None
    if parameters is None:
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = [p for p in parameters if p not in positional[:len(op.inputs)]]
    return (tuple(p.name for p in positional[:len(op.inputs)]) == op.inputs
            and all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                    for p in rest))


def _misfit_hint(op: Op, style: Style, fn=None, forward=None) -> str:
    """What to do when the call does not fit the user's function: read the signature, rename
    the plain signature's arguments with --arg, or pick another style that has ``op`` (never
    the style already picked); only the plain style where its call fits ``fn``
    (:func:`_takes_plain_call`), without the ``forward`` given for the cache."""
    plain = STYLES["plain"]
    if style.name != plain.name and plain.supports(op) and _takes_plain_call(fn, op):
        return (f"your function takes the plain style's arguments "
                f"({', '.join(op.inputs)}): pick --style {plain.name}"
                + (" and leave --forward out" if forward is not None else ""))
    others = [other.name for other in STYLES.values()
              if other.name not in (style.name, plain.name) and other.supports(op)]
    steps = ["see its signature in --help"]
    if style.name == plain.name:
        steps.append("rename arguments with --arg")
    if others:
        steps.append(f"pick --style {' or '.join(others)}")
    if style.name != plain.name:  # --arg renames the plain signature's arguments only
        steps.append(f"pick --style {plain.name} and rename arguments with --arg")
    return f"{', '.join(steps[:-1])}, or {steps[-1]}" if len(steps) > 2 else " or ".join(steps)


def _generic(op: Op, case: Case, truth: dict) -> list[Alternative]:
    """Slips of any output: the answer's sign, a factor 2, the batch mean or sum, a
    rotation (check's transforms), in cnngrad's layout."""
    from cnngrad.teach.diagnose import BATCH_MEAN, SLIPS

    words = {name: SLIPS[name].description for name in
             ("sign_flipped", "doubled", "halved", "batch_sum", "rot180")}
    words["batch_mean"] = BATCH_MEAN  # check's words depend on its problem's loss
    batch = next(iter(case.arrays.values())).shape[0]
    out = [Alternative("sign_flipped", words["sign_flipped"],
                       {k: -v for k, v in truth.items()}),
           Alternative("doubled", words["doubled"], {k: 2 * v for k, v in truth.items()}),
           Alternative("halved", words["halved"], {k: v / 2 for k, v in truth.items()})]
    if batch > 1:
        out.append(Alternative("batch_mean", words["batch_mean"],
                               {k: v / batch for k, v in truth.items()}))
        out.append(Alternative("batch_sum", words["batch_sum"],
                               {k: v * batch for k, v in truth.items()}))
    spatial = {k: v for k, v in truth.items() if len(op.axes.get(k, ())) >= 3}
    if spatial:
        out.append(Alternative("rot180", words["rot180"] + " (or reversed, in 1-D)",
                               {k: v[..., ::-1, ::-1] if v.ndim == 4 else v[..., ::-1]
                                for k, v in spatial.items()}))
    return out


#: A map's axes turned channels-last, and back (an op's ``channels_last`` permutation of a map).
_TO_LAST, _TO_FIRST = (0, 2, 3, 1), (0, 3, 1, 2)

#: The slip of code written for the other layout, in the words of the layout given.
OTHER_LAYOUT = ("other_layout", {
    "nchw": "matches channels-last code given these channels-first arrays (it reads (N, C, "
            "H, W) as (N, H, W, C)): if your function takes (N, H, W, C), say --layout nhwc",
    "nhwc": "matches channels-first code given these channels-last arrays (it reads (N, H, "
            "W, C) as (N, C, H, W)): if your function takes (N, C, H, W), drop --layout nhwc"})


def other_layout(layout: str) -> str:
    """The layout a function given ``layout`` ("nchw" or "nhwc") may have been written for."""
    return "nhwc" if layout == "nchw" else "nchw"


def _other_layout(op: Op, case: Case, options: Options, layout: str) -> list[Alternative]:
    """What code written for the other layout returns from the arrays as they are passed,
    in cnngrad's layout: cnngrad's answer on those arrays read the other way (none where
    that reading's shapes are refused, a window wider than the axis it slides on).  Only
    for ops whose laid-out tensors are all maps (pools, batch norm): a conv's kernel or a
    dense layer's weights change their own order too, and raise first (the report's layout
    hint)."""
    if layout not in OTHER_LAYOUT[1] or set(op.channels_last.values()) != {_TO_LAST}:
        return []
    read, back = (_TO_FIRST, _TO_LAST) if layout == "nchw" else (_TO_LAST, _TO_FIRST)
    arrays = {name: np.ascontiguousarray(array.transpose(read))
              if name in op.channels_last else array for name, array in case.arrays.items()}
    try:
        with np.errstate(all="ignore"):
            answer = op.reference(dataclasses.replace(case, arrays=arrays), options)
    except (ValueError, IndexError, ZeroDivisionError):  # shapes the other reading refuses
        return []
    outputs = {name: np.asarray(value).transpose(back) if name in op.channels_last else value
               for name, value in answer.items()}
    return [Alternative(OTHER_LAYOUT[0], OTHER_LAYOUT[1][layout], outputs)]


#: The slip of an output that holds only whole numbers in a case of fractions.
WHOLE_NUMBERS = ("truncated_to_int", "holds only whole numbers, though the case's values have "
                 "fractions: an integer array (dtype=int, .astype(int)) or int() drops them")


def _whole_numbers(failure: OutputCheck, case: Case, rtol: float, atol: float) -> bool | None:
    """Whether ``failure``'s values are all whole numbers in a case whose inputs or right
    values have fractions; False in a case of whole numbers only, where truncating changes
    nothing and so cannot be why the output is wrong; None where that cannot be told: a
    wrong shape, or all zeros (as well an output never computed as one truncated to
    nothing)."""
    got = _fits(failure.got, failure.expected)
    if got is None or not got.any():
        return None
    fractions = not close(np.round(failure.expected), failure.expected, rtol, atol) or any(
        a.dtype.kind == "f" and not np.array_equal(a, np.round(a)) for a in case.arrays.values())
    if not fractions:
        # counted as a case the slip does not explain: "in 1 of 1" would claim a sum of two
        # odd halves (whole by nature) for a truncation when 12 other cases fail as well
        return False
    return bool(np.isfinite(got).all() and (got == np.round(got)).all())


#: The slip of an output computed or kept in float16: numbers float16 holds, each within its
#: rounding of the right one.
FLOAT16 = ("float16_precision", "matches the right values to float16's precision (about 3 "
           "significant digits), every value one float16 holds: computed or kept in float16; "
           "compute in float32 or float64")

#: How far from the right value float16's rounding may take an output, as a share of its
#: largest magnitude (at least 1): a few roundings of 2⁻¹¹ each, carried through the sums.
FLOAT16_REACH = 2.0 ** -6


def _held_in_float16(values: np.ndarray) -> bool:
    """Whether float16 holds every one of ``values`` exactly."""
    with np.errstate(over="ignore"):
        return bool(np.array_equal(values.astype(np.float16).astype(np.float64), values))


def _float16_values(failure: OutputCheck, case: Case) -> bool | None:
    """Whether ``failure``'s values are all numbers float16 holds, each within its rounding
    (:data:`FLOAT16_REACH`) of the right one, in a case whose inputs or right values float16
    does not hold; False in a case whose numbers it holds all, where float16 changes nothing
    (counted against it, as a whole-number case is against a truncation); None where that
    cannot be told: a wrong shape, numbers not finite, all zeros or all whole (a truncation,
    :data:`WHOLE_NUMBERS`)."""
    got = _fits(failure.got, failure.expected)
    if got is None or not got.any() or not np.isfinite(got).all() \
            or np.array_equal(got, np.round(got)):
        return None
    expected = failure.expected
    if _held_in_float16(expected) and all(_held_in_float16(a) for a in case.arrays.values()
                                          if a.dtype.kind == "f"):
        return False
    reach = FLOAT16_REACH * max(1.0, float(np.max(np.abs(expected), initial=0)))
    return _held_in_float16(got) and bool(np.all(np.abs(got - expected) <= reach))


def _permutations(expected: np.ndarray, axes: tuple[str, ...]) -> list[tuple[str, str, np.ndarray]]:
    """The right values with their axes in another order: a layout or channel-order slip."""
    if not 2 <= expected.ndim <= 4 or len(axes) != expected.ndim:
        return []
    out = []
    for perm in itertools.permutations(range(expected.ndim)):
        if perm == tuple(range(expected.ndim)):
            continue
        moved = [axes[i] for i, j in zip(perm, range(expected.ndim)) if i != j]
        order = "(" + ", ".join(axes[i] for i in perm) + ")"
        wanted = "(" + ", ".join(axes) + ")"
        if set(moved) == set(axes[-2:]) and len(moved) == 2:
            name, words = "transpose", f"matches the transpose ({axes[-2]} and {axes[-1]} swapped)"
        elif set(moved) & {"C", "F", "in", "out", "K"}:
            name, words = "channel_order", (f"matches the right values with the axes in the "
                                            f"order {order} instead of {wanted}")
        else:
            name, words = "axis_order", (f"matches the right values with the axes in the "
                                         f"order {order} instead of {wanted}")
        out.append((name, words, expected.transpose(perm)))
    return out


#: An op returns at most this many outputs for their order to be diagnosed (4! orders).
MAX_ORDERED_OUTPUTS = 4


def _fits_loosely(got: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    """``got`` shaped as ``expected`` as :func:`_fits` allows, or the other way round: a
    per-filter vector returned where a (1, 1) gradient is expected, as happens when a
    one-sample, one-feature case's outputs are swapped."""
    fitted = _fits(got, expected)
    if fitted is None and _fits(expected, got) is not None:
        fitted = got.reshape(expected.shape)
    return fitted


def _returned_order(report: Report, result: CaseResult,
                    truth: dict) -> tuple[tuple[str, ...], list[OutputCheck]] | None:
    """The order of the op's outputs in which the user returned them, when it is another
    order than the op's, and the outputs' failures read in that order.

    The order is the one whose values are all right; failing that, where the op's order
    does not fit the shapes, the order whose shapes all fit with the most values right, when
    it is the only one (the outputs swapped and one of them wrong too).  None when no other
    order holds them."""
    op, style, layout = report.op, report.style, report.layout
    if not 2 <= len(op.outputs) <= MAX_ORDERED_OUTPUTS:
        return None
    expected = {name: np.asarray(style.tensor(op, name, np.asarray(truth[name]), result.case,
                                              layout), dtype=np.float64)
                for name in op.outputs}
    got = dict(expected)  # an output that is not among the failures came back right
    for failure in result.failures:
        if failure.got is None:  # not an array of numbers: no order makes it right
            return None
        got[failure.name] = failure.got
    shaped = []
    for order in itertools.permutations(op.outputs):
        if order == op.outputs:
            continue
        # order[i] is the output whose value the user returned in position i
        fitted = [_fits_loosely(got[slot], expected[name])
                  for slot, name in zip(op.outputs, order)]
        if any(value is None for value in fitted):
            continue
        right = sum(close(value, expected[name], report.rtol, report.atol)
                    for value, name in zip(fitted, order))
        if right == len(order):
            return order, []
        shaped.append((right, order, fitted))
    if not shaped or not any(f.status == "shape" for f in result.failures):
        return None
    # outputs of one shape (dgamma and dbeta) fit either way: the order that makes the most
    # of them right is the user's, when no other makes as many right
    most = max(right for right, _, _ in shaped)
    best = [(order, fitted) for right, order, fitted in shaped if right == most]
    if len(best) != 1:
        return None
    order, fitted = best[0]
    checks = [_check_output(name, value, expected[name], style.axes(op, name, layout),
                            report.rtol, report.atol, style.shown(op, name))
              for value, name in zip(fitted, order)]
    return order, [check for check in checks if check is not None]


def _order_words(names) -> str:
    return "(" + ", ".join(names) + ")"


#: How an output that never came back is said, by OutputCheck.absent.
_ABSENT_WORDS = {"none": "is None", "missing": "is left out of the return"}


#: A slip that makes the user's code raise rather than return: (name, the exception it
#: raises, as a test of the message, the words).  [p:-p] at padding 0 is an empty slice,
#: which the Deep Learning Specialization's own template assigns into dA_prev.
RAISED_SLIPS = (
    ("padding_cropped_to_nothing",
     lambda message: "broadcast" in message and _has_empty_shape(message),
     "is cropped with [p:-p], which is empty at padding 0 (-0 is 0), so assigning it "
     "raises: crop with [p:p + H] and [p:p + W]"),
)


def _has_empty_shape(message: str) -> bool:
    """Whether an exception's message names an array shape with a 0 in it: (0,0,1)."""
    import re

    return any(0 in [int(n) for n in re.findall(r"\d+", shape)]
               for shape in re.findall(r"\(([\d, ]+)\)", message))


def _raised_slips(report: Report, result: CaseResult, counts: dict, order: list) -> None:
    """Count a case the user's code raised on for the slips that raise so
    (:data:`RAISED_SLIPS`) and that apply to the case."""
    op = report.op
    try:
        names = {alt.name: alt for alt in op.slips(result.case, report.options,
                                                   op.reference(result.case, report.options))}
    except (ValueError, IndexError):  # a slip that cannot happen in this geometry
        return
    for name, raised_so, words in RAISED_SLIPS:
        if name in names:
            output = next(iter(names[name].outputs))
            _count(counts, order, (output, name), *((words,) if raised_so(result.message)
                                                     else ()), case=result.case.index)


def _count(counts: dict, order: list, key: tuple[str, str], *hits: str,
           case: int | None = None) -> None:
    """One more failing case (numbered ``case``) that the slip ``key`` (output, name) applies
    to, explained in the words ``hits`` (none: not explained)."""
    if key not in counts:
        # words, cases explained, cases applied to, those cases, the cases explained
        counts[key] = [collections.Counter(), 0, 0, set(), set()]
        order.append(key)
    counts[key][2] += 1
    counts[key][3].add(case)
    if hits:
        counts[key][0].update(dict.fromkeys(hits, 1))
        counts[key][1] += 1
        counts[key][4].add(case)


def _not_chance(matched: int, of: int) -> bool:
    """Whether a slip that gives the user's answer in ``matched`` of the ``of`` failing cases
    it applies to is named: in more than half of them.  One that fits a case or two by
    chance (a 1×1 case's bias gradient, 4, taken for twice a true 2) is not; a slip the
    user made fits every case it applies to."""
    return matched > 0 and 2 * matched > of


def diagnose(report: Report) -> list[SlipMatch]:
    """The slips whose answers equal the user's wrong outputs, on every failing case; each
    with the number of those cases it explains."""
    op, style, layout = report.op, report.style, report.layout
    # every failing case, none left out: "in N of M" must count all the failures the slip
    # applies to, and a battery is small enough (13 cases at most) to diagnose whole
    diagnosed = [r for r in report.results if r.failures]
    # the right values returned in another order: a slip of the whole return, checked
    # first, since each output's own slips would be looked for in another output's values
    orders: collections.Counter = collections.Counter()
    returned_as: dict[int, tuple] = {}  # a reordered case's order, and its failures in it
    for result in diagnosed:
        returned = _returned_order(report, result, op.reference(result.case, report.options))
        if returned is not None:
            orders[returned[0]] += 1
            returned_as[id(result)] = returned
    swapped = []
    failures_of: dict[int, list[OutputCheck]] = {}  # read in the user's order, once named
    if orders and _not_chance(orders.most_common(1)[0][1], len(diagnosed)):
        # the words name one order: the count is of the cases returned in that one
        user_order, matched = orders.most_common(1)[0]
        # only the cases returned in that order: another order one case's shapes happen to
        # allow (all 1×1) would blame an output that is right in it
        failures_of = {key: failures for key, (order, failures) in returned_as.items()
                       if order == user_order}
        swapped = [SlipMatch(None, "outputs_swapped", f"the outputs are in the order "
                             f"{_order_words(report.style.shown(op, n) for n in user_order)}; "
                             f"cnngrad expects "
                             f"{_order_words(report.style.shown(op, n) for n in op.outputs)}",
                             matched, len(diagnosed))]
    counts: dict[tuple[str, str], list] = {}
    order: list[tuple[str, str]] = []
    # the failing cases where each output is wrong: a slip that cannot occur in some of them
    # (no overflow to make its nan) does not explain those, and is counted against them
    wrong_in: dict[str, set] = collections.defaultdict(set)
    untold: dict[tuple[str, str], set] = collections.defaultdict(set)  # neither way
    for result in diagnosed:
        failures = failures_of.get(id(result), result.failures)
        if not failures:  # the outputs reordered are all right
            continue
        case = result.case
        for failure in failures:
            wrong_in[failure.name].add(case.index)
        truth = op.reference(case, report.options)
        try:
            alternatives = list(op.slips(case, report.options, truth))
        except (ValueError, IndexError):  # a slip that cannot happen in this geometry
            alternatives = []
        alternatives += _generic(op, case, truth)
        # none where the other reading refuses the arrays: those cases count against it, as
        # any slip's cases it cannot occur in do (the re-run's hint says the layout anyway)
        alternatives += _other_layout(op, case, report.options, layout)
        for failure in failures:
            if failure.got is None:
                if failure.absent is not None:  # None or left out: an output never computed
                    for alt in alternatives:
                        if alt.absent is not None and failure.name in alt.outputs:
                            _count(counts, order, (failure.name, alt.name),
                                   f"{_ABSENT_WORDS[failure.absent]}: {alt.absent}",
                                   case=case.index)
                continue
            candidates = []
            for alt in alternatives:
                if failure.name in alt.outputs:
                    value = np.asarray(style.tensor(op, failure.name,
                                                    np.asarray(alt.outputs[failure.name]),
                                                    case, layout), dtype=np.float64)
                    candidates.append((alt.name, style.slip_words(op, alt.name,
                                                                  alt.description), value))
            candidates += _permutations(failure.expected,
                                        style.axes(op, failure.name, layout))
            # one verdict per slip and case; several axis orders share a name, and where
            # sizes are equal (C = F = 1) several of them fit: each one that fits is noted
            verdicts: dict[str, list[str]] = {}
            for name, words, value in candidates:
                fitted = _fits(failure.got, value)
                hit = fitted is not None and close(fitted, value, report.rtol, report.atol)
                verdicts.setdefault(name, [])
                if hit:
                    verdicts[name].append(words)
            whole = _whole_numbers(failure, case, report.rtol, report.atol)
            if whole is not None:
                verdicts[WHOLE_NUMBERS[0]] = [WHOLE_NUMBERS[1]] if whole else []
            else:  # all zeros: a truncation cannot be told from an output never computed
                untold[(failure.name, WHOLE_NUMBERS[0])].add(case.index)
            half = _float16_values(failure, case)
            if half is not None:
                verdicts[FLOAT16[0]] = [FLOAT16[1]] if half else []
            else:
                untold[(failure.name, FLOAT16[0])].add(case.index)
            for name, hits in verdicts.items():
                _count(counts, order, (failure.name, name), *hits, case=case.index)
    for result in report.results:
        if result.status == "raised" and result.traceback is not None:
            _raised_slips(report, result, counts, order)
    # of every failing case where its output is wrong, not only those it can occur in
    for key, count in counts.items():
        count[2] += len(wrong_in[key[0]] - count[3] - untold[key])
    # each slip in the words that fit the most cases (the smallest case's first on a tie)
    matches = [SlipMatch(output, name, counts[(output, name)][0].most_common(1)[0][0],
                         *counts[(output, name)][1:3]) for output, name in order
               if _not_chance(*counts[(output, name)][1:3])]
    # per output, the slips that explain the most cases (the registry's order breaks ties),
    # then any that explains failing cases none of those does: two slips in one output (its
    # crop raising at padding 0, its stride ignored in the other cases) are both named
    best: list[SlipMatch] = []
    for output in op.outputs:
        mine = sorted((m for m in matches if m.output == output), key=lambda m: -m.matched)
        if not mine:
            continue
        chosen = [m for m in mine if m.matched == mine[0].matched]
        explained = set().union(*(counts[(output, m.name)][4] for m in chosen))
        for match in mine[len(chosen):]:
            cases = counts[(output, match.name)][4]
            if cases - explained:
                chosen.append(match)
                explained |= cases
        best += chosen
    return swapped + best
