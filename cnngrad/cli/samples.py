"""``cnngrad samples``: the bundled sample problems, to list, print or copy."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnngrad.cli.common import DebugOpt, guarded, write_output

EPILOG = """\
Examples

  cnngrad samples
  cnngrad samples stackexchange > problem.json
  cnngrad samples stackexchange-csv --to my-problem
  cnngrad samples exam --to samples
  cnngrad backward "$(cnngrad samples --path)/stackexchange.json"
"""


#: The listing fits an 80-column terminal, and a narrower one at its own width.
LISTING_WIDTH = 80


def listing_text(listed, width: int = LISTING_WIDTH) -> str:
    """One entry per sample: its name, then its title (and the files it reads) starting on
    the same line; a title too long for ``width`` goes on under itself, indented past the
    names, and the files it reads follow on a line of their own, so every line starting at
    column 0 is a sample's name."""
    import functools
    import textwrap

    name_width = max(len(sample.name) for sample in listed)
    indent = " " * (name_width + 2)
    lines = []
    for sample in listed:
        # a path or a number is never broken; a word longer than the room just sticks out
        wrap = functools.partial(textwrap.wrap, width=max(width, len(indent) + 20),
                                 subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False)
        lines += wrap(sample.title, initial_indent=f"{sample.name:<{name_width}}  ")
        if sample.needs:  # the files it reads on a line (or lines) of their own
            lines += wrap(f"(reads {', '.join(sample.needs)})", initial_indent=indent)
    return "".join(f"{line}\n" for line in lines)


@guarded
def samples(
    name: Annotated[Optional[str], typer.Argument(
        metavar="NAME", help="A sample to print (its JSON, ready to save and edit). Leave it out "
                             "to list them all.", show_default=False)] = None,
    to: Annotated[Optional[Path], typer.Option(
        "--to", help="Copy the sample, with the CSV files it reads and the answers files that "
                     "come with it (exam/ for exam), into this folder (made if needed) "
                     "instead of printing it.", file_okay=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --to: overwrite files that are already there.")] = False,
    path: Annotated[bool, typer.Option(
        "--path", help="Print the folder the samples are in.")] = False,
    debug: DebugOpt = False,
) -> None:
    """The bundled sample problems: each one's name and what it is, or one of them printed
    so it can be saved and edited."""
    from cnngrad.bundled import get_sample, list_samples, samples_dir
    from cnngrad.errors import UsageError

    if path:
        if name is not None or to is not None:
            raise UsageError("--path prints the samples folder; give no NAME or --to with it",
                             where="--path")
        write_output(f"{samples_dir()}\n", None, [])
        return
    if name is None:
        if to is not None:
            raise UsageError("--to copies one sample: give its NAME", where="--to",
                             hint="cnngrad samples lists the names")
        from cnngrad.cli.common import output_width

        terminal = sys.stdout is not None and sys.stdout.isatty()
        text = listing_text(list_samples(), min(LISTING_WIDTH, output_width(terminal)))
        write_output(text, None, [])
        return
    sample = get_sample(name)
    if to is not None:
        written = _copy_sample(sample, to, force)
        write_output("".join(f"wrote {target}\n" for target in written), None, [])
        return
    if force:
        raise UsageError("--force goes with --to", where="--force")
    write_output(sample.text(), None, [])
    if sample.needs:
        # on stderr, so that `cnngrad samples NAME > problem.json` saves clean JSON
        typer.echo(f"note: this problem reads {', '.join(sample.needs)} (relative to its own "
                   f"folder); `cnngrad samples {sample.name} --to DIR` copies them with it",
                   err=True)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG,
                short_help='List the bundled sample problems, or print one to save and edit.')(samples)


def _copy_sample(sample, folder: Path, force: bool) -> list[Path]:
    """Copy the sample and its files into ``folder``, all or none: each to a temporary file
    first, put in place only when every one is written (a full disk leaves no empty
    ``cleo.json`` beside the rest), and the folders made for them removed again."""
    from cnngrad.bundled import sample_copies
    from cnngrad.cli.output import write_files_into_folders

    pairs = sample_copies(sample, Path(folder), overwrite=force)
    write_files_into_folders(*[(source.read_bytes(), target, [], "--to")
                               for source, target in pairs],
                             writer="the sample has", option="--to")
    return [target for _, target in pairs]
