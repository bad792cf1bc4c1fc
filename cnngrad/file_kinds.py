"""Which of cnngrad's JSON files a document is, told from its top-level keys.

cnngrad reads and writes several kinds of JSON file: problems, answers files
(``{"conv2d_1.grads.kernel": ...}``), its own ``--format json`` results, check's grade
reports and generate's exam manifests.  A file given where another kind was expected is
named in the error's hint, with the command that reads it.

Every kind is told by its top-level keys and the JSON types of their values, nothing deeper,
so that a big file whose keys alone were read (``cli.common._keys_first``, with a value of
the right type standing in for each member) is told the same as the whole document.
"""

from __future__ import annotations

import re

#: A layer's name: ASCII letters, digits, '_' and '-', not starting with '-' (a command line
#: would read it as an option); a digit may start it, as torch's nn.Sequential names its
#: layers "0", "1", ...  No '.', which dotted paths split at (torch refuses it too).  The
#: problem's reader, the schema and the paths below all use this one.
NAME_TEXT = r"[A-Za-z0-9_][A-Za-z0-9_\-]*"
#: A dotted path as written (``conv2d_1.grads.kernel``; a layer's name may start with a
#: digit, ``0.output``, and so may an input's in ``add_1.delta_in.0``), and an element's
#: index after it.
PATH_TEXT = re.compile(rf"{NAME_TEXT}(?:\.{NAME_TEXT})*")
INDEX_TEXT = re.compile(r"(?:\[\s*[+-]?\d+(?:\s*,\s*[+-]?\d+)*\s*\])+", re.ASCII)

#: A dotted path with an element's index in parentheses or braces, ``kernel(0,1)``, as a
#: textbook or MATLAB writes it.
_OTHER_BRACKETS = re.compile(r"\s*([^\s(){}\[\]]+)\s*[({]\s*([+-]?\d+(?:\s*,\s*[+-]?\d+)*)"
                             r"\s*[)}]\s*", re.ASCII)


def bracketed_key(key: str) -> str | None:
    """``conv2d_1.grads.kernel(0,1)`` → ``conv2d_1.grads.kernel[0,1]``: a path whose index
    is in parentheses or braces, written with the brackets cnngrad reads; None for any other
    text."""
    match = _OTHER_BRACKETS.fullmatch(key)
    if match is None or not PATH_TEXT.fullmatch(match.group(1)):
        return None
    index = ",".join(re.split(r"\s*,\s*", match.group(2)))
    return f"{match.group(1)}[{index}]"


#: the key that marks a manifest written by ``generate --students``
MANIFEST_KEY = "cnngrad_manifest"


def result_path(key: str) -> str | None:
    """``conv2d_1.grads.kernel[0,1]`` → ``conv2d_1.grads.kernel``: the tensor of a dotted
    result path, or None for a key that is not one (``kernel``, ``layers``, ``a b``).
    Only the form is looked at: whether the index is in range is the checking's business."""
    base, bracket, rest = key.strip().partition("[")
    base = base.strip()
    if "." not in base or not PATH_TEXT.fullmatch(base):
        return None
    if bracket and not INDEX_TEXT.fullmatch("[" + rest):
        return None
    return base


def answered_path(document: dict) -> str | None:
    """The first result path an answers document answers, when every key is a dotted result
    path (``loss`` besides), else None.  A problem with a misspelt key (``input.csv``) is
    not one: its other keys are not paths."""
    paths = [result_path(str(key)) for key in document]
    if not any(paths) or any(path is None and str(key).strip() != "loss"
                             for key, path in zip(document, paths)):
        return None
    return next(path for path in paths if path)


def is_result(document: dict) -> bool:
    """A ``--format json`` result: its ``cnngrad`` version and ``layers`` list.  No answers
    file has both: a path is never a bare layer name, so ``"layers"`` is not a path."""
    return isinstance(document.get("cnngrad"), str) and isinstance(document.get("layers"),
                                                                   list)


def is_problem(document: dict) -> bool:
    """A problem file: its ``input`` and its ``layers`` (or the one-conv shorthand's
    ``kernel``).  No answers file has an ``input`` key: ``input`` is no layer's name."""
    return "input" in document and ("layers" in document or "kernel" in document)


def grades_format(document: dict) -> str | None:
    """The ``check`` output a document is, if it is one: Gradescope's results.json (``score``
    and a ``tests`` list) or the gradebook of ``--format json`` (its ``cnngrad`` version and
    ``files``).  No path is a bare ``score``, ``tests`` or ``files``."""
    if isinstance(document.get("tests"), list) and "score" in document:
        return "check --format gradescope"
    if isinstance(document.get("cnngrad"), str) and isinstance(document.get("files"), list):
        return "check --format json"
    return None


def is_manifest(document: object) -> bool:
    """An exam manifest (``generate --students``)."""
    return isinstance(document, dict) and MANIFEST_KEY in document


def not_a_problem_hint(document: dict) -> str | None:
    """What to do with a document given as a problem that is another of cnngrad's files,
    or None when it is none of them (a document with an ``input`` is a problem, whatever
    else it holds)."""
    if "input" in document:
        return None
    if is_result(document):
        return ("this is cnngrad's own output (--format json), not a problem: give the "
                "problem file")
    made_by = grades_format(document)
    if made_by is not None:
        return f"this is a grade report ({made_by}), not a problem: give the problem file"
    if is_manifest(document):
        return ("this is an exam manifest (generate --students), not a problem: give it to "
                "cnngrad check --manifest")
    if answered_path(document) is not None:
        return ("this looks like an answers file (paths as keys): check it against its "
                "problem with cnngrad check PROBLEM ANSWERS")
    return None
