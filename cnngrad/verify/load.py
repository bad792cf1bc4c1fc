"""``MODULE:FUNCTION`` → the user's function, imported in this process."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from cnngrad.errors import UsageError, closest

__all__ = ["LoadError", "load_function", "running_user_code", "user_cwd", "user_folders"]

# the folder each loaded function's neighbours are imported from (its file's own folder, or
# the current folder for a module imported by name), by id (the function is kept with it, so
# the id stays its own): put first on sys.path only while the user's code runs.  Left there
# for the whole run, a json.py or csv.py beside the user's file would take the place of the
# standard library module cnngrad imports later (to write the report): an internal error
_FOLDER_OF: dict[int, tuple[object, str | None, str | None]] = {}


def user_folders(*functions) -> tuple[str, ...]:
    """The folders to put first on ``sys.path`` while ``functions`` run: those
    :func:`load_function` imported them from (none for a function it did not load)."""
    folders: list[str] = []
    for fn in functions:
        folder = _FOLDER_OF.get(id(fn), (None, None, None))[1]
        if folder is not None and folder not in folders:
            folders.append(folder)
    return tuple(folders)


def _exit_refused_in(pid: int, exit_now):
    """A stand-in for ``os._exit`` that raises ``SystemExit`` in process ``pid`` and exits as
    before in any other: a child the user's code forks (multiprocessing) ends with os._exit,
    and raising there would run the rest of cnngrad's command in the child."""

    def refused(status=0):
        if os.getpid() != pid:
            exit_now(status)
        # os._exit would end cnngrad's own process at once, with the user's status (0 reads
        # as "every case agrees") and no report: raised instead, as sys.exit is
        raise SystemExit(status)

    return refused


@contextlib.contextmanager
def running_user_code(folders: tuple[str, ...] = (), cwd: str | None = None):
    """``folders`` first on ``sys.path``, ``os._exit`` refused and ``cwd`` the working
    folder, while the user's module is imported or their function runs; all put back
    afterwards.

    Parameters
    ----------
    folders : tuple of str
        Where the user's code imports its neighbours from (:func:`user_folders`).
    cwd : str, optional
        The working folder the user's module moved to when imported (:func:`user_cwd`).

    Yields
    ------
    dict
        ``{"cwd": ...}``: the folder the user's code moved to (``os.chdir``), else None.
    """
    ours = os.getcwd()
    moved = {"cwd": None}
    if cwd is not None:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    sys.path[:0] = folders
    exit_now = os._exit
    os._exit = _exit_refused_in(os.getpid(), exit_now)
    try:
        yield moved
    finally:
        os._exit = exit_now
        for folder in folders:
            with contextlib.suppress(ValueError):  # the user's code may have removed it
                sys.path.remove(folder)
        # an os.chdir of the user's code stays theirs: -o report.txt, a --forward path and
        # the report's own files are the command's, read from the folder it was run in
        with contextlib.suppress(OSError):
            theirs = os.getcwd()
            if theirs != ours:
                moved["cwd"] = theirs
                os.chdir(ours)


def user_cwd(*functions) -> str | None:
    """Where the module of one of ``functions`` moved the working folder at its import
    (``os.chdir`` at its top), the first such; their calls run there.  None if none did."""
    for fn in functions:
        entry = _FOLDER_OF.get(id(fn))
        if entry is not None and entry[2] is not None:
            return entry[2]
    return None


class LoadError(UsageError):
    """The user's module cannot be imported, or has no such function; ``details`` holds the
    user's own traceback when their code raised."""

    def __init__(self, what: str, *, where: str, hint: str | None = None,
                 details: str | None = None) -> None:
        super().__init__(what, where=where, hint=hint)
        self.details = details


def _split(target: str, option: str) -> tuple[str, str]:
    module, sep, function = target.rpartition(":")
    if not sep or not module or not function:
        defined = _defined_functions(target) if not sep else []
        # a helper of the file's own (_pad) is not what anyone verifies: public names first
        names = [n for n in defined if not n.startswith("_")] or defined
        example = next((n for key in ("backward", "back", "forward") for n in names
                        if key in n.lower()), names[0] if names else "")
        hint = (f"name the function after a colon: {target}:{example} (its functions: "
                f"{', '.join(names[:8])}{', …' if len(names) > 8 else ''})" if names else
                "a file path or an importable module, a colon, the function's name: "
                "student/layers.py:conv_backward")
        raise LoadError(f"expected MODULE:FUNCTION, got {target!r}", where=option, hint=hint)
    # a colon in the module beyond a Windows drive's (C:\\x.py): one name too many
    first, colon, rest = module.partition(":")
    if colon and not (len(first) == 1 and first.isalpha() and rest[:1] in ("\\", "/")):
        raise LoadError(f"expected MODULE:FUNCTION, one colon, got {target!r}", where=option,
                        hint=f"one function per option: {first}:{rest.split(':')[0]}")
    return module, function


def _defined_functions(path: str) -> list[str]:
    """The functions a Python file defines at its top level, in file order, read without
    running it (none when it is not a readable Python file)."""
    import ast

    if not path.endswith(".py"):
        return []
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _is_path(module: str) -> bool:
    return module.endswith(".py") or os.sep in module or "/" in module or os.path.isfile(module)


def _folder_error(folder: str, function: str, option: str) -> LoadError:
    """A folder named where a Python file is wanted, with the files in it to name instead."""
    try:
        files = sorted(entry.name for entry in os.scandir(folder)
                       if entry.name.endswith(".py") and entry.is_file())
    except OSError:
        files = []
    shown = folder.rstrip("/" + os.sep) or folder
    hint = (f"name a Python file in it: {os.path.join(shown, files[0])}:{function}"
            + (f" (its files: {', '.join(files[:8])}{', …' if len(files) > 8 else ''})"
               if len(files) > 1 else "")) if files else "it holds no Python file"
    return LoadError(f"{shown} is a folder, not a Python file", where=option, hint=hint)


def _package_hint(path: str, exc: BaseException, function: str) -> str | None:
    """For a file of a package (CS231n's cs231n/ folder) whose imports need the package
    (``from .layers import *``, ``from cs231n.im2col import *``): how to name it as the
    package's module, as Python itself imports it; None for any other failure."""
    folder = os.path.dirname(os.path.abspath(path))
    if not isinstance(exc, ImportError) or \
            not os.path.isfile(os.path.join(folder, "__init__.py")):
        return None
    parts = [os.path.splitext(os.path.basename(path))[0]]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        parts.insert(0, os.path.basename(folder))
        folder = os.path.dirname(folder)
    relative = "no known parent package" in str(exc)
    if not relative and not (isinstance(exc, ModuleNotFoundError) and exc.name
                             and exc.name.split(".")[0] == parts[0]):
        return None
    if not all(part.isidentifier() for part in parts):
        return None
    return (f"{path} is part of the package {parts[0]}: name it as a module, from the folder "
            f"that holds {parts[0]}: {'.'.join(parts)}:{function}")


#: How long the import of the user's module may run, at least (--timeout when longer): its
#: top level runs then, and a training loop, a plot or an input() left there never returns,
#: while an import of torch or TensorFlow takes seconds.
IMPORT_SECONDS = 60.0
#: After this long an import still running is said to the caller (``on_slow``).
SLOW_IMPORT_SECONDS = 5.0


class _ImportTimedOut(BaseException):
    """Raised in the import by the alarm at its time: a BaseException, so that the user's
    ``except Exception`` around a loop does not take it for one of theirs."""


#: Past the deadline, how long an import still running (one that catches the alarm's
#: exception, a bare ``except:`` around its loop, or took the alarm for itself, or one the
#: alarm cannot stop: Windows) is given before ``on_stuck`` ends the command.
STUCK_SECONDS = 1.0


def _import_bounded(do_import: Callable[[], object], seconds: float,
                    on_slow: Callable[[], None] | None,
                    on_stuck: Callable[[], None] | None = None):
    """``do_import()`` on this thread, with an alarm (``SIGALRM``) at ``seconds`` that stops
    it (``on_slow()`` once it has run :data:`SLOW_IMPORT_SECONDS`, when ``seconds`` is
    longer): (its value, None), or (None, the exception the user's module raised: an
    ``Exception``, or a ``SystemExit``); :class:`_ImportTimedOut` at the alarm, raised again
    every 0.1 s past it, and raised when the import ends if it was caught; an import still
    running :data:`STUCK_SECONDS` past its deadline (a bare ``except:`` around its loop, or
    a module that takes the alarm for itself) gets ``on_stuck()`` from a thread of its own
    (the command's: it says so and ends the process), where given.  On the main thread, as
    Python runs an import: a module that installs a signal handler at its top, or opens a
    plot window, needs it.  A Ctrl-C or SIGTERM meanwhile is the command's, not the module's
    error.  The caller's own alarm (handler and time left) is put back; a handler the module
    installs is left to it.  Where there is no such alarm (Windows, or called from another
    thread) only ``on_stuck`` bounds the import."""
    import signal
    import time

    start = time.monotonic()
    late = []  # the deadline passed: the import is over, whatever the module catches
    done = []  # the import has returned: an alarm late in the cleanup does nothing

    def alarm(_signum, _frame):
        if done:
            return
        elapsed = time.monotonic() - start
        if elapsed < seconds - 0.01:  # the note's time, or early (the module's own alarm)
            if said is not None and not said and elapsed >= SLOW_IMPORT_SECONDS - 0.01:
                said.append(True)
                on_slow()
            following = SLOW_IMPORT_SECONDS if said is not None and not said else seconds
            signal.setitimer(signal.ITIMER_REAL, max(following - elapsed, 0.001))
            return
        late.append(True)
        signal.setitimer(signal.ITIMER_REAL, 0.1)  # again, till the import gives way
        raise _ImportTimedOut

    bounded = hasattr(signal, "setitimer") and \
        threading.current_thread() is threading.main_thread()
    said = [] if on_slow is not None and seconds > SLOW_IMPORT_SECONDS else None
    # the last resort, on a thread of its own: a module that takes the alarm for itself
    # (signal.alarm(0), a handler of its own) or keeps catching what it raises
    watchdog = threading.Timer(seconds + STUCK_SECONDS, on_stuck) \
        if on_stuck is not None else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    if bounded:
        theirs = signal.getitimer(signal.ITIMER_REAL)
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, SLOW_IMPORT_SECONDS if said is not None
                         else seconds)
    try:
        value = do_import()
    except (Exception, SystemExit) as exc:  # their module's own error, shown as theirs
        value, error = None, exc
    else:
        error = None
    finally:
        done.append(True)
        if watchdog is not None:
            watchdog.cancel()
        if bounded:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if signal.getsignal(signal.SIGALRM) is alarm:
                signal.signal(signal.SIGALRM, previous)
            if theirs[0] > 0:  # the caller's alarm, for the time it has left
                left = theirs[0] - (time.monotonic() - start)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), theirs[1])
    if late:
        raise _ImportTimedOut
    return value, error


#: Imports given up on: whatever threads they started may still run, and keep the
#: process from ending (:func:`cnngrad.verify.runner.calls_still_running`).
imports_abandoned: list[str] = []


def _import_timed_out(shown: str, seconds: float, option: str) -> LoadError:
    imports_abandoned.append(shown)
    return LoadError(f"importing {shown} did not finish within {seconds:g} s", where=option,
                     hint="its top level runs when verify imports it: put a training loop, a "
                          "plot or an input() under if __name__ == \"__main__\":, or raise "
                          f"--timeout past {seconds:g} s for an import that takes longer")


def _import_file(path: str, option: str, function: str = "FUNCTION",
                 seconds: float = IMPORT_SECONDS, on_slow: Callable[[], None] | None = None,
                 on_stuck: Callable[[], None] | None = None):
    from cnngrad.verify.runner import exception_words, user_traceback

    if os.path.isdir(path):
        raise _folder_error(path, function, option)
    if not os.path.isfile(path):
        raise LoadError(f"no such file: {path}", where=option)
    # the user's module may import its neighbours, at its top or in its functions
    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.splitext(os.path.basename(path))[0]
    # a file named as a standard library module (json.py, random.py) is not registered under
    # that name, which cnngrad's own later imports would then get
    name = stem if stem.isidentifier() and stem not in sys.stdlib_module_names \
        else "user_module"
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") \
            != os.path.abspath(path):
        name = f"cnngrad_verify_user_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {path} as Python", where=option)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # no __pycache__ beside the user's file (nor in a folder of samples that ships)
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        # a print at the module's top level goes to stderr, as the function's own prints do:
        # stdout carries only the report (and --format json)
        with contextlib.redirect_stdout(sys.stderr), running_user_code((folder,)) as moved:
            _, error = _import_bounded(lambda: spec.loader.exec_module(module), seconds,
                                       on_slow, on_stuck)
    except _ImportTimedOut:
        sys.modules.pop(name, None)
        raise _import_timed_out(path, seconds, option) from None
    finally:
        sys.dont_write_bytecode = writes_bytecode
    if error is not None:
        sys.modules.pop(name, None)
        raise LoadError(f"importing {path} raised {exception_words(error)}", where=option,
                        hint=_package_hint(path, error, function),
                        details=user_traceback(error))
    return module, folder, moved["cwd"]


def _import_name(name: str, option: str, function: str = "FUNCTION",
                 seconds: float = IMPORT_SECONDS, on_slow: Callable[[], None] | None = None,
                 on_stuck: Callable[[], None] | None = None):
    from cnngrad.verify.runner import exception_words, user_traceback

    # the current folder first, as `python -m` does
    folders = () if "" in sys.path else (os.getcwd(),)
    try:
        # as for a file: stdout is the report's
        with contextlib.redirect_stdout(sys.stderr), running_user_code(folders) as moved:
            module, error = _import_bounded(lambda: importlib.import_module(name), seconds,
                                            on_slow, on_stuck)
    except _ImportTimedOut:
        raise _import_timed_out(name, seconds, option) from None
    if isinstance(error, ModuleNotFoundError):
        if error.name and name.startswith(error.name) and (error.name == name or
                                                           name.startswith(error.name + ".")):
            raise LoadError(f"no module named {name!r}", where=option,
                            hint="give a file path (path/to/file.py) or run from the folder "
                                 "that holds the module")
        raise LoadError(f"importing {name} raised ModuleNotFoundError: {error}", where=option,
                        details=user_traceback(error))
    if error is not None:
        raise LoadError(f"importing {name} raised {exception_words(error)}", where=option,
                        details=user_traceback(error))
    if getattr(module, "__file__", None) is None and getattr(module, "__path__", None):
        # a folder without __init__.py imports as a namespace package: no functions of its own
        folder, typed = list(module.__path__)[0], name.replace(".", os.sep)
        raise _folder_error(typed if os.path.abspath(typed) == os.path.abspath(folder)
                            else folder, function, option)
    return module, (folders or (None,))[0], moved["cwd"]


def _attribute(module, dotted: str, option: str):
    """``Layer.backward`` of ``module``: a static or class method, or a function of an object
    the module holds (``layers.conv_backward`` of a module it imported), by its dotted name;
    None where a name on the way is missing (then said as any missing function is).  A plain
    method, which needs an instance of its class, is refused with what to write instead."""
    import inspect

    missing = object()
    owner, value = module, module
    parts = dotted.split(".")
    for at, part in enumerate(parts):
        owner, value = value, getattr(value, part, missing)
        if value is missing and at == 0:
            return None  # not in the module: said as a missing function is
        if value is missing:
            held = [name for name in dir(owner) if not name.startswith("_")
                    and callable(getattr(owner, name, None))]
            best = closest(part, held)
            prefix = ".".join(parts[:at])
            raise LoadError(f"no {part!r} in {prefix}", where=option,
                            hint=f"did you mean '{prefix}.{best}'?" if best else
                            f"{prefix} has: {', '.join(held[:8])}" if held else None)
    if inspect.isclass(owner) and inspect.isfunction(
            inspect.getattr_static(owner, parts[-1], None)):
        cls = parts[-2]
        raise LoadError(f"{dotted!r} is a method of {cls}: called without an instance of "
                        f"{cls}, its first argument would be taken for self", where=option,
                        hint=f"make it a @staticmethod, or verify a function that calls it: "
                             f"def {parts[-1]}(*args): return {cls}().{parts[-1]}(*args)")
    if not callable(value):
        from cnngrad.verify.styles import a_name

        shown = "None" if value is None else a_name(value)
        raise LoadError(f"not a function: {dotted!r} is {shown}", where=option)
    return value


def _same_function(candidate, fn) -> bool:
    # the module may have been imported again (--forward file.py:name names the file of the
    # function verified): its functions are then new objects with the same names
    return candidate is fn or (
        getattr(candidate, "__module__", None) == getattr(fn, "__module__", object())
        and getattr(candidate, "__qualname__", None) == getattr(fn, "__qualname__", object()))


def load_function(target: str, option: str = "MODULE:FUNCTION", *, default_module=None,
                  verified=None, seconds: float = IMPORT_SECONDS,
                  on_slow: Callable[[], None] | None = None,
                  on_stuck: Callable[[LoadError], None] | None = None):
    """The function ``target`` names: ``path/to/file.py:name`` or ``package.module:name``
    (or a bare ``name`` in ``default_module``, for --forward).  ``verified`` is the function
    under test, which a --forward hint never proposes: it cannot be its own forward.  The
    module's import is stopped after ``seconds`` (a :class:`LoadError`) where an alarm can
    stop it (on the main thread, not on Windows); ``on_slow`` is called once it has run
    :data:`SLOW_IMPORT_SECONDS`, and ``on_stuck`` with the timeout's error where the import
    still runs past the deadline (it keeps catching the alarm's exception, or took the alarm
    for itself): it must not return."""
    if default_module is not None and ":" not in target:
        module, function = default_module, target
        _, folder, cwd = _FOLDER_OF.get(id(verified), (None, None, None))
    else:
        module_name, function = _split(target, option)
        stuck = on_stuck and (
            lambda: on_stuck(_import_timed_out(module_name, seconds, option)))
        module, folder, cwd = (_import_file if _is_path(module_name) else _import_name)(
            module_name, option, function, seconds, on_slow, stuck)
    fn = _attribute(module, function, option) if "." in function else \
        getattr(module, function, None)
    if fn is None or not callable(fn):
        names = [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
                 and getattr(v, "__module__", None) == module.__name__]
        best = closest(function, names)
        others = [n for n in names if verified is None or
                  not _same_function(getattr(module, n), verified)]
        if best is not None and best not in others:
            # the closest name is the function under test: a name close to it only (another
            # backward) is no better a guess, so the other functions are listed instead
            best = None
        shown = sorted(others)[:8] + ([f"… ({len(others) - 8} more)"] if len(others) > 8
                                      else [])
        what_they_are = "its functions" if len(others) == len(names) else \
            "its other functions"
        hint = f"did you mean '{best}'?" if best else \
            (f"{what_they_are}: {', '.join(shown)}" if others else None)
        what = "no function" if fn is None else "not a function:"
        raise LoadError(f"{what} {function!r} in {getattr(module, '__file__', module)}",
                        where=option, hint=hint)
    if verified is not None and _same_function(fn, verified):
        # called as a forward, the backward gets the forward's arguments: a TypeError in every
        # case, whose advice (another style, --arg) would be no help
        others = sorted(n for n, v in vars(module).items() if not n.startswith("_")
                        and callable(v) and getattr(v, "__module__", None) == module.__name__
                        and not _same_function(v, verified))
        raise LoadError(f"{function!r} is the function verified, not its forward", where=option,
                        hint="name the forward function whose cache it takes"
                             + (f": {', '.join(others[:8])}" if others else ""))
    if folder is not None or cwd is not None:
        _FOLDER_OF[id(fn)] = (fn, folder, cwd)
    return fn, module
