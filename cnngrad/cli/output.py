"""Writing a result: to standard output, or to ``-o FILE`` as the shell's ``>`` would, only
atomically.

``-o FILE`` writes a temporary file in FILE's folder and renames it into place once the
whole text is written, so a failed run never leaves a partial file and an existing one is
untouched.  Beyond that it behaves like ``>``:

- a target that is not a regular file (a FIFO, ``/dev/null``, ``/dev/stdout``, a terminal)
  is written directly, never replaced by a regular file;
- a read-only file is refused ("permission denied"), as ``>`` refuses it;
- an existing file keeps its permission bits (a private ``0600`` grades file stays private)
  and, where the user may set them, its owner and group; a new file gets ``0666 & ~umask``;
- ``-o out/`` or ``-o missing/out.json`` is an error naming the folder.

Text from input files (a title, a layer name, an answers file's strings) may hold control
characters or terminal escape sequences: :func:`escape_controls` shows them as ``\\u001b``
so that no file can drive the terminal of the person reading its report.  Every text
written here goes through it, except a Rich report rendered for a terminal
(:class:`TerminalText`), whose own colour codes are wanted and whose input text was escaped
piece by piece before the colours were added.

Standard output that is closed, full or a pipe whose reader has gone is one error line (or,
for a reader that has all it wanted, a quiet exit 0), never a traceback.
"""

import errno
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Optional, Union

from cnngrad.errors import CnnGradError, UsageError
from cnngrad.render import escape_controls  # noqa: F401  (re-exported)

#: Temporary files being written: a SIGTERM handler removes them (see cnngrad.cli.main).
PENDING: set[str] = set()


class TerminalText(str):
    """A Rich report rendered for a terminal: its escape codes are its colours."""


class OutputError(CnnGradError):
    """The result cannot be written (standard output closed or full, a bad ``-o`` target)."""


#: What an ``-o`` naming a folder is told (generate, whose -o is a folder, words it anew).
IS_A_FOLDER = "is a folder, not a file"


Target = Union[str, Path, None]

#: A streamed result (an iterable of pieces of text) is written in blocks of about this size.
STREAM_BLOCK = 1 << 20


def _blocks(pieces: Iterable[str]) -> Iterator[str]:
    """Pieces of text joined into blocks of about :data:`STREAM_BLOCK` characters, escaped."""
    block: list[str] = []
    size = 0
    for piece in pieces:
        block.append(piece)
        size += len(piece)
        if size >= STREAM_BLOCK:
            yield escape_controls("".join(block))
            block, size = [], 0
    if block:
        yield escape_controls("".join(block))


def short_name(name: str) -> str:
    """A file name short enough for a one-line message."""
    name = escape_controls(name)
    return name if len(name) <= 80 else f"{name[:38]}…{name[-38:]}"


def os_reason(exc: OSError) -> str:
    return {errno.ENOSPC: "no space left on device", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.EROFS: "read-only file system",
            errno.ENAMETOOLONG: "the file name is too long",
            errno.ELOOP: "too many levels of symbolic links",
            errno.EDQUOT: "disk quota exceeded"}.get(
        exc.errno, (exc.strerror or str(exc) or type(exc).__name__))


# --------------------------------------------------------------------------- standard output


def _stdout_closed() -> None:
    """Make Python's own flush at exit harmless once standard output has failed."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except (OSError, ValueError):
        pass


def stream_encoding(stream) -> str:
    """How cnngrad encodes what it writes to standard output or standard error.

    A file or a pipe gets UTF-8, the bytes ``-o FILE`` writes, whatever the locale says
    (Windows gives a redirected stream its ANSI code page, in which ─, δ and − became
    backslash escapes such as ``\\u2500`` in every table).  A terminal keeps its own encoding
    (UTF-8 on every terminal Python 3.8 and later drive); what it cannot show is escaped.
    A text stream without a byte buffer to write to encodes in its own encoding too."""
    own = getattr(stream, "encoding", None) or "utf-8"
    if getattr(stream, "buffer", None) is None:
        return own
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        terminal = False
    return own if terminal else "utf-8"


def stdout_as_reports() -> None:
    """Standard output's text layer encoding as :func:`stream_encoding` says, escaping what it
    cannot encode: what click and typer write through it themselves (``--help``,
    ``--version``) then reads as the reports do, where a Latin-1 or cp1252 stream (Windows'
    redirected output) failed on the first η or δ of a help text."""
    stream = sys.stdout
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is None or getattr(stream, "buffer", None) is None:
        return
    try:
        reconfigure(encoding=stream_encoding(stream), errors="backslashreplace")
    except (LookupError, OSError, ValueError):  # an unknown codec, a closed stream
        pass


def write_stdout(text: str) -> None:
    """``text`` to standard output; a reader that went away (``| head``) is a quiet success,
    a closed or full standard output one error line."""
    stream = sys.stdout
    if stream is None:  # `cnngrad ... >&-`
        raise OutputError("cannot write standard output: it is closed")
    buffer = getattr(stream, "buffer", None)
    encoding = stream_encoding(stream)
    try:
        data = text.encode(encoding, "backslashreplace")
    except LookupError:
        data = text.encode("utf-8", "backslashreplace")
    try:
        if buffer is None:
            stream.write(data.decode(encoding, "replace"))
            stream.flush()
        else:
            stream.flush()
            buffer.write(data)
            buffer.flush()
    except BrokenPipeError:  # `cnngrad ... | head`: the reader has all it wanted
        _stdout_closed()
        import typer

        raise typer.Exit(0) from None
    except (OSError, ValueError) as exc:
        _stdout_closed()
        if isinstance(exc, ValueError) or exc.errno == errno.EBADF:  # closed under us
            raise OutputError("cannot write standard output: it is closed") from None
        raise OutputError(f"cannot write standard output: {os_reason(exc)}") from None


def flush_stdout() -> Optional[str]:
    """Flush standard output (what ``--help`` or a plain ``echo`` left in it); the reason it
    failed, or None."""
    stream = sys.stdout
    if stream is None:
        return None
    try:
        stream.flush()
    except BrokenPipeError:
        _stdout_closed()
    except (OSError, ValueError) as exc:
        _stdout_closed()
        if isinstance(exc, OSError) and exc.errno != errno.EBADF:
            return os_reason(exc)
    return None


# --------------------------------------------------------------------------- -o FILE


#: What a protected file is, unless its caller says (``protected`` of :class:`PendingOutput`).
INPUT_FILE = "one of the problem's own input files"


def protected_as(target, protected) -> Optional[str]:
    """What ``target`` is when it is one of the ``protected`` files (also through a symlink or
    a hard link), else None.  Each of them is a file, or (file, what it is): "an answers
    file", "the file of your function"; a bare file is :data:`INPUT_FILE`."""
    for source in protected:
        source, what = source if isinstance(source, tuple) else (source, INPUT_FILE)
        try:
            if os.path.samefile(source, target):
                return what
        except (OSError, ValueError):
            continue
    return None


class PendingOutput:
    """One output being written: ``commit()`` puts it in place, ``discard()`` forgets it.
    Standard output (``target`` None) is written on commit."""

    def __init__(self, text: Union[str, bytes, Iterable[str]], target: Target, protected,
                 option: str):
        self.option = option
        self.name = None if target is None else str(target)
        self.temp: Optional[str] = None
        self.direct: Optional[str] = None  # a FIFO or device, written on commit
        self.final: Optional[Path] = None
        # a streamed result: formatted while it is written, never whole in memory
        self.blocks = None if isinstance(text, (str, bytes)) else _blocks(text)
        if self.blocks is not None:
            self.text = self.data = None
            if self.name is not None:
                self._prepare(list(protected))
            return
        if not isinstance(text, (bytes, TerminalText)):
            text = escape_controls(text)
        if self.name is None:
            if isinstance(text, bytes):
                raise UsageError("binary output needs a file", where=option)
            self.text = text
            return
        self.data = text if isinstance(text, bytes) else text.encode("utf-8", "backslashreplace")
        self._prepare(list(protected))

    def _fail(self, what: str, hint: Optional[str] = None) -> OutputError:
        return OutputError(what, where=self.option, file=self._display(), hint=hint)

    def _display(self) -> str:
        """The file as typed, normalised as a path is (``./r.json`` is ``r.json``)."""
        if not self.name or "\0" in self.name:
            return repr(self.name)
        slash = "/" if self.name.endswith(("/", os.sep)) and self.name.strip("/" + os.sep) else ""
        return short_name(str(Path(self.name)) + slash)

    def _prepare(self, protected: list) -> None:
        name = self.name
        if not name:
            raise self._fail("no file name given")
        if "\0" in name:
            raise self._fail("not a valid file name")
        if name.endswith(("/", os.sep)) or os.path.basename(name) in (".", ".."):
            folder = name.rstrip("/" + os.sep) or os.sep
            if os.path.isdir(folder):
                raise self._fail(IS_A_FOLDER, "give a file name inside it")
            raise UsageError(f"folder {short_name(folder)!r} does not exist", where=self.option,
                             file=self._display(), hint="make the folder first, or drop the "
                                                        "trailing '/' to name a file")
        path = Path(name)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None
        except NotADirectoryError:
            raise self._fail(f"{short_name(str(path.parent))!r} is not a folder") from None
        except OSError as exc:
            raise self._fail(f"cannot write there: {os_reason(exc)}") from None
        what = None if info is None else protected_as(path, protected)
        if what is not None:
            raise self._fail(f"refusing to overwrite {what}")
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise self._fail(IS_A_FOLDER, "give a file name inside it")
        if _written_into(name, info):
            self.direct = name
            if self.blocks is not None:  # written on commit, as it is
                self.data = "".join(self.blocks).encode("utf-8", "backslashreplace")
                self.blocks = None
            return
        try:
            final = path.resolve()  # through a symlink: replace the file it points to
        except (OSError, RuntimeError) as exc:
            raise self._fail(f"cannot write there: {exc}") from None
        folder = final.parent
        if not folder.is_dir():
            shown = str(path.parent) if str(path.parent) != "." else str(folder)
            raise UsageError(f"folder {short_name(shown)!r} does not exist", where=self.option,
                             file=self._display(), hint="make the folder first")
        # root may write anything, but a file nobody may write is meant to stay as it is
        if info is not None and (not os.access(final, os.W_OK) or not info.st_mode & 0o222):
            raise self._fail("permission denied: the file is read-only",
                             "make it writable (chmod u+w) or write elsewhere")
        import tempfile  # only when writing a file: it costs every start-up otherwise

        try:
            handle, temp = tempfile.mkstemp(prefix=f".{final.name[:40]}.", suffix=".tmp",
                                            dir=folder)
        except OSError as exc:
            raise self._fail(f"cannot write there: {os_reason(exc)}") from None
        self.temp, self.final = temp, final
        PENDING.add(temp)
        try:
            with os.fdopen(handle, "wb") as stream:
                if self.blocks is None:
                    stream.write(self.data)
                else:
                    for block in self.blocks:
                        stream.write(block.encode("utf-8", "backslashreplace"))
            if info is not None:  # keep the mode (a private file stays private) and owner
                os.chmod(temp, stat.S_IMODE(info.st_mode))
                if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                    try:
                        os.chown(temp, info.st_uid, info.st_gid)
                    except OSError:
                        try:  # at least the group, when the user belongs to it
                            os.chown(temp, -1, info.st_gid)
                        except OSError:
                            pass
                        # a file owned by another user: never wider than it was
                        os.chmod(temp, stat.S_IMODE(info.st_mode) & 0o700)
            else:
                os.chmod(temp, 0o666 & ~_umask())  # mkstemp's 0600 is not what `>` makes
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                raise self._fail(f"cannot write there: {exc.strerror or exc}") from None
            raise

    def commit(self) -> None:
        if self.name is None:
            if self.blocks is None:
                write_stdout(self.text)
            else:
                for block in self.blocks:
                    write_stdout(block)
            return
        if self.direct is not None:
            descriptor = _descriptor_of(self.direct)
            if descriptor == 1:  # /dev/stdout: this process's own standard output
                write_stdout(self.data.decode("utf-8", "surrogateescape")
                             if not isinstance(self.data, str) else self.data)
                return
            if descriptor is not None:  # /dev/stderr, /dev/fd/3: the open file, as it is
                try:
                    if descriptor == 2 and sys.stderr is not None:
                        sys.stderr.flush()
                    view = memoryview(self.data)
                    while view:
                        view = view[os.write(descriptor, view):]
                except BrokenPipeError:
                    return
                except OSError as exc:
                    raise self._fail(f"cannot write there: {os_reason(exc)}") from None
                return
            try:
                descriptor = os.open(self.direct, os.O_WRONLY | os.O_TRUNC
                                     if _regular(self.direct) else os.O_WRONLY)
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(self.data)
            except BrokenPipeError:
                return
            except OSError as exc:
                raise self._fail(f"cannot write there: {os_reason(exc)}") from None
            return
        try:
            os.replace(self.temp, self.final)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                raise self._fail(f"cannot write there: {exc.strerror or exc}") from None
            raise
        PENDING.discard(self.temp)
        self.temp = None

    def discard(self) -> None:
        if self.temp is not None:
            try:
                os.unlink(self.temp)
            except OSError:
                pass
            PENDING.discard(self.temp)
            self.temp = None


def written_directly(name: str) -> bool:
    """Whether an output named ``name`` is written into it as it is, never replaced by a
    file renamed over it: a device, a pipe or a terminal, or an open file named through its
    descriptor (``/dev/stdout`` led to a file by the shell).  Such a target may be named
    anything."""
    try:
        return _written_into(name, os.stat(name))  # as -o writes: a target that is there
    except (OSError, ValueError):
        return False


def _written_into(name: str, info: Optional[os.stat_result]) -> bool:
    """:func:`written_directly` of ``name`` whose ``os.stat`` is ``info`` (None: nothing is
    there, so a file is made).  Raises where the current folder is gone, whatever ``info``
    (:func:`_through_descriptor`): -o's writer says so of a folder deleted under it."""
    through = _through_descriptor(name)
    return info is not None and (not stat.S_ISREG(info.st_mode) or through)


def _through_descriptor(name: str) -> bool:
    """Whether ``name`` names an open file by its descriptor (/dev/stdout, /dev/fd/3,
    /proc/self/fd/1): written into, never renamed over what it resolves to (the shell's
    open file would miss the result).  Raises as :func:`os.path.abspath` does where the
    current folder is gone."""
    return re.match(r"/(dev/(stdout|stderr|fd/)|proc/[^/]+/fd/)",
                    os.path.abspath(name)) is not None


def _descriptor_of(name: str) -> Optional[int]:
    """The file descriptor ``/dev/stdout``, ``/dev/fd/3`` or ``/proc/self/fd/3`` names."""
    path = os.path.abspath(name)
    named = {"/dev/stdout": 1, "/dev/stderr": 2, "/dev/stdin": 0}.get(path)
    if named is not None:
        return named
    match = re.fullmatch(r"/dev/fd/(\d+)|/proc/(?:self|%d)/fd/(\d+)" % os.getpid(), path)
    if match:
        return int(match.group(1) or match.group(2))
    return None


def _regular(name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name).st_mode)
    except OSError:
        return False


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _file_key(name: str):
    """Which file a target names, as one value to compare: an existing regular file's device
    and inode (a symlink or a hard link to it has the same), a name not there yet its real
    path; None for anything else (a device such as /dev/null may take every output)."""
    try:
        if os.path.exists(name):
            status = os.stat(name)
            return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None
        return os.path.realpath(name)
    except (OSError, ValueError):
        return None


def refuse_one_file_twice(targets: list) -> None:
    """``-o r.txt --save-svg r.txt``: the second would silently replace the first.  One key
    per target, so a class's thousands of files are checked in one pass, not pair by pair
    (200 students' 1,401 files took 16 s that way)."""
    seen: dict = {}
    for target, option in targets:
        if target is None:
            continue
        name = str(target)
        key = _file_key(name)
        if key is None:
            continue
        if key in seen:
            earlier_option = seen[key]
            raise UsageError(f"is also the {earlier_option} file, which it would replace",
                             where=option, file=short_name(str(Path(name))),
                             hint=f"give {option} and {earlier_option} different files")
        seen[key] = option


def write_outputs(*outputs: tuple) -> None:
    """Write several outputs all or nothing, each ``(text, target, protected, option)``:
    every file is written to its temporary first; only when all of them are does any
    take its place (``--save-svg`` is never left behind by a run that failed)."""
    refuse_one_file_twice([(target, option) for _, target, _, option in outputs])
    pending: list[PendingOutput] = []
    try:
        for text, target, protected, option in outputs:
            pending.append(PendingOutput(text, target, protected, option))
        # what cannot be undone first — a device or FIFO written through, then standard
        # output: when one fails (full, closed), no file takes its place by a rename
        for item in sorted(pending, key=lambda item: (item.direct is None,
                                                      item.name is not None)):
            item.commit()
    finally:
        for item in pending:
            item.discard()


def write_files_into_folders(*outputs: tuple, writer: str, option: str) -> None:
    """:func:`write_outputs` of files into folders made as they need: every file and its
    folders, or none of them (the folders made are removed again, if still empty, when the
    writing fails).  A folder where a file goes is said as one ``writer`` writes into
    (``generate writes``, ``the sample has``), with ``option`` (``-o``, ``--to``) naming
    the folder to give instead: "give a file name inside it" would be the wrong advice."""
    import contextlib

    made: list[Path] = []
    try:
        for _, target, _, _ in outputs:
            parent = Path(target).parent
            missing = [folder for folder in [parent, *parent.parents] if not folder.exists()]
            # before mkdir: one that fails half way has made some of them
            made += [folder for folder in reversed(missing) if folder not in made]
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"cannot write there: {exc.strerror}", where=option,
                                 file=str(target)) from None
        try:
            write_outputs(*outputs)
        except OutputError as error:
            if error.what == IS_A_FOLDER:
                error.what = f"is a folder, where {writer} a file of that name"
                error.hint = f"move or rename the folder, or give {option} another folder"
            raise
    except BaseException:
        for folder in reversed(made):  # a file's folder before the folder that holds it
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise


def write_output(text: Union[str, bytes, Iterable[str]], output: Target, protected,
                 option: str = "--output") -> None:
    """``text`` to standard output (``output`` None) or atomically to the file ``output``.
    ``option`` is what an error names (``--save-svg`` writes through here too).  ``bytes``
    (an .npz) go to a file only: the caller asks for one.  ``text`` may be an iterable of
    pieces: a big result, formatted while it is written."""
    write_outputs((text, output, protected, option))


def remove_pending() -> None:
    """Remove every temporary file still being written (on SIGTERM)."""
    for temp in list(PENDING):
        try:
            os.unlink(temp)
        except OSError:
            pass
        PENDING.discard(temp)


__all__ = ["OutputError", "TerminalText", "escape_controls", "flush_stdout", "protected_as",
           "refuse_one_file_twice", "remove_pending", "write_output", "write_outputs",
           "write_stdout", "stream_encoding"]
