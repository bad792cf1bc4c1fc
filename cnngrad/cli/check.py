"""``cnngrad check``: a hand computation checked cell by cell, its slips named; many answer
files make a grade sheet."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (
    CheckDecimalsOpt,
    DebugOpt,
    ExactOpt,
    MaxElementsOpt,
    OutputOpt,
    compute,
    format_option,
    guarded,
    near_file_hint,
    note_later,
    one_line,
    output_format,
    render_rich,
    report_error,
    same_file,
    write_output,
)
from cnngrad.cli.progress import redraws
from cnngrad.errors import ProblemError, UsageError

EPILOG = """\
[bold]Examples[/] (cnngrad samples NAME --to samples saves the sample they read):

  cnngrad check samples/stackexchange.json samples/answers/stackexchange-answers.json
  cnngrad check samples/stackexchange.json samples/answers/stackexchange-wrong.json
  cnngrad check samples/stackexchange.json samples/answers/conv2d_1.grads.kernel.csv
  cnngrad check samples/stackexchange.json samples/answers/*.json -o grades.csv
  cnngrad check samples/exam.json samples/exam/*.json
  cnngrad check samples/exam.json samples/exam/
  cnngrad check samples/exam.json samples/exam/ben.json -f gradescope
  cnngrad check --manifest exam/manifest.json submissions/*.json -f csv

An answers file maps dotted paths to values, e.g.
{"conv2d_1.grads.kernel": [[0.0446, 0.0941], [0.0113, 0.0683]],
 "conv2d_1.delta_in[1,2]": -0.0295}
A value with d decimals is right within ½·10⁻ᵈ of the true value (0.0446 for 0.044606).
A problem's "grading" block may set min_decimals, atol, rtol, points
and carry_forward; an option given here wins.

Exit code 0 when every answer is right, 1 when one is wrong, 2 for bad input.
"""

OUTPUT_FORMATS = ("table", "json", "csv", "gradescope")
#: The forms of the command (the order of its files; with --manifest), as the hints of its
#: usage errors show them.
USAGE = "cnngrad check [OPTIONS] PROBLEM ANSWERS..."
ORDER = "cnngrad check PROBLEM ANSWERS..."
MANIFEST_USAGE = "cnngrad check --manifest {manifest} SUBMISSIONS..."
#: More answer files than this show a progress bar (on a terminal's standard error).
PROGRESS_AFTER = 5


def _tolerance(atol: Optional[str], rtol: Optional[str], min_decimals: Optional[int],
               grading):
    """The rule: each option wins over the grading block's key of the same name."""
    from cnngrad.teach.grading import resolve_tolerance
    from cnngrad.tensorio import parse_number

    values = {}
    for option, text in (("--atol", atol), ("--rtol", rtol)):
        if text is None:
            continue
        value = parse_number(text, option, file=None, exact=True)
        if value < 0:
            raise UsageError(f"must be ≥ 0, got {text}", where=option)
        values[option] = value
    return resolve_tolerance(grading, atol=values.get("--atol"), rtol=values.get("--rtol"),
                             min_decimals=min_decimals)


def _without_the_problem(problem: str, answers: list[str]) -> list[str]:
    """The answers files less the problem file itself (``check hw.json *.json``), with a
    note on standard error for each one skipped."""
    kept = []
    for path in answers:
        if same_file(path, problem):
            note_later(f"note: {one_line(path)}: skipped: it is the problem file, not an answers file")
            continue
        kept.append(path)
    return kept


#: Files ``cnngrad generate`` writes beside a student's answers template, never a student's
#: answers: a folder handed back whole (or a practice folder, with its key) holds them.
GENERATED_SHEETS = ("exercise.md", "exercise.tex", "solution.md", "solution.tex", "key.json")


def _folders_opened(answers: list[str], why: dict[str, str] | None = None) -> list[str]:
    """The answers files with each folder given replaced by the files in it, and by the files
    of each folder in it (a student's ``ana/answers.json``, or a folder of one file per path),
    in name order; hidden files (``.DS_Store``) left out, and so are the sheets and problems
    ``cnngrad generate`` writes (a handed-back folder's ``exercise.md``, ``problem.json``),
    with a note; a link that leads nowhere kept (its reading says so), a folder deeper down
    left out with a note.  A folder holding no file to grade stays as it is: its reading is
    the error (a gradebook's row, a Gradescope results.json), whose words ``why`` keeps
    (folder → what it holds) where only such files or folders were left out; a folder that
    cannot be listed stays too."""
    from cnngrad.tensorio import folder_entries

    opened: list[str] = []
    for path in answers:
        folder = Path(path)
        if path == "-" or not folder.is_dir():
            opened.append(path)
            continue
        found, generated, deeper = [], [], []
        try:
            entries = list(folder_entries(folder))
        except OSError:  # not to be listed (permission denied): its reading says so
            opened.append(path)
            continue
        for entry, depth in entries:
            if entry.is_dir():
                if depth:
                    deeper.append(entry)
                else:  # a folder that cannot be listed: its row says so
                    found.append(str(entry))
                continue
            if entry.name in GENERATED_SHEETS or (entry.name == "problem.json"
                                                  and _is_problem_file(entry)):
                generated.append(entry)
            else:
                found.append(str(entry))
        # a .csv or .npy an answers file in the folder names ({"npy": "kernel.npy"}) is part
        # of that submission, not one of its own (its row was an error, its student's note
        # said two answers files)
        referenced = _referenced_files(found)
        found = [name for name in found if Path(name).resolve() not in referenced]
        if generated:
            names = ", ".join(sorted({entry.name for entry in generated}))
            note_later(f"note: {one_line(path)}: {len(generated)} file"
                       f"{'s' * (len(generated) != 1)} left out, the sheets, keys and "
                       f"problems cnngrad generate writes ({one_line(names)}), not answers")
        for entry in deeper:
            note_later(f"note: {one_line(str(entry))}: left out, a folder two levels down "
                       f"(a folder given stands for its files and its folders' files)")
        if not found and why is not None and (generated or deeper):
            held = ("the sheets, keys and problems cnngrad generate writes" if generated else
                    "folders two levels down (a folder given stands for its files and its "
                    "folders' files)")
            why[path] = f"a folder with no answers file in it, only {held}"
        opened += found or [path]
    return opened


#: An answers file larger than this is not read for the files it names (a hand-worked
#: answers file is a few KiB).
REFERENCES_READ_BYTES = 1 << 20


def _referenced_files(names: list[str]) -> set[Path]:
    """The .csv and .npy files (resolved) that the JSON answers files among ``names`` (a
    folder's files) read tensors from (``{"csv": ...}`` or ``{"npy": ...}`` at any depth:
    an add's delta_in per input), each within its own submission: beside it, or in a
    folder below it all of whose files it reads.  Never an answers file (a JSON, a CSV of
    ``# path`` blocks), nor a file of another student's folder (a reference there is the
    student's own error, said when their file is read)."""
    import json

    from cnngrad.problem import files_named
    from cnngrad.teach.check import single_tensor_file

    files_in: dict[Path, set[Path]] = {}  # each folder's files given
    for name in names:
        resolved = Path(name).resolve()
        files_in.setdefault(resolved.parent, set()).add(resolved)
    referenced: set[Path] = set()
    for name in names:
        path = Path(name)
        try:
            if path.suffix.lower() != ".json" or path.stat().st_size > REFERENCES_READ_BYTES:
                continue
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            continue
        named: set[Path] = set()
        pending = [document]
        while pending:
            value = pending.pop()
            if isinstance(value, dict):
                found = files_named(value, path.parent)
                named.update(file.resolve() for file in found)
                pending.extend(() if found else value.values())
        own = path.parent.resolve()
        for file in named:
            if single_tensor_file(str(file)) and _of_submission(file, own, named, files_in):
                referenced.add(file)
    return referenced


def _of_submission(file: Path, own: Path, named: set[Path],
                   files_in: dict[Path, set[Path]]) -> bool:
    """Whether ``file`` (resolved) is in the submission of an answers file in ``own`` that
    reads the files ``named``: in ``own``, or below it with every file of each folder
    between read by it (subs/ben/ with a file subs/ana.json does not read is ben's)."""
    if own not in file.parents:
        return False
    between = file.parent
    while between != own:
        if files_in.get(between, set()) - named:
            return False
        between = between.parent
    return True


def said_of_folders(results, why: dict[str, str]) -> None:
    """The error of each folder that held nothing to grade, in the words of ``why`` (not
    "is a folder, not a file; hint: name a file in it")."""
    for result in results:
        error = result.error
        if error is not None and error.file in why and error.where is None:
            error.what, error.hint = why[error.file], None


def _is_problem_file(path: Path) -> bool:
    """Whether a file named problem.json is a problem (a copy of the one handed out)."""
    import json

    from cnngrad.file_kinds import is_problem

    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and is_problem(document)


def _visibility(given: Optional[str], fmt: str) -> str:
    """--visibility as Gradescope spells it (the default without it); refused with another
    format, which has no visibility to set, or with a value Gradescope does not take."""
    from cnngrad.render.grades import GRADESCOPE_VISIBILITIES, GRADESCOPE_VISIBILITY

    if given is None:
        return GRADESCOPE_VISIBILITY
    if fmt != "gradescope":
        raise UsageError(f"only with --format gradescope (this is {fmt})", where="--visibility")
    if given not in GRADESCOPE_VISIBILITIES:
        raise UsageError(f"unknown value {given!r}", where="--visibility",
                         hint="allowed: " + ", ".join(GRADESCOPE_VISIBILITIES))
    return given


def _answers_files(answers: list[str]) -> list[tuple[Path, str]]:
    """The answers files -o must never write over: each one named, and standard input's
    file when it is redirected from one (`check p.json - -o a.json < a.json`)."""
    from cnngrad.tensorio import redirected_stdin

    named = [(Path(path), "an answers file") for path in answers if path != "-"]
    stdin = redirected_stdin() if "-" in answers else None
    return named + ([(stdin, "an answers file")] if stdin is not None else [])


def named_by(answers: str, stdin: bool = False) -> str:
    """What -o's refusal calls a file that the answers file ``answers`` names (standard
    input's with ``stdin``): the answers file said, for a class's run to find it."""
    from cnngrad.cli.output import short_name

    if stdin or answers == "-":
        return "a file the answers on standard input name"
    return f"a file the answers file '{short_name(answers)}' names"


def named_by_answers(answers: list[str], output: str, *,
                     stdin: bool = False) -> list[tuple[Path, str]]:
    """The files answers files name (``{"csv": "d.csv"}``), for -o (``output``) never to
    write over one where the answers were not read whole: a submission refused as a whole,
    or a file whose reading stopped at an error.  ``stdin``: standard input's answers too,
    where nothing else reads them, unless it is a terminal (the refusal does not wait for
    what one types)."""
    from cnngrad.teach.check import files_an_answers_file_names

    stdin = stdin and sys.stdin is not None and not sys.stdin.isatty()
    return [(file, named_by(path)) for path in answers
            if path != "-" or stdin for file in files_an_answers_file_names(path, output)]


def answers_protected(results, answers: list[str], output: str) -> list[tuple[Path, str]]:
    """The files the graded answers files name, for -o never to write over one: those each
    result read, and those a file whose reading stopped at an error (an unknown key, a
    missing CSV) names (:func:`named_by_answers`; standard input's from the bytes it held;
    not a folder's files of one path each, which name none)."""
    unread = [result.file for result in results
              if result.error is not None and not result.input_files and not result.answer_files
              and not result.from_stdin]
    return (named_in_results(results) + named_by_answers(unread, output)
            + named_by_stdin(results, output))


def named_in_results(results) -> list[tuple[Path, str]]:
    """The files each result read (its answers file's CSV and .npy files), each said as the
    one its answers file names."""
    return [(file, named_by(result.file, result.from_stdin)) for result in results
            for file in result.input_files]


def named_by_stdin(results, output: str) -> list[tuple[str, str]]:
    """The files standard input's answers name where their reading stopped at an error,
    from the bytes it held (it cannot be read again)."""
    from cnngrad.teach.check import files_an_answers_file_names

    return [(file, named_by("-")) for result in results if result.stdin_bytes is not None
            for file in files_an_answers_file_names("-", output, result.stdin_bytes)]


def _write_gradescope_error(error, answers: list[str], problem_name: str,
                            tolerance, grading, decimals: int, one_based: bool,
                            visibility: str, output: Optional[str], input_files) -> None:
    """Gradescope's results.json for a submission that cannot be graded as one: 0 points,
    the error as every test's output."""
    from cnngrad.render.check_report import gradescope_report
    from cnngrad.teach.check import FileCheck

    text = gradescope_report(FileCheck(file=", ".join(answers), error=error), problem_name,
                             tolerance, grading, decimals=decimals, one_based=one_based,
                             visibility=visibility)
    write_output(text, output, list(input_files) + _answers_files(answers)  # nothing else
                 + (named_by_answers(answers, output, stdin=True) if output is not None
                    else []))


def _once_each(answers: list[str]) -> list[str]:
    """The answers files with each file once: a file given again (a glob that overlaps
    another, ``subs/*/answers.json subs/ben/*``, or ``./subs/ben/answers.json`` beside
    ``subs/ben/answers.json``) would be a second, identical row of the gradebook; a note on
    standard error names it."""
    kept: list[str] = []
    for path in answers:
        first = next((other for other in kept if other == path or same_file(path, other)),
                     None)
        if first is None:
            kept.append(path)
        elif path != "-":  # '-' given twice is an error of its own
            again = "" if path == first else f" (as {path})"
            note_later(f"note: {one_line(first)}: given again{one_line(again)}; graded once")
    return kept


def _nothing_left(given: list[str]) -> UsageError:
    """Every answers file given was the problem file itself (``check hw.json hw.json``)."""
    if len(given) == 1:
        what = f"the only one given, {given[0]}, is the problem file itself"
    else:
        what = f"the {len(given)} given are all the problem file itself"
    return UsageError(f"no answers file left to check: {what}", where="ANSWERS",
                      hint=f"give the answers files after the problem: {ORDER}")


def _hint_swapped(error: ProblemError, problem: str, answers: list[str]) -> None:
    """A PROBLEM that does not read as a problem and looks like an answers file (``check
    answers.json problem.json``): the hint says the files look swapped and shows the order,
    the error itself (where, what) unchanged."""
    import shlex

    from cnngrad.teach.check import answers_file_path

    example = answers_file_path(problem)
    if example is None:
        return
    looks = f"{problem} looks like an answers file (it answers {example})"
    if len(answers) == 1 and answers_file_path(answers[0]) is None:
        error.hint = (f"the two files look swapped: {looks}; the problem comes first: "
                      f"{ORDER}, here cnngrad check {shlex.quote(answers[0])} "
                      f"{shlex.quote(problem)}")
    else:
        error.hint = f"{looks}, not a problem; the problem comes first: {ORDER}"


def _hint_manifest(error: ProblemError, problem: str) -> None:
    """A PROBLEM that is an exam's manifest (``check exam/manifest.json subs/*``): the hint
    says so and shows ``--manifest``, the error itself unchanged."""
    import shlex

    from cnngrad.generate.exam import is_manifest

    if is_manifest(problem):
        error.hint = (f"{problem} is an exam's manifest, not a problem; to grade each "
                      f"submission against its student's own problem: "
                      + MANIFEST_USAGE.format(manifest=shlex.quote(problem)))


def _check_all(trace, answers: list[str], tolerance, diagnose: bool, grading,
               one_based: bool):
    """Check every file (the files of one path each in a folder together, as one student's
    answers); a progress bar on a terminal when there are more than a few."""
    from cnngrad.teach.check import check_files, group_names, per_path_groups
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.grading import student_names

    context = SlipContext(trace)  # each slipped trace built once for all the files
    groups = per_path_groups(answers, trace)
    students = student_names(group_names(groups, trace))

    def one(group: list[str], student: str):
        return check_files(trace, group, tolerance, context=context, diagnose=diagnose,
                           grading=grading, one_based=one_based, student=student)

    if len(groups) <= PROGRESS_AFTER or not redraws(sys.stderr):
        return [one(group, student) for group, student in zip(groups, students)]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    results = []
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True),
                  transient=True) as progress:
        task = progress.add_task("", total=len(groups))
        for group, student in zip(groups, students):
            progress.update(task, description=Path(group[0]).name)
            results.append(one(group, student))
            progress.advance(task)
    return results


def _hint_bundled_answers(error) -> None:
    """A missing ``samples/exam/ben.json``: the hint says how to get the bundled answers files
    where the command looks for them."""
    if error is None or error.what != "no such file" or error.hint is not None:
        return
    from cnngrad.bundled import answers_sample

    sample = answers_sample(error.file or "")
    if sample is not None:
        error.hint = (f"the {sample} sample's answers files ship with cnngrad: `cnngrad "
                      f"samples {sample} --to {Path(error.file).parent.parent}` copies them "
                      f"with the problem")


@guarded
def check(
    problem: Annotated[Optional[str], typer.Argument(
        metavar="PROBLEM", help="The problem file (JSON), or - for standard input. None "
                                "with --manifest: every file given is a submission.",
        show_default=False)] = None,
    answers: Annotated[list[str], typer.Argument(
        metavar="ANSWERS...", help="Answers files: JSON {\"dotted.path\": value}, or a CSV "
                                   "named after its path (conv2d_1.grads.kernel.csv), or a "
                                   "folder of them. Several make a grade sheet, one row per "
                                   "file.",
        show_default=False)] = None,
    atol: Annotated[Optional[str], typer.Option(
        "--atol", metavar="NUMBER",
        help="Absolute tolerance: with --rtol, replaces the decimals rule by "
             "|given − true| ≤ atol + rtol·|true|.")] = None,
    rtol: Annotated[Optional[str], typer.Option(
        "--rtol", metavar="NUMBER", help="Relative tolerance (see --atol).")] = None,
    min_decimals: Annotated[Optional[int], typer.Option(
        "--min-decimals", min=0, max=17, show_default="4",
        help="Decimals an answer must carry (or the grading block's): with 4, 0.0446 is "
             "right for 0.044606, 0.045 is not. 0: the half-unit rule as written.")] = None,
    carry_forward: Annotated[Optional[bool], typer.Option(
        "--carry-forward/--no-carry-forward", show_default=False,
        help="A wrong answer that is right from the student's own answers one step upstream "
             "earns its points (default: the grading block's, else off).")] = None,
    one_based: Annotated[bool, typer.Option(
        "--one-based", help="Answers' element paths count from 1 ([1,1] is the first "
                            "cell), and so do the indices shown.")] = False,
    lr: Annotated[Optional[str], typer.Option(
        "--lr", metavar="RATE",
        help="Learning rate η: lets answers give <layer>.updated.<param>, a parameter after "
             "one SGD step p − η·dE/dp.")] = None,
    exact: ExactOpt = False,
    format: Annotated[Optional[str], format_option(
        OUTPUT_FORMATS,
        help="table, json (every verdict), csv (the gradebook, a row per "
             "student) or gradescope (Gradescope's results.json of one "
             "submission: -o results.json alone writes json).")] = None,
    output: OutputOpt = None,
    decimals: CheckDecimalsOpt = 6,
    details: Annotated[bool, typer.Option(
        "--details", help="With several answer files, also show each file's tensors after "
                          "the grade sheet.")] = False,
    diagnose: Annotated[bool, typer.Option(
        "--diagnose/--no-diagnose", help="Name the common slips a wrong tensor matches.")
    ] = True,
    manifest: Annotated[Optional[str], typer.Option(
        "--manifest", metavar="FILE",
        help="An exam's manifest.json (cnngrad generate --students): every "
             "file given is then a submission, graded against its own "
             "student's problem (the student named by the file or its "
             "folder).")] = None,
    student: Annotated[Optional[str], typer.Option(
        "--student", metavar="ID",
        help="With --manifest: the student every file given belongs to, whatever its name "
             "(Gradescope's upload is answers.json: give the id from its "
             "submission_metadata.json).")] = None,
    visibility: Annotated[Optional[str], typer.Option(
        "--visibility", metavar="WHEN",
        help="With --format gradescope: when students see each test (its true values beside "
             "their wrong cells): visible (the default), after_due_date, after_published or "
             "hidden.")] = None,
    max_elements: MaxElementsOpt = 10**8,
    debug: DebugOpt = False,
) -> None:
    """Check answers worked by hand against the problem: each tensor with its wrong cells
    marked and the true value beside them, "k/n cells right", and the common slip a wrong
    tensor matches (the kernel not rotated, delta not dilated, MSE without the ½, ...).
    A problem's grading block can require paths with points, a number of decimals, and
    carry a student's slip forward; several files make a gradebook, one row per student.

    Paths are those of --format json: loss, <layer>.output, .delta_out, .delta_in,
    .grads.<param>, .updated.<param> (with --lr), and elements such as
    conv2d_1.grads.kernel[0,1]."""
    import dataclasses

    from cnngrad.teach.check import required_weights
    from cnngrad.teach.grading import grading_of

    fmt = output_format(format, output, OUTPUT_FORMATS, command="check")
    visibility = _visibility(visibility, fmt)
    if student is not None and manifest is None:  # ignored, it would be believed to work
        raise UsageError("only with --manifest, whose students it names", where="--student",
                         hint="without a manifest every file is graded against PROBLEM")
    if problem is None:  # no file at all: with --manifest, it is the submissions that miss
        if manifest is not None:
            import shlex

            raise UsageError("missing: --manifest needs the students' answers files to grade",
                             where="SUBMISSIONS...",
                             hint="usage: " + MANIFEST_USAGE.format(
                                 manifest=shlex.quote(manifest)) + " (each file named after "
                                 "its student: ana.json or ana/answers.json)")
        raise UsageError("missing", where="PROBLEM", hint=f"usage: {USAGE}")
    why: dict[str, str] = {}  # a folder given that held nothing to grade: what it held
    answers = _folders_opened(list(answers or ()), why)  # none at all: --manifest's case
    if not answers and manifest is None:
        raise UsageError("missing", where="ANSWERS...",
                         hint="give one or more answers files after the problem")
    if manifest is not None:  # an exam: each submission against its student's own problem
        from cnngrad.cli.check_manifest import check_manifest

        return check_manifest(
            manifest, _once_each([*_folders_opened([problem], why), *answers]), fmt=fmt,
            output=output, decimals=decimals, details=details, diagnose=diagnose,
            one_based=one_based, carry_forward=carry_forward, exact=exact, lr=lr,
            max_elements=max_elements, visibility=visibility, folders_held=why,
            student=student,
            tolerance_of=lambda grading: _tolerance(atol, rtol, min_decimals, grading))
    if problem == "-" and "-" in answers:
        raise UsageError("standard input can hold the problem or an answers file, not both",
                         where="ANSWERS")
    if answers.count("-") > 1:  # the second read of it would find it empty
        raise UsageError(f"'-' (standard input) is given {answers.count('-')} times; it holds "
                         f"one answers file", where="ANSWERS")
    given, answers = answers, _without_the_problem(problem, _once_each(answers))
    if not answers:
        raise _nothing_left(given)
    try:
        spec, trace = compute(problem, exact=exact, max_elements=max_elements,
                              dtype="float64", lr=lr, quick={}, one_based=one_based,
                              grading_read=True)
    except ProblemError as error:
        _hint_swapped(error, problem, answers)
        _hint_manifest(error, problem)
        raise
    grading = grading_of(spec)
    if carry_forward is not None:
        grading = dataclasses.replace(grading, carry_forward=carry_forward)
    tolerance = _tolerance(atol, rtol, min_decimals, grading)
    required_weights(trace, grading)  # a points path that names nothing: exit 2, once
    if fmt == "gradescope":
        from cnngrad.teach.check import per_path_groups

        # one submission: one answers file, or a folder of one file per path
        groups = per_path_groups(answers, trace)
        if len(groups) > 1:
            error = UsageError(f"gradescope's results.json is for one submission; got "
                               f"{len(groups)} answers files: "
                               f"{', '.join(group[0] for group in groups)}", where="--format",
                               hint="upload one answers file (run check once per "
                                    "submission, or use --format csv for a gradebook)")
            # an autograder must leave a results.json behind, in a file or on standard
            # output as an unreadable file's: every test at 0, the error as its output (a
            # student who uploaded two files reads why)
            _write_gradescope_error(error, answers, spec.file, tolerance, grading, decimals,
                                    one_based, visibility, output, spec.input_files)
            raise error
    problem_name = spec.file
    results = _check_all(trace, answers, tolerance, diagnose, grading, one_based)
    said_of_folders(results, why)
    for result in results:
        _hint_bundled_answers(result.error)
        if result.error is not None and result.error.hint is None:
            result.error.hint = near_file_hint(result.error)  # a slip, or a bare pattern
    single = len(results) == 1
    # a gradebook (csv, json) or a results.json is written whatever the files held: a script
    # grading one submission at a time gets its error row, as a class run does
    if single and results[0].error is not None and fmt == "table":
        raise results[0].error
    for result in results:
        if result.error is not None:
            report_error(result.error)

    if fmt == "json":
        from cnngrad.render.grades import grades_json

        text = grades_json(results, problem_name, tolerance, grading, one_based=one_based)
    elif fmt == "csv":
        from cnngrad.render.grades import grades_csv

        text = grades_csv(results, grading, tolerance, one_based=one_based)
    elif fmt == "gradescope":
        from cnngrad.render.check_report import gradescope_report

        text = gradescope_report(results[0], problem_name, tolerance, grading,
                                 decimals=decimals, one_based=one_based, visibility=visibility)
    elif fmt == "table":
        from rich.console import Group
        from rich.text import Text

        from cnngrad.render.check_report import file_report, grade_sheet

        if single:
            renderable = file_report(results[0], problem_name, tolerance, decimals,
                                     one_based=one_based)
        else:
            parts = [grade_sheet(results, problem_name, tolerance, grading,
                                 one_based=one_based)]
            if details:
                for result in results:
                    if result.error is None:
                        parts += [Text(""), file_report(result, problem_name, tolerance,
                                                        decimals, one_based=one_based)]
            renderable = Group(*parts)
        text = render_rich(renderable, to_file=output is not None)
    else:
        raise UsageError(f"unknown format {fmt!r}", where="--format")
    protected = list(spec.input_files) + _answers_files(answers)
    if output is not None:  # what the answers name: a search of those that stopped at errors
        protected += answers_protected(results, answers, output)
    write_output(text, output, protected)

    from cnngrad.teach.check import exit_code

    code = exit_code(results)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    from cnngrad.cli.plain_values import ABSENT_OPTION_HINTS

    # click's closest spelling of backward's --full is --lr, an option of another meaning
    ABSENT_OPTION_HINTS["check", "--full"] = (
        "check shows every cell of each tensor answered (with several answers files, "
        "--details shows them); every value of a large result is backward's: cnngrad "
        "backward PROBLEM --full")
    app.command(epilog=EPILOG,
                short_help='Check hand-computed answers cell by cell and name the slip behind a wrong one.')(check)
