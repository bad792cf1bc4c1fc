"""``cnngrad check --manifest manifest.json SUBMISSIONS...``: a generated exam graded, each
submission against its own student's problem, into one gradebook.

A submission is its student's by its name (``ana.json``) or its folder (``ana/answers.json``,
``submissions/ana/answers.json``), matched to the manifest's ids and folders.  Each student's
problem is run once; its ``grading`` block (points, decimals, carried-forward errors) applies
as in a plain ``check``, with the command line's options winning.  A file that matches no
student is an ``error`` row; the others are still graded.  A student of the manifest with no
file has no row, and a note names them (a gradebook of two or more files).  Two files of one
student are both graded, a row each (the gradebook lists the submissions given), with a note
naming them: a resubmission or a misnamed file is the TA's to settle, not cnngrad's to guess.
"""

import dataclasses
from collections.abc import Callable
from pathlib import Path

import typer

from cnngrad.cli.common import (compute, note_later, one_line, render_rich, report_error,
                                same_file, write_output)
from cnngrad.errors import TOP_LEVEL, ProblemError, UsageError


def check_manifest(manifest_file: str, submissions: list[str], *, fmt: str, output,
                   decimals: int, details: bool, diagnose: bool, one_based: bool,
                   carry_forward, exact: bool, lr, max_elements: int,
                   tolerance_of: Callable, visibility: str = "visible",
                   folders_held: dict[str, str] | None = None,
                   student: str | None = None) -> None:
    """Grade ``submissions`` by the manifest and write the gradebook (exit code as ``check``:
    0 all right, 1 a wrong or missing answer, 2 a file that could not be checked).
    ``student`` (--student): the student every submission belongs to, whatever its name."""
    from cnngrad.cli.check import (answers_protected, named_by_answers, named_by_stdin,
                                   named_in_results)
    from cnngrad.generate.exam import group_submissions, read_manifest
    from cnngrad.teach.check import (FileCheck, check_files, exit_code, folder_of,
                                     per_path_groups, required_weights)
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.grading import grading_of, student_names

    if "-" in submissions:
        raise UsageError("with --manifest every submission is a file named after its student",
                         where="ANSWERS")
    manifest = read_manifest(manifest_file)
    # a submission gradescope's results.json cannot stand for: refused, but with -f gradescope
    # only once that results.json is written (0 points, this error as its output), since an
    # autograder must leave one behind (a student who uploaded two files reads why)
    too_many: UsageError | None = None
    if student is not None and len(submissions) > 1 and not _one_folder_per_path(submissions):
        # several students' files graded as one student's would be silently wrong
        too_many = UsageError(f"it names the student of one submission; got "
                              f"{len(submissions)} files", where="--student",
                              hint="give one answers file (or one folder of a file per "
                                   "path), or leave --student out and name each file after "
                                   "its student")
        if fmt != "gradescope":
            raise too_many
    if student is not None:
        try:
            grouped, strays = {_student_named(manifest, student): list(submissions)}, []
        except UsageError as unknown:
            if fmt != "gradescope":
                raise
            # the autograder still leaves a results.json: the error as its output
            grouped, strays = {}, [(path, unknown) for path in submissions]
    else:
        grouped, strays = group_submissions(manifest, submissions)
    # one submission: one file, or one student's folder of one file per path (its files
    # one path each: known without the problem, whose paths are checked when graded)
    one_folder = len(grouped) == 1 and not strays and _one_folder_per_path(submissions)
    if fmt == "gradescope" and len(submissions) > 1 and not one_folder and too_many is None:
        too_many = _not_one_submission(submissions)
    results = []
    merged: dict[str, list[str]] = {}  # each student's answers as graded (a folder's as one)
    protected = [(Path(manifest_file), "the manifest")] + [
        (Path(path), "a student's submission") for path in submissions]
    # every student's problem and key, graded here or not: -o never replaces one
    protected += [(manifest.base_dir / str(entry[name]), f"a student's {name}")
                  for entry in manifest.students.values()
                  for name in ("problem", "key") if isinstance(entry.get(name), str)]
    # and the files generate wrote beside them (exercise.md, solution.tex, ...), in the
    # keys' folder and in the one handed out
    from cnngrad.cli.generate import FILES

    protected += [(folder / name, "a student's " + {"problem.json": "problem",
                                                   "key.json": "key"}.get(name, name))
                  for entry in manifest.students.values()
                  for folder in _generated_folders(manifest, entry)
                  for name in FILES]
    first = None  # the grading and rule of the first student: the gradebook's header
    for student, files in grouped.items():
        try:
            spec, trace = compute(str(manifest.problem_path(student)), exact=exact,
                                  max_elements=max_elements, dtype="float64", lr=lr, quick={},
                                  one_based=one_based, grading_read=True)
            grading = grading_of(spec)
            if carry_forward is not None:
                grading = dataclasses.replace(grading, carry_forward=carry_forward)
            tolerance = tolerance_of(grading)
            required_weights(trace, grading)
        except ProblemError as error:
            # one student's problem moved or edited by hand (its grading block too): their
            # rows say so, and the rest of the class is still graded
            results += [FileCheck(file=path, error=error, student=student) for path in files]
            continue
        protected += list(spec.input_files)
        first = first or (spec.file, grading, tolerance)
        if too_many is not None:  # the results.json's tests are this problem's, at 0
            results.append(FileCheck(file=", ".join(files), error=too_many, student=student))
            continue
        context = SlipContext(trace)
        # a folder of files of one path each is one set of answers (per_path_groups)
        groups = per_path_groups(files, trace)
        results += [FileCheck(file=group[0], error=_problem_given(group[0], manifest, student),
                              student=student)
                    if _is_own_problem(group[0], manifest, student) else
                    check_files(trace, group, tolerance, context=context, diagnose=diagnose,
                                grading=grading, one_based=one_based, student=student)
                    for group in groups]
        merged[student] = [group[0] if len(group) == 1 else folder_of(group)
                           for group in groups]
    # a stray is named as a plain gradebook names it: by its folder when files share a name
    names = dict(zip(submissions, student_names(submissions)))
    for path, error in strays:
        if same_file(path, Path(manifest_file)):  # given again among the submissions
            error = _manifest_given(path, manifest)
        else:
            error = _not_answers(path) or error
        results.append(FileCheck(file=path, error=error, student=names[path]))
    if fmt == "gradescope" and (too_many is not None or len(results) > 1):
        # one folder's files, not of one path each, or the submission refused above: one
        # results.json of the error, its tests the problem's when it is one student's
        too_many = too_many or _not_one_submission([result.file for result in results])
        if len(grouped) != 1:
            first = None
        # what the answers name, graded (a CSV's blocks) or not (refused, of no student):
        # every submission's, here, since the one row left names no file
        protected += named_in_results(results)
        if output is not None:
            protected += (named_by_answers(submissions, output)
                          + named_by_stdin(results, output))
        results = [FileCheck(file=", ".join(submissions), error=too_many,
                             student=next(iter(grouped), None))]
    from cnngrad.cli.check import said_of_folders

    said_of_folders(results, folders_held or {})
    # Gradescope's results.json is written for a file that could not be graded too (the
    # error as its output, every test at 0): the autograder must leave one behind
    if len(results) == 1 and results[0].error is not None and fmt != "gradescope":
        raise results[0].error
    for result in results:
        if result.error is not None:
            report_error(result.error)
    if not grouped and fmt != "gradescope":
        raise UsageError("no submission belongs to a student of the manifest",
                         where="SUBMISSIONS...", hint="name each file, or its folder, after "
                                                      "the student's id")
    # a submission of no student: no problem, no points; its results.json says why
    problem_name, grading, tolerance = first or (manifest.file, None, None)
    if len(results) > 1:
        problem_name = f"{manifest.file} (each student's own problem)"
    if too_many is None and output is not None:  # (refused as a whole, protected above)
        # as plain check: an answers file whose reading stopped at an error, or whose
        # student's problem could not be run, or of no student, still names its files
        protected += answers_protected(results, submissions, output)
    text = _gradebook(results, fmt, problem_name, tolerance, grading, decimals=decimals,
                      details=details, one_based=one_based, to_file=output is not None,
                      visibility=visibility)
    write_output(text, output, protected)
    # a student's own problem given among the submissions is an error row, not answers
    answered = {student: [path for path in merged.get(student, files)
                          if not _is_own_problem(path, manifest, student)]
                for student, files in grouped.items()}
    for line in _same_student_notes(answered) if too_many is None else ():  # none graded
        note_later(one_line(line))
    # a gradebook, not one submission's report (one student's folder of a file per path is
    # several files but one row)
    if fmt != "gradescope" and len(results) > 1:
        absent = _absent_students_note(manifest, grouped)
        if absent:
            note_later(one_line(absent))
    code = exit_code(results)
    if code:
        raise typer.Exit(code)


def _not_one_submission(files: list[str]) -> UsageError:
    """-f gradescope given more than one submission: said, as plain check says it, to the
    student who uploaded them (the results.json's output) as much as to the TA."""
    return UsageError(f"gradescope's results.json is for one submission; got {len(files)} "
                      f"answers files: {', '.join(files)}", where="--format",
                      hint="upload one answers file (or, grading a class, use --format csv "
                           "for a gradebook)")


def _generated_folders(manifest, entry: dict) -> list[Path]:
    """The folders generate wrote a student's files into: the problem's and the key's (one
    folder, of a manifest whose student's folder held both), and the one handed out."""
    folders = [manifest.base_dir / Path(str(entry[name])).parent
               for name in ("problem", "key") if isinstance(entry.get(name), str)]
    if isinstance(entry.get("handout"), str):
        folders.append(manifest.base_dir / entry["handout"])
    return folders


def _one_folder_per_path(submissions: list[str]) -> bool:
    """Whether the files are one folder's files of one path each (.csv or .npy): one
    submission (known without the problem, whose paths are checked when graded)."""
    return len({Path(path).parent.resolve() for path in submissions}) == 1 and all(
        Path(path).suffix.lower() in (".csv", ".npy") for path in submissions)


def _student_named(manifest, given: str) -> str:
    """The manifest's student --student names (:func:`~cnngrad.generate.exam.student_named`);
    a UsageError naming the closest otherwise."""
    from cnngrad.generate.exam import near_student, student_named

    found = student_named(manifest, given)
    if found is None:
        near = near_student(f"{given.strip()}.json", manifest)
        raise UsageError(f"'{given}' is not a student of {manifest.file}", where="--student",
                         hint=f"the closest is {near}" if near else
                         "give an id of the roster the exam was made from")
    return found


def _is_own_problem(path: str, manifest, student: str) -> bool:
    """Whether ``path`` is the student's problem: the one graded or the copy handed out
    (given among the submissions when a TA globs a student's folder), or a copy of it
    elsewhere, byte for byte (a folder handed back, copied out of the exam's tree)."""
    copies = manifest.problem_copies(student)
    if any(same_file(path, problem) for problem in copies):
        return True
    try:
        given = Path(path)
        # a regular file of a problem's size alone: a pipe would be read up before grading
        if not given.is_file():
            return False
        size = given.stat().st_size
        same_size = [Path(problem) for problem in copies
                     if Path(problem).is_file() and Path(problem).stat().st_size == size]
        if not same_size:
            return False
        text = given.read_bytes()
        return any(problem.read_bytes() == text for problem in same_size)
    except OSError:
        return False


def _problem_given(path: str, manifest, student: str) -> UsageError:
    """A student's own problem given among the submissions (``check PROBLEM ANSWERS...`` by
    habit): the manifest names each problem, so it is not an answers file."""
    return UsageError(f"this is {student}'s problem, not an answers file", where=TOP_LEVEL,
                      file=path,
                      hint=f"with --manifest no PROBLEM is given (the manifest names each "
                           f"student's): cnngrad check --manifest {manifest.file} "
                           f"SUBMISSIONS...")


def _manifest_given(path: str, manifest) -> UsageError:
    """The manifest given among the submissions too (a glob over the exam's folder): it
    is not an answers file, whatever reading it as one would say of its keys."""
    return UsageError("this is the exam's manifest, not an answers file", where=TOP_LEVEL,
                      file=path,
                      hint=f"give it once, after --manifest: cnngrad check --manifest "
                           f"{manifest.file} SUBMISSIONS...")


def _not_answers(path: str):
    """Why a file of no student is not an answers file at all, if it is not (check's own
    gradebook written with -o into the submissions' folder and given back on a re-run, a
    result, a folder): that, not its name, is what to fix.  None for an answers file."""
    from cnngrad.errors import CnnGradError
    from cnngrad.teach.check import read_answers

    try:
        read_answers(path)
    except CnnGradError as error:
        return error
    return None


def _same_student_notes(grouped: dict[str, list[str]]) -> list[str]:
    """A note for each student more than one file belongs to: ``note: ana: two answers
    files, subs/ana/answers.json and subs/ana.json; both are graded, a row each``."""
    notes = []
    for student, files in grouped.items():
        if len(files) < 2:
            continue
        count = {2: "two", 3: "three"}.get(len(files), str(len(files)))
        listed = f"{', '.join(files[:-1])} and {files[-1]}"
        graded = "both are" if len(files) == 2 else "all are"
        notes.append(f"note: {student}: {count} answers files, {listed}; {graded} graded, "
                     f"a row each")
    return notes


#: Names an absent-students note lists before it counts the rest.
ABSENT_SHOWN = 10


def _absent_students_note(manifest, grouped: dict[str, list[str]]) -> str | None:
    """A note naming the manifest's students no file was given for, who have no row in the
    gradebook: ``note: 1 student of exam/manifest.json has no submission and no row in the
    gradebook: chen``; None when every student has one."""
    absent = [student for student in manifest.students if student not in grouped]
    if not absent:
        return None
    shown = ", ".join(absent[:ABSENT_SHOWN])
    if len(absent) > ABSENT_SHOWN:
        shown += f" and {len(absent) - ABSENT_SHOWN} more"
    students = "1 student" if len(absent) == 1 else f"{len(absent)} students"
    has = "has" if len(absent) == 1 else "have"
    return (f"note: {students} of {manifest.file} {has} no submission and no row in the "
            f"gradebook: {shown}")


def _gradebook(results, fmt: str, problem_name: str, tolerance, grading, *, decimals: int,
               details: bool, one_based: bool, to_file: bool,
               visibility: str = "visible") -> str:
    """The results in ``check``'s formats, as ``check`` writes them."""
    if fmt == "json":
        from cnngrad.render.grades import grades_json

        return grades_json(results, problem_name, tolerance, grading, one_based=one_based)
    if fmt == "csv":
        from cnngrad.render.grades import grades_csv

        return grades_csv(results, grading, tolerance, one_based=one_based)
    if fmt == "gradescope":
        from cnngrad.render.check_report import gradescope_report

        return gradescope_report(results[0], problem_name, tolerance, grading,
                                 decimals=decimals, one_based=one_based, visibility=visibility)
    from rich.console import Group
    from rich.text import Text

    from cnngrad.render.check_report import file_report, grade_sheet

    if len(results) == 1:
        return render_rich(file_report(results[0], problem_name, tolerance, decimals,
                                       one_based=one_based), to_file=to_file)
    parts = [grade_sheet(results, problem_name, tolerance, grading, one_based=one_based)]
    if details:
        for result in results:
            if result.error is None:
                parts += [Text(""), file_report(result, problem_name, tolerance, decimals,
                                                one_based=one_based)]
    return render_rich(Group(*parts), to_file=to_file)
