"""``cnngrad/cli/`` is the only place that prints or exits (docs/architecture.md): every
other module computes and returns (data, text, renderables) and raises cnngrad's errors."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnngrad"

#: what prints or ends the process, as tokens: ``print(`` (not ``console.print(``, a Rich
#: console writing into a buffer), ``sys.exit``, ``SystemExit``, ``typer.Exit``, ``os._exit``
FORBIDDEN = ("print(", "sys.exit", "SystemExit", "typer.Exit", "os._exit")

#: where one of them is not cnngrad printing or exiting: ``cnngrad verify`` runs the user's
#: code with ``os._exit`` replaced by a stand-in that raises ``SystemExit`` in the user's call
#: (an exit of theirs is reported, never cnngrad's own process ended)
ALLOWED = {"verify/load.py": {"SystemExit", "os._exit"},
           # the program's entry: a Ctrl-C while cnngrad.cli itself is imported ends here
           "__main__.py": {"SystemExit"}}


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """The file's tokens, comments and strings (docstrings, child processes' scripts) left
    out."""
    source = path.read_text(encoding="utf-8")
    skip = {tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT}
    skip |= {getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE",
                                                   "FSTRING_END") if hasattr(tokenize, name)}
    return [token for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type not in skip]


def printing_and_exiting(path: Path) -> list[tuple[int, str]]:
    tokens = _code_tokens(path)
    found = []
    for i, token in enumerate(tokens):
        before = tokens[i - 1].string if i else ""
        after = [t.string for t in tokens[i + 1:i + 3]]
        if token.string == "print" and after[:1] == ["("] and before != ".":
            found.append((token.start[0], "print("))
        elif token.string == "SystemExit" and before != ".":
            found.append((token.start[0], "SystemExit"))
        elif (token.string in ("sys", "typer", "os") and before != "."
              and after[:1] == ["."] and len(after) == 2
              and f"{token.string}.{after[1]}" in FORBIDDEN):
            found.append((token.start[0], f"{token.string}.{after[1]}"))
    return found


def test_nothing_outside_cli_prints_or_exits():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("cli/"):
            continue
        allowed = ALLOWED.get(relative, set())
        offenders += [f"cnngrad/{relative}:{line}: {what}"
                      for line, what in printing_and_exiting(path) if what not in allowed]
    assert not offenders, ("only cnngrad/cli/ prints or exits: return the text or raise a "
                           "CnnGradError (cnngrad/errors.py) instead\n" + "\n".join(offenders))


def test_the_search_finds_each_form_in_code_and_none_in_text(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""print(1); sys.exit(2)"""\n'
                    "# raise SystemExit(3)\n"
                    "x = f'{print}'\n"
                    "console.print(x)\n"
                    "print (x)\n"
                    "sys.exit(1)\n"
                    "raise SystemExit\n"
                    "raise typer.Exit(2)\n"
                    "os._exit(0)\n"
                    "sys.stderr.write('')\n", encoding="utf-8")
    assert printing_and_exiting(path) == [(5, "print("), (6, "sys.exit"), (7, "SystemExit"),
                                          (8, "typer.Exit"), (9, "os._exit")]
