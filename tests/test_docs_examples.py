"""The examples of ``docs/*.md`` and the README tell the truth.

Every ``$ cnngrad ...`` example in a code block of the docs is run as written, through typer's
CliRunner, in a copy of the project folder (``samples/`` and the files the reader is assumed to
have made: ``hw.json``, ``relu-on-input.json``, ``residual-gap.json``, ``roster.csv``,
``practice/my-answers.json``, ``submissions/``, ``cnn_utils.py``), each doc's examples in
order, so that one which writes ``practice/`` or ``exam/`` feeds the next.  An example must

- print every line the doc shows under it (``...`` elides lines; the order is not checked);
- exit as its ``$ echo $?`` says, else with 2 exactly when it shows an ``error:`` line, else
  with 0 or 1 (a wrong answer or a failing case is a 1, a stale option a 2).

A table is laid out for a width: the doc shows it either as a file or a pipe gets it (COLUMNS
unset: 120 columns) or as an 80-column terminal does (COLUMNS=80); an example passes at either.
``$ cat FILE`` examples are held to the file.  A code block that lists bare ``cnngrad ...``
commands (no output shown) has each run for its exit code when it reads only ``samples/``.

The README's pipelines (``$ cnngrad ... | tail -3``) run in a shell and must print exactly the
lines shown; the output under its install command ("The first command prints:") is the whole
output of that command, and its quick-mode block's commands run in the folder it goes into.
Skipped by the collector: other examples that pipe or redirect (``|``, ``>``, ``<``), bare
commands that read the reader's own files (``mine.py``, ``cs231n/layers.py``),
other shell commands (``ls``, ``python -m ...``: the bench figures are measurements) and
docs/performance.md, whose figures are measurements.

The Python examples of docs/api.md run as one session and must print exactly the text block
under them; its signature listings must name every parameter of the real function with its
real default, and its ``>>>`` errors are the real messages.  check.md's "From Python" snippet
runs, its answers-file example is right for the worked example, and a ``json`` block holding
a whole problem runs.  verify.md's ``verify_op`` snippet is not run (it imports the reader's
own ``layers`` modules).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import fnmatch
import glob
import inspect
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: the docs whose examples are held here (performance.md's figures are measurements)
DOC_NAMES = sorted(p.name for p in DOCS.glob("*.md") if p.name != "performance.md")
#: the README's examples are held the same way, from the project's root as well
README = "README.md"
#: a path-like argument: a file the command reads or writes
#: (or a module, mypkg.layers:conv_backward)
FILE_LIKE = re.compile(r"\.(json|csv|py|npy|npz)$|\.py:|^[\w.]+:\w+$")
WRITES = ("-o", "--output", "--save-svg", "--to")

runner = CliRunner()


@dataclasses.dataclass
class Example:
    doc: str
    line: int
    command: str
    shown: list[str]
    exit_code: int | None = None

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: $ {self.command}"


def _bare_reads_only_samples(command: str) -> bool:
    tokens = shlex.split(command)
    reads = [token for before, token in zip([""] + tokens, tokens)
             if FILE_LIKE.search(token) and before not in WRITES]
    return all(token.startswith("samples/") for token in reads)


def _doc_path(doc: str) -> Path:
    return ROOT / doc if doc == README else DOCS / doc


def collect(doc: str, piped: bool = False) -> list[Example]:
    """The shell examples of ``doc``: ``$ cnngrad ...`` and ``$ cat ...`` with the lines shown
    under them, and the bare commands of a block that lists commands only; with ``piped``,
    the ``$ cnngrad ... | ...`` examples instead."""
    lines = _doc_path(doc).read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    block: list[int] | None = None  # line numbers of the open code block
    for number, line in enumerate(lines):
        if line.strip().startswith("```"):
            if block is None:
                block = []
                continue
            examples.extend(_block_examples(doc, lines, block, piped))
            block = None
        elif block is not None:
            block.append(number)
    return examples


def _block_examples(doc: str, lines: list[str], numbers: list[int],
                    piped: bool = False) -> list[Example]:
    texts = [lines[n] for n in numbers]
    stripped = [t.strip() for t in texts]
    # a list of commands, nothing shown: each one is run for its exit code
    continued = [i > 0 and texts[i - 1].rstrip().endswith("\\") for i in range(len(texts))]
    if not piped and stripped and all(s.startswith(("cnngrad ", "#")) or not s or continued[i]
                        for i, s in enumerate(stripped)):
        examples = []
        for i, s in enumerate(stripped):
            if not s.startswith("cnngrad ") or continued[i]:
                continue
            command, j = s, i
            while command.endswith("\\"):
                j += 1
                command = command[:-1].rstrip() + " " + stripped[j]
            if not re.search(r"[|<>]", command) and _bare_reads_only_samples(command):
                examples.append(Example(doc, numbers[i] + 1, command, []))
        return examples
    examples = []
    i = 0
    while i < len(texts):
        line = texts[i]
        if not line.strip().startswith(("$ cnngrad ", "$ cat ")):
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        command, first = line.strip()[2:], numbers[i] + 1
        while command.endswith("\\"):
            i += 1
            command = command[:-1].rstrip() + " " + texts[i].strip()
        shown, exit_code = [], None
        i += 1
        while i < len(texts):
            following = texts[i].removeprefix(indent)
            if following.startswith("$ "):
                if (following.strip() == "$ echo $?" and i + 1 < len(texts)
                        and texts[i + 1].strip().isdigit()):
                    exit_code = int(texts[i + 1])
                    i += 2
                break
            if following.strip() not in ("", "..."):
                shown.append(following.rstrip())
            i += 1
        if piped == bool(re.search(r"[|<>]", command)):
            examples.append(Example(doc, first, command, shown, exit_code))
    return examples


# --------------------------------------------------------------------------- the reader's files

_DLS_POOL_BACKWARD = '''\
import numpy as np


def create_mask_from_window(x):
    return x == np.max(x)


def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    stride, f = hparameters["stride"], hparameters["f"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    rows = slice(h * stride, h * stride + f)
                    cols = slice(w * stride, w * stride + f)
                    if mode == "max":
                        mask = create_mask_from_window(A_prev[i, rows, cols, c])
                        dA_prev[i, rows, cols, c] += mask * dA[i, h, w, c]
                    else:
                        dA_prev[i, rows, cols, c] += dA[i, h, w, c] / (f * f)
    return dA_prev
'''


#: explain.md's problem with an output read by two layers and a global average pool
_RESIDUAL_GAP = """\
{
  "title": "A conv stem read twice (relu, skip), global average pooling, a dense head",
  "input": [
    [1, 2, 0],
    [0, 1, 3],
    [2, 0, 1]
  ],
  "layers": [
    {
      "type": "conv2d",
      "name": "stem",
      "kernel": [
        [[1, -1], [0, 1]],
        [[-1, 0], [1, -2]]
      ]
    },
    {"type": "relu", "name": "act"},
    {"type": "add", "name": "skip", "inputs": ["act", "stem"]},
    {"type": "global_avgpool", "name": "gap"},
    {"type": "dense", "name": "head", "weights": [[1, -2]], "bias": 0.5}
  ],
  "loss": {"type": "mse", "target": [1]}
}
"""


def _hw(folder: Path) -> str:
    problem = json.loads((folder / "samples" / "stackexchange.json").read_text("utf-8"))
    problem["grading"] = {"points": {"conv2d_1.kernel": 4}}
    return json.dumps(problem)


def _key(folder: Path, student: str) -> dict:
    return json.loads((folder / "exam" / "keys" / student / "key.json").read_text("utf-8"))


#: files the docs assume the reader made, by the doc and the name its command gives them
#: (written just before the first example that names them; a callable reads what earlier
#: examples wrote)
READER_FILES = {
    "check.md": {
        "hw.json": _hw,
        "ana.json": lambda folder: json.dumps(
            {"conv2d_1.grads.kernel": [[0.0446, 0.0941], [0.0113, 0.0683]]}),
    },
    "generate.md": {
        # a ReLU reading the input directly, which drawn inputs (never negative) cannot cross
        "relu-on-input.json": lambda folder: json.dumps({
            "input": [[1, 2, 0], [3, 1, 2], [0, 1, 4]],
            "layers": [{"type": "relu"}, {"type": "conv2d", "kernel": [[1, 0], [0, 1]]}],
            "delta": [[1, 0], [0, 1]]}),
        # the kernel's gradient right, the input delta with the kernel not rotated
        "practice/my-answers.json": lambda folder: json.dumps({
            "conv2d_1.grads.kernel": [[-2, 12], [7, -2]],
            "conv2d_1.delta_in": [[0, -4, 2, 6, 0], [-2, -12, -6, -5, -4],
                                  [-6, -5, -1, -6, -2], [2, 10, 3, 0, 0], [6, 3, 0, 0, 0]]}),
        "roster.csv": lambda folder: "id,name\nana,Ana Lima\nben,Ben Okafor\nchen,Chen Wei\n",
        # Ana answers her own problem, Ben copies Chen's numbers, Chen answers the kernel only
        "submissions/ana/answers.json": lambda folder: json.dumps(_key(folder, "ana")),
        "submissions/ben/answers.json": lambda folder: json.dumps(_key(folder, "chen")),
        "submissions/chen/answers.json": lambda folder: json.dumps(
            {"conv2d_1.grads.kernel": _key(folder, "chen")["conv2d_1.grads.kernel"]}),
    },
    "explain.md": {"residual-gap.json": lambda folder: _RESIDUAL_GAP},
    "verify.md": {"cnn_utils.py": lambda folder: _DLS_POOL_BACKWARD},
}
#: the README's exam commands are generate.md's; its error example reads a problem whose
#: second conv's kernel has 2 channels per filter where the first conv makes 3
READER_FILES[README] = {**READER_FILES["generate.md"], "broken.json": lambda folder: json.dumps({
    "input": [[1, 2, 0], [0, 1, 3], [2, 0, 1]],
    "layers": [{"type": "conv2d", "kernel": [[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[1, 1], [0, 0]]]},
               {"type": "conv2d", "kernel": [[[[1]], [[1]]]]}],
    "delta": [[1, 0], [0, 1]]})}


def _write_reader_files(doc: str, command: str, folder: Path) -> None:
    tokens = shlex.split(command)
    for name, content in READER_FILES.get(doc, {}).items():
        path = folder / name
        # a token names a file, a glob of files, or a file and its function (FILE.py:name)
        if any(fnmatch.fnmatchcase(name, token.split(":", 1)[0]) for token in tokens) \
                and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content(folder), encoding="utf-8")


# --------------------------------------------------------------------------- running

def _argv(command: str) -> list[str]:
    argv = []
    for token in shlex.split(command)[1:]:
        # the shell's glob, sorted; a quoted path such as 'kernel[0,0]' holds no *
        argv.extend(sorted(glob.glob(token)) or [token] if "*" in token else [token])
    return argv


def _run(command: str, columns: str | None) -> tuple[int, list[str], str]:
    result = runner.invoke(app, _argv(command), env={"COLUMNS": columns})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # a crash is never what a doc shows, whatever exit code it leaves
        return -1, [], f"raised {result.exception!r}"
    return (result.exit_code, [line.rstrip() for line in result.output.splitlines()],
            result.output)


def _missing(shown: list[str], printed: list[str]) -> list[str]:
    return [line for line in shown if line not in printed]


def _exit_code_is_right(example: Example, code: int) -> bool:
    if example.exit_code is not None:
        return code == example.exit_code
    if any(line.startswith("error:") for line in example.shown):
        return code == 2
    return code in (0, 1)


def check_example(example: Example, folder: Path) -> str | None:
    """None when ``example`` prints what its doc shows, else what went wrong."""
    _write_reader_files(example.doc, example.command, folder)
    if example.command.startswith("cat "):
        printed = (folder / example.command[4:].strip()).read_text("utf-8").splitlines()
        missing = _missing(example.shown, printed)
        return f"{example}\n  not in the file: {missing[:5]}" if missing else None
    code, printed, output = _run(example.command, None)
    missing, width = _missing(example.shown, printed), "120 columns"
    if missing and not any(option in example.command.split() for option in WRITES):
        # not as a file gets it: perhaps as an 80-column terminal shows it
        code_80, printed_80, output_80 = _run(example.command, "80")
        missing_80 = _missing(example.shown, printed_80)
        if len(missing_80) < len(missing):
            code, missing, output, width = code_80, missing_80, output_80, "80 columns"
    if missing or not _exit_code_is_right(example, code):
        return (f"{example}\n  exit code {code}; not printed (at {width}):\n"
                + "\n".join(f"    {line}" for line in missing[:8])
                + "\n  printed:\n" + "\n".join(f"    {line}" for line in output.splitlines()[:12]))
    return None


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """A folder with the project's samples, as the docs' commands run from the project root;
    ``cnngrad verify`` imports the reader's module: sys.path and sys.modules are restored."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]


@pytest.mark.parametrize("doc", [d for d in DOC_NAMES + [README] if collect(d)])
def test_docs_examples_print_the_lines_the_docs_show(doc, project_copy):
    failures = [failure for example in collect(doc)
                if (failure := check_example(example, project_copy)) is not None]
    assert failures == [], "\n\n".join(failures)


@pytest.mark.skipif(shutil.which("bash") is None, reason="the examples are shell pipelines")
def test_readme_pipelines_print_exactly_the_lines_the_readme_shows(project_copy):
    """``$ cnngrad ... | head -2`` and the like, run by a shell as a reader runs them (a pipe:
    no terminal, COLUMNS unset), with ``cnngrad`` this checkout's command."""
    examples = collect(README, piped=True)
    assert len(examples) >= 8
    bin_dir = project_copy / "bin"
    bin_dir.mkdir()
    (bin_dir / "cnngrad").write_text(
        f'#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} '
        '-m cnngrad "$@"\n', encoding="utf-8")
    (bin_dir / "cnngrad").chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    failures = []
    for example in examples:
        done = subprocess.run(["bash", "-c", "set -o pipefail; " + example.command],
                              cwd=project_copy, env=env, capture_output=True, text=True,
                              encoding="utf-8", timeout=120)
        printed = [line.rstrip() for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 or printed != example.shown:
            failures.append(f"{example}\n  exit code {done.returncode}; printed:\n"
                            + "\n".join(f"    {line}" for line in printed[:12])
                            + done.stderr[-400:])
    assert failures == [], "\n\n".join(failures)


def _readme_blocks() -> list[tuple[str, list[str], int]]:
    """The README's code blocks: (language, lines, the line number of the fence)."""
    lines = (ROOT / README).read_text(encoding="utf-8").splitlines()
    blocks, opened = [], None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            if opened is None:
                opened = (line[3:].strip(), number)
            else:
                blocks.append((opened[0], lines[opened[1] + 1:number], opened[1] + 1))
                opened = None
    return blocks


def test_readme_first_command_prints_what_the_readme_says_it_prints(project_copy):
    # "The first command prints:" stands under the install command, not after a "$ ", so
    # the collector does not see it: it is held here, whole, as a pipe or a file gets it
    blocks = _readme_blocks()
    install = next(body for lang, body, _ in blocks if lang == "sh")
    command = next(line for line in install if "bin/cnngrad " in line).split("bin/cnngrad ")[1]
    shown = next(body for lang, body, _ in blocks if lang == "text")
    code, printed, output = _run("cnngrad " + command, None)
    assert code == 0, output
    assert printed == [line.rstrip() for line in shown]


def test_readme_quick_mode_commands_run_from_the_checkout(project_copy, monkeypatch):
    # each line pastes on its own: the first used to cd into samples/csv, which the second
    # needed and which left every later samples/... command of the README failing
    block = next(body for lang, body, _ in _readme_blocks()
                 if lang == "sh" and body and "--input samples/csv/o.csv" in body[0])
    monkeypatch.chdir(project_copy)
    commands = [line for line in block if line.startswith("cnngrad ")]
    assert len(commands) == 2 and not any(line.startswith("cd ") for line in block)
    for command in commands:
        code, _, output = _run(command, None)
        assert code == 0, f"{command}\n{output}"
        assert "dE/dw (kernel gradient)" in output, output


def test_the_collector_finds_the_examples():
    examples = {doc: collect(doc) for doc in DOC_NAMES}
    shown = [e for found in examples.values() for e in found
             if e.command.startswith("cnngrad ") and e.shown]
    assert len(shown) >= 30
    for doc in ("check.md", "explain.md", "formats.md", "generate.md", "gradcheck.md",
                "verify.md"):
        assert any(e.shown for e in examples[doc]), doc
    # `$ echo $?` is read as the exit code, a bare command list as commands
    assert {e.exit_code for e in examples["check.md"]} >= {1}
    assert any(not e.shown and e.command.startswith("cnngrad gradcheck")
               for e in examples["gradcheck.md"])
    assert not any("|" in e.command or ">" in e.command for found in examples.values()
                   for e in found)


def test_a_stale_example_is_caught(project_copy):
    example = next(e for e in collect("formats.md") if "--format csv --decimals 4" in e.command)
    assert check_example(example, project_copy) is None
    stale = dataclasses.replace(example, shown=[line.replace("0.0446", "0.0447")
                                                for line in example.shown])
    assert stale.shown != example.shown
    failure = check_example(stale, project_copy)
    assert failure is not None and "0.0447,0.0941" in failure
    wrong_exit = dataclasses.replace(example, exit_code=1)
    assert check_example(wrong_exit, project_copy) is not None


# --------------------------------------------------------------------------- Python

def _code_blocks(doc: str) -> tuple[list[tuple[str, str, int, int]], str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), m.start(), m.end())
            for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)], text


def _python_with_output(doc: str):
    """(code, shown) for each ``python`` block followed directly by a ``text`` block, and
    the ``python`` blocks that show no output."""
    blocks, text = _code_blocks(doc)
    pairs, alone = [], []
    for index, (lang, code, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following and following[0] == "text" and not text[end:following[2]].strip():
            pairs.append((code, following[1]))
        else:
            alone.append(code)
    return pairs, alone


def test_api_examples_print_what_the_docs_show(monkeypatch):
    monkeypatch.chdir(ROOT)
    pairs, _ = _python_with_output("api.md")
    assert len(pairs) >= 8
    session: dict = {}  # the examples continue one another, as one Python session
    for code, shown in pairs:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "docs/api.md", "exec"), session)  # noqa: S102 - the doc's own code
        assert printed.getvalue() == shown, code


def _listed_calls(code: str):
    """Each ``name(arg, key=default, ...)`` call of a signature listing."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.keywords:
            yield node


def test_api_signature_listings_are_the_real_signatures():
    import cnngrad

    _, listings = _python_with_output("api.md")
    checked = set()
    for code in listings:
        namespace: dict = {}
        imports = [node for node in ast.parse(code).body if isinstance(node, ast.ImportFrom)]
        exec(compile(ast.Module(imports, []), "docs/api.md", "exec"), namespace)  # noqa: S102
        for call in _listed_calls(code):
            name = call.func.id
            real = inspect.signature(getattr(cnngrad, name)).parameters
            listed = [arg.id for arg in call.args] + [k.arg for k in call.keywords]
            assert listed == list(real), name
            for keyword in call.keywords:
                assert ast.literal_eval(keyword.value) == real[keyword.arg].default, \
                    (name, keyword.arg)
            checked.add(name)
    assert {"conv2d_forward", "conv2d_backward", "maxpool2d_backward", "conv1d_backward",
            "batchnorm_backward", "conv_transpose2d_backward"} <= checked


def test_api_errors_are_the_real_messages():
    import numpy as np

    import cnngrad

    blocks, _ = _code_blocks("api.md")
    shown = next(code for lang, code, _, _ in blocks if lang == "text" and ">>> " in code)
    lines = shown.splitlines()
    calls = [(line[4:], lines[i + 1]) for i, line in enumerate(lines) if line.startswith(">>> ")]
    assert len(calls) >= 2
    names = {"np": np, **{name: getattr(cnngrad, name) for name in cnngrad.__all__}}
    for call, error in calls:
        with pytest.raises(Exception) as raised:
            eval(call, names)  # noqa: S307 - the doc's own expression
        assert f"{type(raised.value).__name__}: {raised.value}" == error


def test_checks_python_snippet_runs_and_grades_as_the_gradebook_shows(monkeypatch):
    monkeypatch.chdir(ROOT)
    _, alone = _python_with_output("check.md")
    (snippet,) = [code for code in alone if "check_file" in code]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "docs/check.md", "exec"), {})  # noqa: S102 - the doc's own code
    lines = printed.getvalue().splitlines()
    assert lines[0] == "conv2d_1.grads.kernel 4 4 []"
    assert lines[1].startswith("conv2d_1.delta_in 12 25 ['matches the kernel not rotated")
    assert "ben 18.0 20.0 []" in lines  # 18/20 points, as the gradebook in check.md says
    assert "sigmoid_1.delta_in 0.0 2.0 wrong" in lines


def test_checks_answers_file_example_is_right_for_the_worked_example(project_copy):
    blocks, _ = _code_blocks("check.md")
    answers = next(code for lang, code, _, _ in blocks
                   if lang == "json" and "conv2d_1.delta_in[1,2]" in code)
    (project_copy / "answers.json").write_text(answers, encoding="utf-8")
    result = runner.invoke(app, ["check", "samples/stackexchange.json", "answers.json"])
    assert result.exit_code == 0, result.output
    assert "total: 5/5 cells right" in result.output


def test_whole_problem_files_in_the_docs_run(tmp_path):
    """A ``json`` block that is a whole problem (not elided with ``...``) runs as written."""
    problems = []
    for doc in DOC_NAMES:
        blocks, _ = _code_blocks(doc)
        for lang, code, _, _ in blocks:
            if lang == "json" and "..." not in code and '"input"' in code:
                problems.append(code)
    assert problems
    for number, code in enumerate(problems):
        path = tmp_path / f"problem{number}.json"
        path.write_text(code, encoding="utf-8")
        result = runner.invoke(app, ["backward", str(path), "--format", "json"])
        assert result.exit_code == 0, (code, result.output)


@pytest.mark.parametrize("command", ["backward", "forward"])
def test_every_help_example_of_backward_and_forward_runs_on_the_samples(command, project_copy):
    # 'cnngrad backward net.json -o result.json' named a file nothing bundles: a new user
    # copying it got 'no such file'
    from cnngrad.cli.backward import EPILOG as BACKWARD
    from cnngrad.cli.forward import EPILOG as FORWARD

    text = (BACKWARD if command == "backward" else FORWARD).replace("\\\n", " ")
    examples = [line.strip() for line in text.splitlines()
                if line.strip().startswith(f"cnngrad {command} ")]
    assert len(examples) >= 5
    for example in examples:
        code, _, output = _run(example, None)
        assert code == 0, f"{example}\n{output}"
