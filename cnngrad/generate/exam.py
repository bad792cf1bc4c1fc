"""A class at once: one variant per student of a roster, a manifest, and grading by it.

Each student's variant is seeded from the exam's seed and the student's id
(:func:`~cnngrad.generate.draw.student_seed`), so the same roster and seed give the same
exam again, and a student added later does not change anyone else's problem.  What is handed
to a student (``students/<folder>/``) and their key (``keys/<folder>/``) are in two trees.
The manifest (``manifest.json``) lists every student with their folder, the problem graded
(the keys' copy), the key and the handout; ``cnngrad check --manifest`` reads it to hold each
submission against its student's own problem.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnngrad.errors import TOP_LEVEL, ProblemError, UsageError
from cnngrad.file_kinds import MANIFEST_KEY, is_manifest as is_manifest_document
from cnngrad.generate.draw import student_seed

MANIFEST_VERSION = 1
#: Header names a roster's id column may have (compared without case, spaces or '_').
ID_HEADERS = ("id", "studentid", "student", "sisid", "sisuserid", "username", "login", "email",
              "userid", "matriculation", "matrikelnummer", "netid")
#: Headers of a one-column roster of names: the column is its ids, and this line is no student.
NAME_HEADERS = ("name", "names", "students", "studentname", "fullname")
MAX_STUDENTS = 5000

_FOLDER_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")

#: Names Windows keeps for devices, whatever the case and whatever follows a dot (``con.b``):
#: a folder so named cannot be made or opened there, so a zip of the class would not unpack
_WINDOWS_DEVICES = frozenset(["CON", "PRN", "AUX", "NUL"]
                             + [f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)])


# --------------------------------------------------------------------------- the roster


#: The rows of a roster its separator is judged on.
ROSTER_ROWS_READ = 200


def _delimiter(text: str) -> str:
    """The roster's separator: of comma, semicolon and tab, those that split each of its
    first :data:`ROSTER_ROWS_READ` non-blank rows into the same number of cells, two or more
    (a European spreadsheet's ``id;name``), else those that split each into two or more (a
    row short of a trailing cell); a separator whose header has an id column first (``id;Name,
    Vorname``: the semicolon); else the csv module's guess, else a comma.
    The guess alone took a semicolon or tab file with CRLF line ends and a blank row for one
    column, its header a student."""
    lines = [line for line in text.splitlines() if line.strip()][:ROSTER_ROWS_READ]
    rows = {delimiter: list(csv.reader(lines, delimiter=delimiter))
            for delimiter in (",", ";", "\t")}
    alike = [d for d, split in rows.items() if split and len({len(r) for r in split}) == 1
             and len(split[0]) > 1]
    split_each = [d for d, split in rows.items() if split and min(map(len, split)) > 1]

    def headed(found: list[str]) -> list[str]:
        return [d for d in found if any(_header_key(cell.strip()) in ID_HEADERS
                                        for cell in rows[d][0])]

    for found in (headed(alike), headed(split_each), alike, split_each):
        if found:
            return found[0]
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def read_roster(path: str) -> list[str]:
    """The student ids of a roster CSV: its only column (under a header such as ``name``, or
    none), or the column headed ``id`` (or ``student``, ``username``, ``email``, ...).

    Raises
    ------
    UsageError
        The file cannot be read, is not text, has no ids, has several columns and none is
        headed as an id, or gives an id twice.
    """
    from cnngrad.tensorio import read_source

    try:
        raw, file, _ = read_source(path)
    except ProblemError as unreadable:  # named as the option that gave it, as its other errors
        unreadable.where = unreadable.where or "--students"
        raise
    try:
        # UTF-16 with its byte order mark: Excel's "Unicode Text" (tab-separated)
        text = raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError:
        text = None
    # a NUL is a binary file or UTF-16 without its mark (and Python 3.10's csv module
    # refuses one: "line contains NUL")
    if text is None and b"\0" not in raw:  # text in a code page: Excel's plain "CSV"
        raise UsageError("not UTF-8 text (a CSV in another encoding, as Excel's plain CSV "
                         "saves one?)", where="--students", file=file,
                         hint="save the roster as 'CSV UTF-8'")
    if text is None or "\0" in text:
        raise UsageError("not a text file (UTF-8 CSV expected)", where="--students",
                         file=file)
    delimiter = _delimiter(text)
    # each row with its number in the file, so an error names the row a spreadsheet shows
    rows = [(number, [cell.strip() for cell in row]) for number, row in
            enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)]
    rows = [(number, row) for number, row in rows if any(row)]
    if not rows:
        raise UsageError("the roster has no student ids", where="--students", file=file)
    if len(rows[0][1]) == 1 and _header_key(rows[0][1][0]) not in ID_HEADERS and any(
            len(row) > 1 for _, row in rows[1:]):
        # a header of one cell, no id column's, over rows the separator splits ("Doe, Ann"
        # under "students"): a one-column roster whose ids hold it, each line whole (under
        # "id", "ana,Ana Lima" is an id and a name, as it always was)
        rows = [(number, [line.strip()]) for number, line in
                enumerate(text.splitlines(), start=1) if line.strip()]
    header = [_header_key(cell) for cell in rows[0][1]]
    column = next((header.index(name) for name in ID_HEADERS if name in header), None)
    if column is not None:
        rows = rows[1:]
    elif max(len(row) for _, row in rows) == 1:
        column = 0
        if header[0] in NAME_HEADERS:
            rows = rows[1:]
    else:
        raise UsageError(f"the roster has {len(rows[0][1])} columns and none is headed 'id'",
                         where="--students", file=file,
                         hint="head the column of student ids 'id' (or give a one-column file)")
    ids, seen = [], {}
    for number, row in rows:
        value = row[column] if column < len(row) else ""
        if not value:
            raise UsageError(f"row {number} has no id", where="--students", file=file)
        # Zoë composed and Zoë as e + a combining accent are one name to the matcher
        # (_name_key): one student, given twice
        key = _name_key(value)
        if key in seen:
            raise UsageError(f"id '{key}' is given twice (rows {seen[key]} and {number})",
                             where="--students", file=file)
        seen[key] = number
        ids.append(value)
    if not ids:
        raise UsageError("the roster has a header but no student ids", where="--students",
                         file=file)
    if len(ids) > MAX_STUDENTS:
        raise UsageError(f"{len(ids)} students; at most {MAX_STUDENTS} at once",
                         where="--students", file=file)
    return ids


def _header_key(cell: str) -> str:
    return re.sub(r"[\s_\-]", "", cell.lower())


#: Letters NFKD does not split into a letter and an accent, as their plain letters (``Søren``
#: → ``Soren``, not ``S_ren``)
_PLAIN_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                                "ß": "ss", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d",
                                "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i", "ħ": "h", "Ħ": "H"})


def _folder_base(student: str) -> str:
    """The id as a safe folder name, before any clash is resolved."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", student.translate(_PLAIN_LETTERS))
                    if not unicodedata.combining(c))
    base = _FOLDER_UNSAFE.sub("_", plain).strip("._") or "student"
    stem, dot, rest = base.partition(".")
    if stem.upper() in _WINDOWS_DEVICES:
        base = f"{stem}_{dot}{rest}"
    return base


def folder_names(ids: list[str]) -> dict[str, str]:
    """A safe, distinct folder name for every id (``ana.b@uni.edu`` stays; ``J. Doe`` →
    ``J._Doe``; an accent is dropped, not its letter: ``José`` → ``Jose``, ``Søren`` →
    ``Soren``; a name Windows keeps for a device gets ``_``: ``con`` → ``con_``; a clash gets
    ``-2``).

    A submission is matched by id or by folder (:func:`student_of`), so no folder is another
    student's id: an id that is already a safe folder name keeps it, whatever comes before it
    in the roster (``Zoe`` beside ``Zoë``: ``Zoe`` and ``Zoe-2``), and a folder made from an id
    skips the names of other ids.  Names are compared without case (one folder on Windows and
    macOS)."""
    bases = {student: _folder_base(student) for student in ids}
    # a file named manifest.json among the submissions is the class's manifest (check
    # --manifest says so): a student so named gets a -2
    out, used = {}, {"manifest.json"}
    for student in ids:  # the ids that are their own folder names first
        if bases[student] == student and student.lower() not in used:
            out[student] = student
            used.add(student.lower())
    other_ids = {student.lower() for student in ids}
    for student in ids:
        if student in out:
            continue
        base = bases[student]
        name, k = base, 2
        while name.lower() in used or (name.lower() in other_ids
                                       and name.lower() != student.lower()):
            name, k = f"{base}-{k}", k + 1
        used.add(name.lower())
        out[student] = name
    return {student: out[student] for student in ids}


# --------------------------------------------------------------------------- the class


@dataclass
class Variant:
    student: str
    folder: str
    seed: int
    exercise: Any


#: The trees of a class beside its manifest: each student's handout, and their key.
STUDENTS_TREE, KEYS_TREE = "students", "keys"


def make_class(recipe: str, exam_seed: int, ids: list[str], *, numbers: str | None = None,
               with_kinks: bool = False, sizes: dict | None = None,
               sheets: bool = True) -> list[Variant]:
    """One exercise per student, seeded from the exam seed and the id; its exercise sheet
    is an exam's (it does not tell how to check the answers)."""
    from cnngrad.generate.make import generate, with_sheets

    folders = folder_names(ids)
    variants = []
    for student in ids:
        seed = student_seed(exam_seed, student)
        try:
            exercise = generate(recipe, seed, numbers=numbers, with_kinks=with_kinks,
                                sizes=sizes, quiet_title=True)
        except UsageError as error:
            if error.where == "RECIPE" and error.what.startswith("no hand-friendly"):
                # one variant without a draw sinks the class: whose, and why another --seed
                # (every variant drawn anew) helps less than the style
                error.what = f"student {student}'s variant (seed {seed}): {error.what}"
                if len(ids) > 1:
                    error.hint = (f"{error.hint}; every one of the {len(ids)} students' "
                                  f"variants needs a hand-friendly draw, so for a class the "
                                  f"style is the surer change")
            raise
        if sheets:
            exercise = with_sheets(exercise, exam=True)
        variants.append(Variant(student, folders[student], seed, exercise))
    return variants


def manifest(recipe: str, exam_seed: int, variants: list[Variant], *, numbers: str | None,
             with_kinks: bool, sizes: dict | None) -> dict:
    """The manifest document: how the exam was made and where each student's problem is."""
    first = variants[0].exercise
    return {
        MANIFEST_KEY: MANIFEST_VERSION,
        "recipe": recipe,
        "exam_seed": exam_seed,
        "numbers": first.style.name,
        # as the exercise took it: maxpool-ties has its kink with the flag or without
        "with_kinks": first.with_kinks,
        "options": {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in (first.options or {}).items()},
        "students": {v.student: {"folder": v.folder,
                                 "problem": f"{KEYS_TREE}/{v.folder}/problem.json",
                                 "key": f"{KEYS_TREE}/{v.folder}/key.json",
                                 "handout": f"{STUDENTS_TREE}/{v.folder}", "seed": v.seed}
                     for v in variants},
    }


# --------------------------------------------------------------------------- grading by it


@dataclass
class Manifest:
    file: str
    base_dir: Path
    students: dict[str, dict]

    def problem_path(self, student: str) -> Path:
        # beside the manifest as the command line names it (exam/keys/ana/problem.json), so
        # that a report or an error shows the path the TA typed, not the absolute one
        return self.folder / self.students[student]["problem"]

    @property
    def folder(self) -> Path:
        """The folder the manifest's paths are relative to, as the command line names it."""
        from cnngrad.tensorio import STDIN_NAME

        return self.base_dir if self.file == STDIN_NAME else Path(self.file).parent

    def handed_out(self, student: str) -> Path | None:
        """The folder handed to the student (``exam/students/ana``), or None for a manifest
        that names none (written by an earlier cnngrad, whose students' folders held their
        keys too)."""
        handout = self.students[student].get("handout")
        return self.folder / handout if isinstance(handout, str) else None

    def problem_copies(self, student: str) -> list[Path]:
        """The student's problem graded, and the copy of it handed out."""
        handout = self.handed_out(student)
        return [self.problem_path(student)] + ([handout / "problem.json"] if handout else [])


def read_manifest(path: str) -> Manifest:
    """Read and check a manifest written by ``cnngrad generate --students``."""
    from cnngrad.tensorio import load_json_document, read_source

    raw, file, base_dir = read_source(path)
    document = load_json_document(raw, file)
    if not is_manifest_document(document):
        hint = None
        if isinstance(document, dict) and ("input" in document or "layers" in document):
            hint = ("it is a problem file: grade against one problem without --manifest: "
                    "cnngrad check PROBLEM ANSWERS...")
        raise ProblemError("not a cnngrad exam manifest (made by cnngrad generate --students)",
                           where=TOP_LEVEL, file=file, hint=hint)
    version = document[MANIFEST_KEY]
    if isinstance(version, bool) or version != MANIFEST_VERSION:
        raise ProblemError(f"manifest version {version}; this cnngrad "
                           f"reads version {MANIFEST_VERSION}", where=MANIFEST_KEY,
                           file=file)
    students = document.get("students")
    if students is not None and not isinstance(students, dict):
        from cnngrad.tensorio import _show

        raise ProblemError(f"expected an object of students, {{\"ana\": {{\"problem\": "
                           f"\"keys/ana/problem.json\", ...}}, ...}}, got {_show(students)}",
                           where="students", file=file)
    if not students:
        raise ProblemError("no students", where="students", file=file)
    for student, entry in students.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("problem"), str):
            raise ProblemError("expected {\"problem\": \"<folder>/problem.json\", ...}",
                               where=f"students.{student}", file=file)
        # a student's files are matched by folder name too (student_of): a folder is a name
        for name in ("folder", "handout"):
            if name in entry and not isinstance(entry[name], str):
                raise ProblemError("expected a folder name (a string)",
                                   where=f"students.{student}.{name}", file=file)
    return Manifest(file=file, base_dir=base_dir, students=students)


def is_manifest(path: str) -> bool:
    """Whether ``path`` is a JSON file holding an exam manifest (given where a problem
    was expected, ``check exam/manifest.json ...``); False for anything unreadable."""
    from cnngrad.tensorio import load_json_document, read_source

    if path == "-":
        return False
    try:
        document = load_json_document(read_source(path)[0], path)
    except ProblemError:
        return False
    return is_manifest_document(document)


def student_of(submission: str, manifest: Manifest, root: str | None = None) -> str | None:
    """Whose answers a file holds: its stem (``alice.json``), else its folder
    (``alice/answers.json``) or a folder above it below ``root`` (``alice/hw3/answers.json``
    under ``root`` ``subs``), matched to an id or a student's folder.  A folder at or above
    ``root`` (the folder all the submissions are in: the grader's own, ``/home/ben/subs``)
    names no student; with ``root`` "" every folder the path names may; without ``root``
    only the file's own folder does.  A name that is one student's id and another's folder
    is a UsageError: the manifest does not say whose the file is."""
    path = Path(submission)
    by_id = {_name_key(student): student for student in reversed(manifest.students)}
    by_folder = {_name_key(entry.get("folder", student)): student
                 for student, entry in reversed(manifest.students.items())}
    above = path.parent.parent.parts
    above = above[len(Path(root).parts):] if root is not None else ()
    candidates = [path.stem, path.parent.name, *reversed(above)]
    found: list[tuple[str, str]] = []  # (name in the path, the student it names)
    folder = _name_key(path.parent.name)
    for place, name in enumerate(map(_name_key, candidates)):
        named, housed = by_id.get(name), by_folder.get(name)
        if named is not None and housed is not None and named != housed:
            # a manifest whose folder is another student's id (as generate made them before
            # it kept ids for their own students): either reading may be the wrong problem
            raise UsageError(f"'{name}' is {named}'s id and {housed}'s folder in the "
                             f"manifest: whose answers these are is not clear", file=submission,
                             hint="name the file, and the folder it is in, after the "
                                  "student's id")
        if place == 0 and named is None and housed is not None \
                and housed not in (by_id.get(folder), by_folder.get(folder)):
            # a file named so, not in a folder of the same student's (the folder handed
            # out, Zoe-2/answers.json or Zoe-2/Zoe-2.json, is Zoë's alone)
            _not_a_version_of_another(name, housed, by_id, by_folder, submission)
        if named is not None or housed is not None:
            found.append((name, named if named is not None else housed))
    others = [(name, student) for name, student in found[1:] if student != found[0][1]]
    if others:
        # ben/answers.json where "answers" is a student's id too: the file names one student,
        # its folder another
        (name, student), (other_name, other) = found[0], others[0]
        raise UsageError(f"'{name}' names {student} and '{other_name}' names {other}: whose "
                         f"answers these are is not clear", file=submission,
                         hint="name the file, and the folder it is in, after the student's "
                              "id")
    return found[0][1] if found else None


def _not_a_version_of_another(name: str, housed: str, by_id: dict, by_folder: dict,
                              submission: str) -> None:
    """A UsageError when ``name``, a file's, is only ``housed``'s folder, numbered for a
    clash of ids (``Zoe-2``, the folder of Zoë beside Zoe's ``Zoe``), and its name without
    the number is another student's: ``Zoe-2.json`` reads as Zoe's second version as well as Zoë's
    answers, and grading it as either may grade it against the wrong problem."""
    import re

    numbered = re.fullmatch(r"(.+)-\d+", name)
    if numbered is None:
        return
    base = numbered.group(1)
    other = by_id.get(base, by_folder.get(base))
    if other is None or other == housed:
        return
    raise UsageError(f"'{name}' is {housed}'s folder, and reads as a second version of "
                     f"{other}'s answers: whose answers these are is not clear",
                     file=submission, hint=f"name the file after the student's id: "
                                           f"{housed}.json or {other}.json")


def near_student(submission: str, manifest: Manifest) -> str | None:
    """The student a file of no student was most likely meant for, as ``id 'Ana Lima'
    (folder Ana_Lima)``: the file's or its folder's name matched loosely (case, accents,
    spaces, hyphens, underscores, apostrophes and a copy's `` (1)`` aside), else by
    spelling; None when none is close.  Only said, never graded on: a loose match can be
    another student (Zoë Ng and Zoe Ng)."""
    import difflib
    import re
    import unicodedata

    def loose(name: str) -> str:
        name = re.sub(r"\s*\(\d+\)$", "", _name_key(name))
        bare = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        return re.sub(r"[\s_\-'’.]+", "", bare).casefold()

    def cased(name: str) -> str:  # as written but for its letters' case and a copy's (1)
        return re.sub(r"\s*\(\d+\)$", "", _name_key(name)).casefold()

    path = Path(submission)
    names: dict[str, list[str]] = {}
    by_case: dict[str, list[str]] = {}
    for student, entry in manifest.students.items():
        folder = entry.get("folder", student)
        shown = f"id '{student}'" + (f" (folder {folder})" if folder != student else "")
        for name in (student, folder):
            for table, key in ((names, loose(name)), (by_case, cased(name))):
                if shown not in table.setdefault(key, []):
                    table[key].append(shown)
    # a name as written but for its letters' case first: zoe.json is Zoe's before Zoë's;
    # students alike at the looser reading are named together, never one of them by the
    # roster's order
    for table, key in ((by_case, cased), (names, loose)):
        for name in (path.stem, path.parent.name):
            if key(name) in table:
                return " or ".join(table[key(name)])
    for name in (path.stem, path.parent.name):  # a slip of the keyboard: anna_lima
        typed = loose(name)
        scores = sorted(((difflib.SequenceMatcher(None, typed, known).ratio(), known)
                         for known in names), reverse=True)
        if scores and scores[0][0] >= 0.8:
            if len(scores) > 1 and scores[1][0] == scores[0][0]:
                continue  # s0003 is as close to s0000 as to s0001: no one named by chance
            return " or ".join(names[scores[0][1]])
    # a short name's slip scores under the cutoff (bem for ben: 0.67): one letter wrong,
    # missing, extra or swapped, when it fits one student alone (s03 fits s00, s01, s02)
    for name in (path.stem, path.parent.name):
        typed = loose(name)
        within = [known for known in names if len(typed) >= 3 and _one_slip(typed, known)]
        if len(within) == 1:
            return " or ".join(names[within[0]])
    return None


def _one_slip(typed: str, name: str) -> bool:
    """Whether ``typed`` is ``name`` with one letter wrong, missing, extra, or two
    neighbours swapped (one edit of Damerau and Levenshtein)."""
    if abs(len(typed) - len(name)) > 1 or typed == name:
        return False
    start = next((k for k, (a, b) in enumerate(zip(typed, name)) if a != b),
                 min(len(typed), len(name)))
    if len(typed) == len(name):
        return (typed[start + 1:] == name[start + 1:]
                or typed[start:start + 2] == name[start:start + 2][::-1]
                and typed[start + 2:] == name[start + 2:])
    shorter, longer = sorted((typed, name), key=len)
    return shorter[start:] == longer[start + 1:]


def student_named(manifest: Manifest, given: str) -> str | None:
    """The student ``given`` names (--student): an id as written, else a student's folder,
    else an id or folder in another case (an email in capitals), when one student's alone;
    no path is read into it (``2023/001`` is an id).  None when it names none."""
    key = _name_key(given)
    for named in (lambda student, entry: _name_key(student),
                  lambda student, entry: _name_key(entry.get("folder", student))):
        found = [student for student, entry in manifest.students.items()
                 if named(student, entry) == key]
        if found:
            return found[0]
    folded = [student for student, entry in manifest.students.items()
              if key.casefold() in (_name_key(student).casefold(),
                                    _name_key(entry.get("folder", student)).casefold())]
    return folded[0] if len(folded) == 1 else None


def _name_key(name: str) -> str:
    """A file's or an id's name as matched: composed Unicode (a file saved on macOS, or
    unzipped from there, writes ``José`` as ``e`` and a combining accent, the roster as one
    ``é``) and without the spaces around it that the roster's cells lose too."""
    import unicodedata

    return unicodedata.normalize("NFC", name).strip()


def group_submissions(manifest: Manifest, submissions: list[str]
                      ) -> tuple[dict[str, list[str]], list[tuple[str, UsageError]]]:
    """Submission files by student, in the manifest's order, and the files of no student
    with the error that says so."""
    grouped: dict[str, list[str]] = {}
    strays = []
    root = _common_folder(submissions)
    files = [submission for submission in submissions if submission != "-"]
    if len(files) == 1 and not Path(files[0]).is_absolute():
        # one student's file regraded alone (ana/hw3/answers.json): the folders its path
        # names, the ones typed, may be the student's, as they are beside other students'
        root = ""
    for submission in submissions:
        try:
            student = student_of(submission, manifest, root)
        except UsageError as unclear:
            strays.append((submission, unclear))
            continue
        if student is None:
            near = near_student(submission, manifest)
            strays.append((submission, UsageError(
                "not a student of the manifest (named neither by the file nor by its folder)",
                file=submission, hint="name the file or its folder after the student's id"
                + (f"; the closest is {near}" if near else ""))))
            continue
        grouped.setdefault(student, []).append(submission)
    order = list(manifest.students)
    return {student: grouped[student] for student in order if student in grouped}, strays


def _common_folder(submissions: list[str]) -> str | None:
    """The folder all the submission files are in (``subs`` for ``subs/ana/answers.json``
    and ``subs/ben/answers.json``; a single file's own folder), or None when they have none
    in common as given (a relative path beside an absolute one)."""
    import os

    folders = [str(Path(submission).parent) for submission in submissions if submission != "-"]
    if not folders:
        return None
    try:
        return str(Path(os.path.commonpath(folders)))
    except ValueError:
        return None


def json_text(document: dict) -> str:
    from cnngrad.generate.jsontext import dumps
    from cnngrad.generate.numbers import STYLES

    return dumps(document, STYLES["int"])
