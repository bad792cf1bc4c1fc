"""``cnngrad schema``: the JSON Schema of the problem format."""

import json
from typing import Annotated, Optional

import typer

from cnngrad.cli.common import DebugOpt, dash_is_standard_output, guarded, write_output

EPILOG = """\
Examples

  cnngrad schema > cnngrad-problem.schema.json
  cnngrad schema -o cnngrad-problem.schema.json

Editors validate problem files with it as you type: in VS Code, map your
problem files to the saved schema in the json.schemas setting.  Any JSON Schema
validator (draft 2020-12) checks a file with it too.
"""


@guarded
def schema(
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="FILE", callback=dash_is_standard_output,
        help="Write the schema to this file instead of standard output; - is standard "
             "output.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Print a JSON Schema (draft 2020-12) of the problem format: keys, layer types and their
    fields, losses and the TENSOR forms.  Shapes that must fit together are cnngrad's own
    check (the schema cannot see them)."""
    from cnngrad.schema import problem_schema

    write_output(json.dumps(problem_schema(), indent=2, ensure_ascii=False) + "\n", output, [])


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG,
                short_help='Print a JSON Schema of the problem format for your editor.')(schema)
