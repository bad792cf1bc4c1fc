"""``cnngrad generate``: a fresh exercise from a recipe and a seed, with its key and sheets;
with a roster, one variant per student and a manifest."""

import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (DebugOpt, bundled_sample_hinted, dash_is_standard_output,
                                guarded, write_output)
from cnngrad.cli.output import os_reason, short_name
from cnngrad.errors import UsageError, and_list

EPILOG = """\
[bold]Examples[/]

  cnngrad generate --list
  cnngrad generate seed --seed 7 -o practice-7
  cnngrad generate network --seed 3 --numbers 1dp -o net-3
  cnngrad generate conv-stride-pad --seed 1 --input 6x6 --kernel 3x3 -o ex
  cnngrad generate maxpool --seed 5 --with-kinks -o ties
  cnngrad generate samples/stackexchange.json --seed 9 -o fresh
  cnngrad generate seed --seed 2026 --students roster.csv -o exam
  cnngrad generate seed --seed 7 | cnngrad backward -

With -o DIR it writes problem.json (with a grading block), key.json, \
answers-template.json, exercise.md/.tex and solution.md/.tex; without -o it prints \
problem.json. The same recipe, seed and options give the same files on every machine.
"""

# a panel title stays on one line: it fits 80 columns with the colon after it
SIZES = "Sizes (an option a recipe does not take is an error naming those it takes)"

#: Files of one exercise, in the order they are written.
FILES = ("problem.json", "key.json", "answers-template.json", "exercise.md", "exercise.tex",
         "solution.md", "solution.tex")
#: A class's two trees beside its manifest: what is handed to each student (a folder each,
#: no key in it) and what the graders keep.
STUDENTS_FOLDER, KEYS_FOLDER = "students", "keys"
#: The files of a student's variant in each tree: the problem in both (``cnngrad check
#: problem.json key.json`` and a solution's ``explain`` command run in the keys' folder,
#: and grading never reads the copy that was handed out).
STUDENT_FILES = ("problem.json", "answers-template.json", "exercise.md", "exercise.tex")
KEY_FILES = ("problem.json", "key.json", "solution.md", "solution.tex")

# any count of digits: a long side is out of range (said so by resolve_options), not a
# size of another form
_SIZE = re.compile(r"\s*([0-9]+)\s*(?:[x×X*]\s*([0-9]+)\s*)?")


def _side(digits: str, option: str) -> int:
    """One side of a size option; its range is resolve_options' to check."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > 20:  # int() refuses past 4300 digits; no side is near 20
        raise UsageError(f"a number of {len(digits)} digits is out of range (an exercise is "
                         f"worked by hand)", where=option)
    return int(digits)


def _size(text: Optional[str], option: str, pair: bool = True):
    if text is None:
        return None
    match = _SIZE.fullmatch(text)
    if not match:
        raise UsageError(f"expected a size such as 5 or 5x5, got {text!r}", where=option)
    rows, cols = _side(match.group(1), option), match.group(2)
    if cols is None:
        return (rows, rows) if pair else rows
    if not pair:
        raise UsageError(f"expected one number, got {text!r}", where=option)
    return rows, _side(cols, option)


def _number(text: Optional[str], option: str, low: int = 0):
    if text is None:
        return None
    if not re.fullmatch(r"\s*[0-9]+\s*", text):
        raise UsageError(f"expected a whole number ≥ {low}, got {text!r}", where=option)
    digits = text.strip().lstrip("0") or "0"
    if len(digits) > 20:  # past any seed or size (and int()'s own limit on digits)
        if option == "--seed":
            from cnngrad.generate.draw import MAX_SEED

            raise UsageError(f"at most {MAX_SEED}, got a number of {len(digits)} digits",
                             where=option)
        raise UsageError(f"a number of {len(digits)} digits is out of range (an exercise is "
                         f"worked by hand)", where=option)
    value = int(digits)
    if value < low:
        raise UsageError(f"expected a whole number ≥ {low}, got {value}", where=option)
    return value


def _sizes(recipe: str, input, kernel, stride, padding, channels, filters, pool, outputs,
           batch, ties, bias) -> dict:
    from cnngrad.generate.recipes import ONE_D_RECIPES

    one_d = recipe in ONE_D_RECIPES
    return {"input": _size(input, "--input", pair=not one_d),
            "kernel": _size(kernel, "--kernel", pair=not one_d),
            "stride": _number(stride, "--stride", 1), "padding": _number(padding, "--padding"),
            "channels": _number(channels, "--channels", 1),
            "filters": _number(filters, "--filters", 1), "pool": _number(pool, "--pool", 1),
            "outputs": _number(outputs, "--outputs", 1), "batch": _number(batch, "--batch", 1),
            "ties": ties, "bias": True if bias else None}


def _listing(width: int) -> str:
    """A recipe a line, its name then the problem it makes; on a terminal narrower than a
    line, the problem goes on under itself, past the names (as ``cnngrad samples`` lists
    samples)."""
    import textwrap

    from cnngrad.generate.recipes import FILE_RECIPE, RECIPES

    name_width = max(len(name) for name in list(RECIPES) + [FILE_RECIPE[0]])
    listed = [(recipe.name, recipe.described(False)) for recipe in RECIPES.values()]
    listed.append(FILE_RECIPE)
    indent = " " * (name_width + 2)
    lines = []
    for name, problem in listed:
        lines += textwrap.wrap(problem, max(width, len(indent) + 20),
                               initial_indent=f"{name:<{name_width}}  ",
                               subsequent_indent=indent, break_long_words=False,
                               break_on_hyphens=False)
    return "\n".join(lines) + "\n"


#: The suffixes of the files generate writes (and of CSV rosters): an -o name ending so is a
#: file name, not the folder generate writes into
FILE_SUFFIXES = (".json", ".csv", ".md", ".tex")


def _folder(output: Path, names: list[str], force: bool) -> None:
    """Make ``output`` (and its parent must exist); refuse to overwrite without --force."""
    try:
        _check_folder(output, names, force)
    except OSError as exc:  # a name longer than the system allows, a folder not to be read
        raise UsageError(f"cannot write there: {os_reason(exc)}", where="--output",
                         file=short_name(str(output))) from None


def _check_folder(output: Path, names: list[str], force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise UsageError("is a file, not a folder", where="--output", file=str(output))
    if output.parent.exists() and not output.parent.is_dir():
        raise UsageError(f"{str(output.parent)!r} is a file, not a folder", where="--output",
                         file=str(output), hint="give a folder, or a new folder in one")
    if not output.parent.is_dir():
        raise UsageError(f"folder {str(output.parent)!r} does not exist", where="--output",
                         file=str(output), hint=f"make {str(output.parent)!r} first: -o makes "
                                                f"only the last folder of DIR")
    if not force:
        present = [name for name in names if _holds_something(output / name)]
        if present:
            raise UsageError(f"{present[0]} is already there", where="--output",
                             file=str(output), hint="give --force to overwrite, or another "
                                                    "folder")
    try:
        output.mkdir(exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make the folder: {exc.strerror}", where="--output",
                         file=str(output)) from None


def _refuse_filled_templates(templates: list[Path]) -> None:
    """--force replaces generate's own files, never a student's work: an answers template
    with a cell that is not null has been filled in (a class's handed-back folders kept in
    the exam's tree)."""
    import json

    for template in templates:
        try:
            document = json.loads(template.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError):  # unreadable, not UTF-8, not JSON
            document = None
        if document is None:  # edited past reading (a stray comma): it may hold answers
            raise UsageError("is not the template generate wrote (it does not read as JSON), "
                             "and may hold a student's answers: --force replaces generate's "
                             "files, not a student's work", where="--force",
                             file=str(template), hint="move it elsewhere, then run again")
        if _holds_a_value(document):
            raise UsageError("holds answers (cells that are not null): --force replaces "
                             "generate's files, not a student's work", where="--force",
                             file=str(template), hint="move the answers elsewhere (a "
                                                      "submissions folder), then run again")


def _holds_a_value(document) -> bool:
    """Whether a JSON value holds anything but null, however deep in lists and objects."""
    if isinstance(document, dict):
        return any(_holds_a_value(item) for item in document.values())
    if isinstance(document, list):
        return any(_holds_a_value(item) for item in document)
    return document is not None


def _earlier_manifest(manifest_path: Path) -> dict | None:
    """The manifest an exam written with --force replaces, if one is there to read."""
    import json

    try:
        earlier = json.loads(manifest_path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    return earlier if isinstance(earlier, dict) else None


def _exam_replaced(earlier: dict | None, document: dict, manifest_path: Path) -> list[str]:
    """What an exam written over another (--force) changes, said: its recipe, seed or
    options, whose keys grade the students' answers, and the folders that now hold
    another student's handout."""
    if earlier is None:
        return []
    notes = []
    how = {key: value for key, value in earlier.items() if key != "students"}
    if how.get("recipe") != document["recipe"] or how.get("exam_seed") != document["exam_seed"]:
        notes.append(f"this replaces the exam made by `cnngrad generate {how.get('recipe')} "
                     f"--seed {how.get('exam_seed')}` in {manifest_path}: answers to its "
                     f"problems no longer match the keys")
    elif how != {key: value for key, value in document.items() if key != "students"}:
        notes.append(f"this replaces the exam in {manifest_path}, of the same recipe and seed "
                     f"but other options (--numbers, --with-kinks or sizes): answers to its "
                     f"problems no longer match the keys")
    students = earlier.get("students") if isinstance(earlier.get("students"), dict) else {}
    moved = [(student, entry.get("folder"), document["students"][student]["folder"])
             for student, entry in students.items()
             if isinstance(entry, dict) and student in document["students"]
             and entry.get("folder") != document["students"][student]["folder"]]
    if moved:
        shown = ", ".join(f"{student}: {before} → {after}" for student, before, after in moved)
        notes.append(f"{len(moved)} student{'' if len(moved) == 1 else 's'}' folders changed "
                     f"({shown}): a folder handed out before now holds another's problem")
    return notes


def _holds_something(path: Path) -> bool:
    """Whether ``path`` is there to be overwritten: a file, or a folder with a file in it
    (an empty one, or one of empty folders, a class's ``students/`` left by a failed run,
    holds nothing)."""
    if path.is_symlink() or not path.is_dir():  # a link is something, and never followed
        return path.exists() or path.is_symlink()
    return any(_holds_something(inside) for inside in path.iterdir())


def _write_all(*outputs: tuple) -> None:
    """Every file and the folders made for it, or none (-o names the folder generate writes
    into)."""
    from cnngrad.cli.output import write_files_into_folders

    write_files_into_folders(*outputs, writer="generate writes", option="-o")


def _exercise_outputs(exercise, folder: Path, protected: list[Path],
                      names: tuple[str, ...] = FILES) -> list[tuple]:
    """The exercise's files (``names`` of them) for :func:`write_outputs`, which writes them
    all or none: a failed write (a full disk, a file that refuses it) never leaves a new
    problem beside an old key in a folder given with --force."""
    return [(exercise.texts[name], folder / name, protected, "--output") for name in names]


@guarded
def generate(
    recipe: Annotated[Optional[str], typer.Argument(
        metavar="RECIPE", help="A recipe name (see --list) or a problem file whose numbers "
                               "are drawn afresh.", show_default=False)] = None,
    seed: Annotated[Optional[str], typer.Option(
        "--seed", metavar="N",
        help="The seed: the same seed gives the same problem on every machine. "
             "Without it a random seed is drawn and told on stderr.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="DIR", callback=dash_is_standard_output,
        help="Write the exercise's files into this folder (made if "
             "needed, in a folder that exists); without it (or with -), print "
             "problem.json.")] = None,
    numbers: Annotated[Optional[str], typer.Option(
        "--numbers", metavar="KIND",
        help="int (small integers; the default, but 1dp for the network recipe and for a "
             "problem file with a sigmoid, tanh, softmax, log_softmax or batch norm layer or "
             "a cross_entropy, bce, bce_with_logits or nll loss, whose answers are rounded, "
             "and fractions for a file that divides by 3, 7, 9, … (an average of 9 cells, a "
             "dropout of p = 0.3)), 1dp, 2dp (one or two decimals) or fractions (halves, "
             "thirds, quarters).")] = None,
    with_kinks: Annotated[bool, typer.Option(
        "--with-kinks", help="Put a ReLU input of exactly 0 or tied maxima in on purpose "
                             "(for the tie-rule exercises); by default there are none.")
    ] = False,
    list_recipes: Annotated[bool, typer.Option(
        "--list", help="List the recipes: each one's name and the problem it makes (no "
                       "RECIPE or other option goes with it).")
    ] = False,
    students: Annotated[Optional[str], typer.Option(
        "--students", metavar="FILE",
        help="A roster CSV (a column of ids, or one headed 'id'): one variant "
             "per student, seeded from the id and --seed: what is handed out in "
             "DIR/students/<id>/ (the id made safe as a folder name: José → "
             "Jose), the key and solution in DIR/keys/<id>/, and "
             "DIR/manifest.json for check --manifest.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite files already in the output folder.")] = False,
    input: Annotated[Optional[str], typer.Option(
        "--input", metavar="SIZE",
        help="Input size, as HxW (or L for conv1d); default: the recipe's own (5x5 for seed, "
             "4x4 for multichannel and the pools; docs/generate.md lists each).",
        rich_help_panel=SIZES)] = None,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", metavar="SIZE",
        help="Kernel size, as HxW (or k for conv1d); default: the recipe's own (2x2 for seed, "
             "3x3 for conv-stride-pad and residual).", rich_help_panel=SIZES)] = None,
    stride: Annotated[Optional[str], typer.Option(
        "--stride", metavar="N", help="Stride; default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    padding: Annotated[Optional[str], typer.Option(
        "--padding", metavar="N",
        help="Zero padding on every side; default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    channels: Annotated[Optional[str], typer.Option(
        "--channels", metavar="N", help="Input channels; default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    filters: Annotated[Optional[str], typer.Option(
        "--filters", metavar="N",
        help="Conv filters (output channels); default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    pool: Annotated[Optional[str], typer.Option(
        "--pool", metavar="SIZE", help="Pooling window size; default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    outputs: Annotated[Optional[str], typer.Option(
        "--outputs", metavar="N", help="Dense outputs; default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    batch: Annotated[Optional[str], typer.Option(
        "--batch", metavar="N", help="Batch size (batchnorm); default: the recipe's own.",
        rich_help_panel=SIZES)] = None,
    ties: Annotated[Optional[str], typer.Option(
        "--ties", metavar="RULE", help="Tie rule of maxpool-ties: first, split (the default) or all.",
        rich_help_panel=SIZES)] = None,
    bias: Annotated[bool, typer.Option(
        "--bias", help="Give the seed recipe's conv a bias.", rich_help_panel=SIZES)] = False,
    debug: DebugOpt = False,
) -> None:
    """Fresh practice and exam problems with nice numbers, and their keys: a problem drawn
    from a recipe and a seed, checked with the exact engine so that its answers come out
    exact at the decimals its --numbers style promises (a decimal or two for each factor
    multiplied: one 1dp conv's gradient, 2; two 2dp convs in a row, 6; fractions, exact
    fractions whose denominators multiply too), with no accidental ties or ReLU zeros."""
    if list_recipes:
        if recipe is not None:
            raise UsageError("--list lists every recipe: give no RECIPE with it",
                             where="--list")
        # an option that makes an exercise would be ignored, and the user left believing
        # that it did something (a list of the 1dp recipes, the list written into -o DIR);
        # -o is named --output, as every other message of generate names it (click keeps no
        # record of which spelling was typed)
        given = [name for name, value in (
            ("--seed", seed), ("--output", output), ("--numbers", numbers),
            ("--with-kinks", with_kinks), ("--students", students), ("--force", force),
            ("--input", input), ("--kernel", kernel), ("--stride", stride),
            ("--padding", padding), ("--channels", channels), ("--filters", filters),
            ("--pool", pool), ("--outputs", outputs), ("--batch", batch), ("--ties", ties),
            ("--bias", bias)) if value not in (None, False)]
        if given:
            raise UsageError(f"--list lists every recipe: {and_list(given)} "
                             f"{'does' if len(given) == 1 else 'do'} nothing with it; give "
                             f"{'it' if len(given) == 1 else 'them'} with a RECIPE",
                             where="--list")
        from cnngrad.cli.common import output_width
        from cnngrad.cli.samples import LISTING_WIDTH

        terminal = sys.stdout is not None and sys.stdout.isatty()
        write_output(_listing(min(LISTING_WIDTH, output_width(terminal))), None, [])
        return
    if recipe is None:
        raise UsageError("no recipe given", where="RECIPE",
                         hint="cnngrad generate --list shows them")
    if output is not None:
        if not output.strip():  # -o "$DIR" with DIR unset: not the current folder
            raise UsageError("no folder name given", where="--output", file="''",
                             hint="give -o DIR (-o . is the current folder)")
        output = Path(output)
    from cnngrad.generate.draw import MAX_SEED
    from cnngrad.generate.make import generate as make, resolve_recipe, with_sheets
    from cnngrad.layers._common import TIE_RULES
    from cnngrad.tensorio import names_a_file, names_a_folder

    if ties is not None and ties not in TIE_RULES:
        from cnngrad.errors import did_you_mean

        raise UsageError(f"unknown tie rule {ties!r}", where="--ties",
                         hint=did_you_mean(ties, TIE_RULES))
    resolve_recipe(recipe)  # an unknown name fails before anything else
    sizes = _sizes(recipe, input, kernel, stride, padding, channels, filters, pool, outputs,
                   batch, ties, bias)
    seed_value = _number(seed, "--seed")
    drawn = seed_value is None
    if drawn:
        import secrets

        seed_value = secrets.randbelow(10**6)
    if seed_value > MAX_SEED:
        raise UsageError(f"at most {MAX_SEED}", where="--seed")
    protected = [Path(recipe)] if names_a_file(recipe) else []

    suffix = Path(output).suffix.lower() if output is not None else ""
    # a name no folder can have (too long) is then named by the folder checks as an error line
    if suffix in FILE_SUFFIXES and not names_a_folder(output):
        # -o problem.json: a file name, where generate writes a folder of files
        one_problem = suffix == ".json" and students is None
        raise UsageError("-o takes a folder (generate writes several files), not a file name",
                         where="--output", file=short_name(str(output)),
                         hint=f"for problem.json alone leave out -o: cnngrad generate ... > "
                              f"{output}" if one_problem else "give a folder name")
    if students is not None:
        if output is None:
            raise UsageError("a class needs a folder to write into", where="--students",
                             hint="give -o DIR")
        write_class(recipe, seed_value, students, output, force, protected, numbers=numbers,
                     with_kinks=with_kinks, sizes=sizes)
        _tell_seed(seed_value, drawn, "exam")
        return
    if force and output is None:  # ignored, it would leave the user believing it did something
        raise UsageError("it overwrites the files of -o DIR; without -o, problem.json goes to "
                         "standard output, where there is nothing to overwrite", where="--force",
                         hint="give -o DIR, or leave --force out")
    with bundled_sample_hinted(recipe):
        exercise = make(recipe, seed_value, numbers=numbers, with_kinks=with_kinks, sizes=sizes)
    if output is None:
        _tell_seed(seed_value, drawn, "problem")
        write_output(exercise.problem_text, None, protected)
        _tell_notes(_notes_of(exercise.notes, exercise.zero_passes))
        return
    _folder(output, list(FILES), force)  # a folder that refuses it: no seed to tell
    _refuse_filled_templates([output / "answers-template.json"])
    _tell_seed(seed_value, drawn, "problem")
    _write_all(*_exercise_outputs(with_sheets(exercise), output, protected))
    print(f"wrote {', '.join(FILES)} to {output}", file=sys.stderr)
    _tell_notes(_notes_of(exercise.notes, exercise.zero_passes))


def _notes_of(notes: list[str], passes, where: str = "") -> list[str]:
    """``notes`` and what a kept tolerance passes (a ZeroPasses, or None)."""
    return notes + (passes.notes(where) if passes is not None else [])


def _tell_notes(notes: list[str]) -> None:
    """What the problems could not keep of the source file's grading block, one line each."""
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _tell_seed(seed: int, drawn: bool, what: str) -> None:
    if drawn:
        print(f"seed {seed} (give --seed {seed} to make this {what} again)", file=sys.stderr)


def write_class(recipe: str, seed: int, roster: str, output: Path, force: bool,
                protected: list[Path], **options) -> None:
    """Write a class's exam, ``cnngrad generate RECIPE --seed SEED --students ROSTER -o
    OUTPUT``: each student's handout in ``students/<folder>/`` (the problem, the answers
    template and the exercise sheets), their key in ``keys/<folder>/`` (the problem again, the
    key and the solution sheets) and ``manifest.json``, all or none, then say so on stderr
    (``options``: make_class's ``numbers``, ``with_kinks``, ``sizes``).  The generate
    benchmark times it too (``python -m cnngrad.generate.bench``)."""
    from cnngrad.generate.exam import json_text, make_class, manifest, read_roster
    from cnngrad.generate.make import ZeroPasses

    ids = read_roster(roster)
    with bundled_sample_hinted(recipe):
        variants = make_class(recipe, seed, ids, **options)
    _folder(output, ["manifest.json", STUDENTS_FOLDER, KEYS_FOLDER], force)
    # the templates this exam writes over: a dropped student's folder is left as it is
    _refuse_filled_templates([output / STUDENTS_FOLDER / variant.folder /
                              "answers-template.json" for variant in variants])
    earlier = _earlier_manifest(output / "manifest.json")
    protected = protected + [Path(roster)]
    outputs = []
    for tree, names in ((STUDENTS_FOLDER, STUDENT_FILES), (KEYS_FOLDER, KEY_FILES)):
        for variant in variants:
            outputs += _exercise_outputs(variant.exercise, output / tree / variant.folder,
                                         protected, names)
    document = manifest(recipe, seed, variants, **options)
    # every variant and the manifest, all or none: never a manifest of new seeds beside some
    # students' old problems, nor (the files not written) the empty folders made for them
    _write_all(*outputs, (json_text(document), output / "manifest.json", protected,
                          "--output"))
    count = len(variants)
    # a student who runs `cnngrad backward` on the problem.json handed out sees the answers
    print(f"wrote {count} variant{'' if count == 1 else 's'} to {output}: hand out "
          f"{STUDENTS_FOLDER}/ (a folder per student; for a graded exam its sheets and "
          f"template alone, as problem.json gives the answers), keep {KEYS_FOLDER}/ and "
          f"manifest.json", file=sys.stderr)
    for note in _exam_replaced(earlier, document, output / "manifest.json"):
        print(f"note: {note}", file=sys.stderr)
    stale = sorted({path.parent.name for tree in (STUDENTS_FOLDER, KEYS_FOLDER)
                    for path in (output / tree).glob("*/problem.json")}
                   - {variant.folder for variant in variants})
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        print(f"note: {len(stale)} folder{'' if len(stale) == 1 else 's'} of {STUDENTS_FOLDER}/ "
              f"or {KEYS_FOLDER}/ belong{'s' if len(stale) == 1 else ''} to no student of this "
              f"roster ({shown}), left from an earlier exam: remove "
              f"{'it' if len(stale) == 1 else 'them'} before handing out {STUDENTS_FOLDER}/",
              file=sys.stderr)
    # the same file, the same notes for every variant; but the tolerance's, of their values
    _tell_notes(_notes_of(variants[0].exercise.notes,
                          ZeroPasses.summed([variant.exercise.zero_passes
                                             for variant in variants]),
                          f", over the {count} variants"))


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG,
                short_help="Fresh practice and exam problems with nice numbers, their keys "
                           "and sheets.")(generate)
