"""Tests for cnngrad.tensorio: the problem document and every TENSOR form.

Accepted forms are checked against literal values; a corpus of malformed inputs checks
each error's ``file``, ``where`` (exact) and a key word of its message; hypothesis checks
that nothing but ProblemError ever escapes.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import shutil
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cnngrad.errors import ProblemError
from cnngrad.tensorio import (MAX_DEPTH, load_json_document, parse_number, parse_tensor,
                              portable_json_error, read_source)

F = Fraction


def write_files(folder: pathlib.Path, files: dict[str, object]) -> None:
    """Write test files: bytes/str as they are, numpy arrays with numpy.save."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, np.ndarray):
            with open(path, "wb") as handle:
                np.save(handle, content, allow_pickle=True)
        elif isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)


def tensor(value, tmp_path, **options):
    return parse_tensor(value, "input", file="p.json", base_dir=tmp_path, **options)


def assert_fractions(array: np.ndarray, expected) -> None:
    assert array.dtype == object
    assert all(type(v) is Fraction for v in array.flat)
    assert array.tolist() == np.array(expected, dtype=object).tolist()


# --------------------------------------------------------------------------- read_source

def test_read_source_file_gives_bytes_name_and_folder(tmp_path, monkeypatch):
    write_files(tmp_path, {"sub/p.json": b'{"input": 1}'})
    monkeypatch.chdir(tmp_path)
    raw, name, base = read_source("sub/p.json")
    assert raw == b'{"input": 1}'
    assert name == "sub/p.json"
    assert base == tmp_path / "sub"
    assert base.is_absolute()


@pytest.mark.parametrize("given, expected", [(b'{"a": 1}', b'{"a": 1}'), (b"", b"")])
def test_read_source_stdin(given, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw, name, base = read_source("-", stdin_bytes=given)
    assert (raw, name, base) == (expected, "<stdin>", tmp_path)


@pytest.mark.parametrize("name, make, keyword", [
    ("missing.json", None, "no such file"),
    ("folder", "dir", "is a folder, not a file"),
    ("folder", "empty-dir", "is a folder with no file in it"),
    ("a.json/inner.json", "file-as-dir", "no such file"),
    ("", None, "no file name"),
])
def test_read_source_errors(name, make, keyword, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if make in ("dir", "empty-dir"):
        (tmp_path / name).mkdir()
        if make == "dir":
            (tmp_path / name / "p.json").write_text("{}")
    elif make == "file-as-dir":
        (tmp_path / "a.json").write_text("{}")
    with pytest.raises(ProblemError) as info:
        read_source(name)
    assert keyword in info.value.what
    assert info.value.file is not None and info.value.where is None


@pytest.mark.parametrize("told, over", [(10, False), (0, False), (10, True)])
def test_a_file_that_grows_while_read_is_read_to_its_end(tmp_path, monkeypatch, told, over):
    # a regular file is read by its own size (asking for the largest file allowed set aside
    # 256 MiB every time); one that grew since its size was taken is read on, to the limit
    import cnngrad.tensorio as tensorio

    path = tmp_path / "p.json"
    data = b'{"input": [[1, 2], [3, 4]], "kernel": [[1]], "delta": [[1, 1], [1, 1]]}'
    path.write_bytes(data)
    real_fstat = os.fstat

    def fstat(descriptor):  # the size as it was before the file grew (a /proc file: 0)
        info = real_fstat(descriptor)
        return os.stat_result((*info[:6], told, *info[7:]))

    monkeypatch.setattr(os, "fstat", fstat)
    if over:
        monkeypatch.setattr(tensorio, "MAX_FILE_BYTES", len(data) - 1)
        with pytest.raises(ProblemError, match="is larger than"):
            read_source(str(path))
    else:
        assert read_source(str(path))[0] == data


def test_a_file_past_the_largest_is_refused_by_its_size_before_it_is_read(tmp_path,
                                                                          monkeypatch):
    # 300 MB read to be told it is past 256 MB took 0.9 s and 340 MB; a sparse file here
    path = tmp_path / "big.json"
    with open(path, "wb") as handle:
        handle.truncate(300 * 2**20)
    import builtins

    import cnngrad.tensorio as tensorio

    reads = []

    class Counted:  # the file as tensorio opens it, its reads counted
        def __init__(self, *args, **kwargs):
            self.handle = builtins.open(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, *args):
            reads.append(args)
            return self.handle.read(*args)

    monkeypatch.setattr(tensorio, "open", Counted, raising=False)
    with pytest.raises(ProblemError, match="is larger than 256 MB"):
        read_source(str(path))
    assert reads == []
    monkeypatch.undo()
    from typer.testing import CliRunner

    from cnngrad.cli import app

    result = CliRunner().invoke(app, ["backward", str(path)])
    assert result.exit_code == 2 and result.output.endswith("is larger than 256 MB\n")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads everything")
def test_read_source_unreadable(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        with pytest.raises(ProblemError, match="permission denied"):
            read_source(str(path))
    finally:
        path.chmod(0o600)


def test_a_problem_through_a_pipe_reads_its_tensor_files_from_the_current_folder(tmp_path,
                                                                                   monkeypatch):
    # `cnngrad backward <(cat p.json)`: the shell names a pipe, /dev/fd/63, whose folder
    # holds no tensor files; its relative names are read from the current folder, as for `-`
    import shlex
    import subprocess
    import sys

    (tmp_path / "o.csv").write_text("1,2\n3,4\n")
    (tmp_path / "p.json").write_text('{"input": {"csv": "o.csv"}, "kernel": [[1]], '
                                     '"delta": [[1, 1], [1, 1]]}')
    def in_bash(problem: str):
        """``cnngrad backward PROBLEM -f json`` as bash runs it, in tmp_path."""
        return subprocess.run(
            ["bash", "-c", f"{shlex.quote(sys.executable)} -m cnngrad backward {problem} -f json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parent.parent)})

    result = in_bash("<(cat p.json)")
    assert result.returncode == 0, result.stderr
    assert '"delta_in"' in result.stdout
    named = in_bash("/dev/stdin < p.json")
    assert named.returncode == 0, named.stderr
    assert named.stdout == result.stdout
    # an error in such a file names it as read, not under /dev/fd: "/dev/fd/o.csv: row 2"
    (tmp_path / "o.csv").write_text("1,2\n3,x\n")
    for problem in ("<(cat p.json)", "/dev/stdin < p.json"):
        bad = in_bash(problem)
        assert bad.returncode == 2
        assert bad.stderr == "error: o.csv: row 2, column 2: 'x' is not a number\n"


def test_read_source_reads_sys_stdin_when_no_bytes_given(tmp_path, monkeypatch):
    import io
    import sys
    import types

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(b'{"input": 2}')))
    assert read_source("-") == (b'{"input": 2}', "<stdin>", tmp_path)


def test_permission_denied_is_reported_even_as_root(tmp_path, monkeypatch):
    import cnngrad.tensorio as tensorio

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    write_files(tmp_path, {"p.json": "{}", "o.csv": "1\n"})
    monkeypatch.setattr(tensorio, "open", denied, raising=False)
    with pytest.raises(ProblemError) as info:
        read_source(str(tmp_path / "p.json"))
    assert info.value.what == "cannot be read: permission denied"
    with pytest.raises(ProblemError) as info:
        tensor({"csv": "o.csv"}, tmp_path)
    assert (info.value.file, info.value.where) == ("p.json", "input.csv")
    assert info.value.what == "'o.csv' cannot be read: permission denied"


# --------------------------------------------------------------------------- JSON document

def test_load_json_document_reads_decimals_ints_and_bom():
    raw = b'\xef\xbb\xbf{"input": [0.51, 2, "-1/3", 1E2], "t": "x"}'
    document = load_json_document(raw, "p.json")
    assert document == {"input": [Decimal("0.51"), 2, "-1/3", Decimal("1E2")], "t": "x"}
    assert type(document["input"][0]) is Decimal and type(document["input"][1]) is int


def test_brackets_and_constants_inside_strings_are_text():
    deep_text = "[" * 200 + "NaN"
    document = load_json_document(json.dumps({"title": deep_text, "x": [[1]]}).encode(), "p.json")
    assert document["title"] == deep_text


def test_depth_limit_is_exact():
    deepest = load_json_document(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, "p.json")
    for _ in range(MAX_DEPTH - 1):
        (deepest,) = deepest  # one list in each, MAX_DEPTH deep
    assert deepest == []
    with pytest.raises(ProblemError, match="nesting deeper"):
        load_json_document(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "p.json")


def test_depth_check_survives_pathological_nesting_quickly():
    start = time.perf_counter()
    with pytest.raises(ProblemError, match="nesting deeper") as info:
        load_json_document(b"[" * 200_000, "p.json")
    assert info.value.where == "line 1, column 65"
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("raw, hint", [
    (b'{"input": [[1, 2]]\n  "kernel": [[1]]}', "a ',' missing at the end of line 1?"),
    (b'{"input": [1,\n 2\n\n 3]}', "a ',' missing at the end of line 2?"),
    # on one line, or a closing bracket that does not pair, is no comma at a line's end
    (b'{"input": [[1, 2] [3, 4]]}', None),
    (b'{"input": [[1, 2]\n}', None),
])
def test_a_comma_missing_at_a_lines_end_is_named_by_its_line(raw, hint):
    with pytest.raises(ProblemError, match="expecting ',' delimiter") as info:
        load_json_document(raw, "p.json")
    assert info.value.hint == hint


JSON_CORPUS = [
    # (raw bytes, where, key word)
    (b"", "line 1, column 1", "empty file"),
    (b" \n\t ", "line 2, column 3", "empty file"),
    (b"\x00\x01\x02", "line 1, column 1", "not text: a NUL byte (binary file?)"),
    (b'{"title": "caf\xe9"}', "line 1, column 15", "not UTF-8"),
    (b'{\n  "t": "\xc3\xa9\xff"}', "line 2, column 10", "not UTF-8"),
    (b"\xff\xfe{\x00}\x00", "line 1, column 1", "UTF-16"),
    (b'{"a": 1,\n "a": 2}', "a", "duplicate key 'a'"),
    (b'{"layers": [{"type": "relu"}, {"type": "relu", "type": "tanh"}]}', "layers[1].type",
     "duplicate key 'type'"),
    (b'{"input": [1, 2', "line 1, column 16", "truncated"),
    (b'{"input": [1, 2]\n,', "line 2, column 2", "truncated"),
    (b'{"input": NaN}', "input", "NaN is not allowed"),
    (b'{"input": [1, -Infinity]}', "input[1]", "-Infinity is not allowed"),
    (b'{"t": "NaN",\n "x": Infinity}', "x", "Infinity is not allowed"),
    (b'{"layers": [{"type": "relu"}, {"k": [[0, NaN]]}]}', "layers[1].k[0][1]", "at line 1"),
    (b"NaN", "line 1, column 1", "NaN is not allowed"),
    (b"{'input': 1}", "line 1, column 2", "double quotes"),
    (b'{"input": [1, 2,]}', "line 1, column 17", "expecting a value"),
    (b'{"a": 1} {"b": 2}', "line 1, column 10", "extra data"),
    (b'{"a" 1}', "line 1, column 6", "expecting ':'"),
    (b'{"a": "x\ty"}', "line 1, column 9", "control character"),
    (b'{"a": tru}', "line 1, column 7", "expecting a value"),
    (b"[" * 65 + b"]" * 65, "line 1, column 65", "nesting deeper than 64"),
    (b'{"a":\n' + b"[" * 64 + b"]" * 64 + b"}", "line 2, column 64", "nesting deeper than 64"),
    (b"[1e99999999999999999999]", "[0]", "out of range, at line 1, column 2"),
    (b"[1, " + b"7" * 5000 + b"]", "[1]", "out of range, at line 1, column 5"),
    (b'{"a": [1, -' + b"7" * 5000 + b"]}", "a[1]", "thousands of digits"),
]


@pytest.mark.parametrize("raw, where, keyword", JSON_CORPUS, ids=lambda v: repr(v)[:30])
def test_malformed_documents(raw, where, keyword):
    with pytest.raises(ProblemError) as info:
        load_json_document(raw, "p.json")
    error = info.value
    assert error.file == "p.json"
    assert error.where == where
    assert keyword in error.what


@pytest.mark.parametrize("char, where, hint", [
    # copied out of a web page or a PDF: the error was a bare "expecting a value"
    ("\u00a0", "line 1, column 15", "U+00A0 (no-break space) is not a space JSON reads: "
                                     "retype it as a plain space, or delete it"),
    ("\u200b", "line 1, column 15", "U+200B (zero width space) is not a space JSON reads"),
    ("\u2028", "line 1, column 15", "U+2028 (line separator) is not a space JSON reads"),
    ("\u201c", "line 1, column 2", "'\u201c' (U+201C, left double quotation mark) is a "
                                    "typographic quote: JSON strings and keys take straight "
                                    'double quotes (")'),
    ("\u2019", "line 1, column 2", "(U+2019, right single quotation mark) is a typographic "
                                    "quote"),
])
def test_a_look_alike_character_is_named(char, where, hint):
    text = ('{' + char + 'input": [[1, 2]]}' if char in "\u201c\u2019" else
            '{"input": [[1,' + char + '2]]}')
    with pytest.raises(ProblemError) as info:
        load_json_document(text.encode(), "p.json")
    assert info.value.where == where
    assert hint in info.value.hint
    if char == "\u201c":  # the whole hint: it ended in a stray ')'
        assert info.value.hint == hint


def test_a_look_alike_inside_a_string_is_no_error():
    document = load_json_document('{"title": "it\u2019s a\u00a0\u201ctest\u201d"}'.encode(),
                                  "p.json")
    assert document == {"title": "it\u2019s a\u00a0\u201ctest\u201d"}


def test_trailing_comma_and_quote_hints():
    with pytest.raises(ProblemError) as info:
        load_json_document(b'{"a": [1, 2,]}', "p.json")
    assert "comma" in info.value.hint
    with pytest.raises(ProblemError) as info:
        load_json_document(b"{'a': 1}", "p.json")
    assert "double quotes" in info.value.hint


@pytest.mark.parametrize("raw, fraction", [
    (b'{"k": [[-13/12, null]]}', "-13/12"),
    (b'{"k": [1, 2 / 3]}', "2/3"),
    (b'{"k":\n  [0.5/-4]}', "0.5/-4"),
])
def test_a_bare_fraction_is_told_to_be_quoted(raw, fraction):
    # a fractions exercise sheet's reader writes -13/12 where JSON needs "-13/12"
    with pytest.raises(ProblemError) as info:
        load_json_document(raw, "p.json")
    assert info.value.hint == f'JSON has no fractions: write one as a string, "{fraction}"'


def test_a_slash_without_a_fraction_gets_no_fraction_hint():
    with pytest.raises(ProblemError) as info:
        load_json_document(b'{"k": [1, /3]}', "p.json")
    assert "fraction" not in (info.value.hint or "")


def test_large_document_scans_quickly():
    rows = [[round(0.001 * (i + j), 3) for j in range(500)] for i in range(1000)]
    raw = json.dumps({"title": "a [bracket] in a string", "input": rows}).encode()
    start = time.perf_counter()
    document = load_json_document(raw, "p.json")
    elapsed = time.perf_counter() - start
    assert document["input"][999][499] == Decimal("1.498")
    assert elapsed < 5.0  # ~4 MB of numbers; json itself is most of it


# --------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("value, as_float, as_fraction", [
    (3, 3.0, F(3)),
    (-0, 0.0, F(0)),
    (Decimal("0.51"), 0.51, F(51, 100)),
    (Decimal("-2.5E-3"), -0.0025, F(-1, 400)),
    ("0.51", 0.51, F(51, 100)),
    ("-1/3", -1 / 3, F(-1, 3)),
    (" 1/2 ", 0.5, F(1, 2)),
    ("2e-3", 0.002, F(1, 500)),
    ("+4", 4.0, F(4)),
    (".5", 0.5, F(1, 2)),
    ("6 / -4", -1.5, F(-3, 2)),
    (0.1, 0.1, F(1, 10)),
    ("1.7976931348623157e308", 1.7976931348623157e308, F(17976931348623157 * 10**292)),
])
def test_parse_number_accepts(value, as_float, as_fraction):
    got_float = parse_number(value, "x", file="p.json")
    got_fraction = parse_number(value, "x", file="p.json", exact=True)
    assert type(got_float) is float and got_float == as_float
    assert type(got_fraction) is Fraction and got_fraction == as_fraction


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("value, keyword", [
    (True, "true is not a number"),
    (None, "null is not a number"),
    ([1], "got a list"),
    ({"a": 1}, "got an object"),
    ("abc", "'abc' is not a number"),
    ("", "empty string"),
    ("nan", "not a finite number"),
    ("-Infinity", "not a finite number"),
    (float("inf"), "not a finite number"),
    (Decimal("NaN"), "not a finite number"),
    (Decimal("sNaN"), "not a finite number"),
    ("1/0", "division by zero"),
    ("1/2/3", "is not a number"),
    ("1_000", "is not a number"),
    ("0x10", "is not a number"),
    (Decimal("1e999"), "too large"),
    ("1e999999999999999999999999", "too large"),
    (Decimal("-1e-999999999"), "too small"),
    ("1e-99999999999999999999999", "too small"),
    ("1/" + "3" * 400, "too small"),
    (10**400, "too large"),
])
def test_parse_number_rejects(value, keyword, exact):
    start = time.perf_counter()
    with pytest.raises(ProblemError) as info:
        parse_number(value, "layers[0].slope", file="p.json", exact=exact)
    assert info.value.where == "layers[0].slope" and info.value.file == "p.json"
    assert keyword in info.value.what
    assert time.perf_counter() - start < 0.5  # no billion-digit fractions


@pytest.mark.parametrize("value, what", [
    (np.array([1.5]), "expected a number, got an ndarray"),
    (object(), "expected a number, got an object"),
    (range(3), "expected a number, got a range"),
])
def test_a_value_of_another_type_is_named_with_its_article(value, what):
    # as the Python API can pass it: "an ndarray", never "a ndarray"
    with pytest.raises(ProblemError) as info:
        parse_number(value, "x", file="p.json")
    assert info.value.what == what


def test_the_article_goes_by_the_sound():
    from cnngrad.errors import with_article

    words = ["ndarray", "int", "float", "OrderedDict", "uint8", "upsample", "flatten", "str",
             "mse", "nll", "bce", "conv2d"]
    assert [with_article(word) for word in words] == [
        "an ndarray", "an int", "a float", "an OrderedDict", "a uint8", "an upsample",
        "a flatten", "a str", "an mse", "an nll", "a bce", "a conv2d"]


def test_an_array_inside_nested_lists_is_named_with_its_article(tmp_path):
    with pytest.raises(ProblemError) as info:
        parse_tensor([[1, 2], [3, np.array([4.0])]], "input", file="p.json",
                     base_dir=tmp_path)
    assert (info.value.where, info.value.what) == ("input[1][1]",
                                                   "expected a number, got an ndarray")


def test_decimal_comma_gets_a_hint():
    with pytest.raises(ProblemError) as info:
        parse_number("1,5", "x", file="p.json")
    assert "dot" in info.value.hint


# --------------------------------------------------------------------------- nested lists

def test_nested_lists_float_and_exact(tmp_path):
    document = load_json_document(
        b'{"input": [[0.51, -2], ["-1/3", "2e-3"], [" 1/2 ", 1E2]]}', "p.json")
    values = tensor(document["input"], tmp_path)
    assert values.dtype == np.float64 and values.shape == (3, 2)
    np.testing.assert_array_equal(values, [[0.51, -2.0], [-1 / 3, 0.002], [0.5, 100.0]])
    exact = tensor(document["input"], tmp_path, exact=True)
    assert_fractions(exact, [[F(51, 100), F(-2)], [F(-1, 3), F(1, 500)], [F(1, 2), F(100)]])


@pytest.mark.parametrize("value, shape", [
    (7, ()),
    ([1, 2, 3], (3,)),
    ([[1, 2, 3]], (1, 3)),
    ([[[1], [2]]], (1, 2, 1)),
    ([[[[1, 2]], [[3, 4]]]], (1, 2, 1, 2)),
])
def test_ranks_zero_to_four(value, shape, tmp_path):
    values = tensor(value, tmp_path)
    assert values.shape == shape and values.dtype == np.float64
    np.testing.assert_array_equal(values.ravel(), np.arange(1, values.size + 1) if shape else [7])
    exact = tensor(value, tmp_path, exact=True)
    assert exact.shape == shape and exact.dtype == object
    assert all(type(v) is Fraction for v in exact.flat)


def test_scalar_string_and_decimal(tmp_path):
    assert tensor("0.25", tmp_path).item() == 0.25
    assert tensor(Decimal("0.1"), tmp_path, exact=True)[()] == F(1, 10)
    assert tensor("-1/3", tmp_path, exact=True)[()] == F(-1, 3)


def test_big_nested_list_is_fast(tmp_path):
    rows = [[round(0.001 * (i - j), 3) for j in range(1000)] for i in range(1000)]
    document = load_json_document(json.dumps(rows).encode(), "p.json")
    start = time.perf_counter()
    values = tensor(document, tmp_path)
    elapsed = time.perf_counter() - start
    assert values.shape == (1000, 1000) and values[999, 0] == 0.999 and values[0, 999] == -0.999
    assert elapsed < 2.0  # ~0.4 s measured; generous for a loaded CI machine
    start = time.perf_counter()
    ints = tensor([[i * j for j in range(1000)] for i in range(1000)], tmp_path)
    assert ints[999, 999] == 998001.0 and time.perf_counter() - start < 1.0


def test_rank_limits(tmp_path):
    assert tensor([[1]], tmp_path, min_rank=2, max_rank=2).shape == (1, 1)
    with pytest.raises(ProblemError, match=r"expected a tensor of rank 2, got rank 1 \(3\)"):
        tensor([1, 2, 3], tmp_path, min_rank=2, max_rank=2)
    with pytest.raises(ProblemError, match=r"rank 1 to 4, got rank 0"):
        tensor(5, tmp_path, min_rank=1)


# --------------------------------------------------------------------------- CSV

@pytest.mark.parametrize("content", [
    "1,2,3\n4,5,6\n",
    "1;2;3\n4;5;6",
    "1\t2\t3\r\n4\t5\t6\r\n",
    " 1 , 2,3 \n4,5 ,  6\n\n\n",
    '\ufeff"1","2","3"\n4,5,6\n,,\n',
    "1, 4/2, 3e0\n8/2, 5.0, 6\n   \n",
    "\n \n,,\n1,2,3\n4,5,6\n",
    "1,2,3,\n4,5,6,\n",  # a separator ending every row: no fourth column
    "1,2,3,,,\n4,5,6,,,\n,,,,,\n",  # a spreadsheet's rows padded to its wider range
    "1;2;3;\r\n4;5;6;\r\n\r\n",
    # numpy.savetxt's header and footer ("# " lines), skipped as numpy.loadtxt skips them
    "# W, the weights\n1 2 3\n4 5 6\n# end\n",
    "# a b\n1,2,3\n# between\n4,5,6\n",
    # commas, a tab after each for padding: the comma is the one between numbers ('1,' was
    # read as a cell of a tab-separated file)
    "1,\t2,\t3\n4,\t5,\t6\n",
    "1;\t2;\t3\n4;\t5;\t6\n",
])
def test_csv_dialects(content, tmp_path):
    write_files(tmp_path, {"o.csv": content})
    values = tensor({"csv": "o.csv"}, tmp_path)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [[1, 2, 3], [4, 5, 6]])


def _csv_reading(tmp_path, content: str, exact: bool, *, row_by_row: bool, monkeypatch):
    """What reading ``content`` as a CSV tensor gives: its array as a list, or its error."""
    from cnngrad import tensorio

    if row_by_row:
        monkeypatch.setattr(tensorio, "_plain_csv_cells", lambda *args: None)
    write_files(tmp_path, {"o.csv": content})
    try:
        with tensorio.split_csvs_seen() as split:
            values = tensor({"csv": "o.csv"}, tmp_path, exact=exact)
        return values.shape, values.tolist(), split
    except ProblemError as error:
        return error.message(), error.hint
    finally:
        monkeypatch.undo()


_CSV_CELLS = ["1", "-2.5", " 3 ", "1/3", "2e-3", "", "x", "nan", "0,5", "12", "0", "1e-400",
              "# c", "#", '"4"', '"0,5"', '"7', "-0"]
_CSV_ENDS = ["\n", "\r\n", ";\n", ",\n", "\n\n", ""]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(st.sampled_from(_CSV_CELLS), min_size=1, max_size=4),
                     min_size=1, max_size=5),
       separator=st.sampled_from([",", ";", "\t", " ", ", "]),
       end=st.sampled_from(_CSV_ENDS), exact=st.booleans())
def test_a_plain_csv_read_whole_reads_as_row_by_row(tmp_path, monkeypatch, rows, separator,
                                                    end, exact):
    # the fast reading of a plain grid keeps no rows; anything else goes row by row, which
    # names a bad cell: the two agree on every file, its numbers, shape and errors
    content = "".join(separator.join(row) + end for row in rows) or "\n"
    whole = _csv_reading(tmp_path, content, exact, row_by_row=False, monkeypatch=monkeypatch)
    by_rows = _csv_reading(tmp_path, content, exact, row_by_row=True, monkeypatch=monkeypatch)
    assert whole == by_rows


@pytest.mark.skipif(shutil.which("bash") is None, reason="a shell's <(...)")
@pytest.mark.parametrize("content, said, options", [
    ("1,2\\n3,4\\n", None, ""),  # a plain grid
    ("# saved by numpy\\n1,2\\n3,4\\n", None, ""),  # read row by row: a comment
    ("1,2\\n3,x\\n", "row 2, column 2: 'x' is not a number", ""),
    # a cell named after the problem is read: float32's range, found afterwards
    ("1,1e39\\n3,4\\n", "row 1, column 2: 1e+39 does not fit float32 (its largest is about "
                        "3.4e+38); hint: use --dtype float64", "--dtype float32"),
])
def test_a_csv_through_a_pipe_is_read_once(tmp_path, content, said, options):
    # the plain-grid reading took the pipe's bytes, and the row-by-row reading after it
    # found it empty: "'/dev/fd/63' is a pipe or device that gave nothing to read"
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parent.parent)}
    command = (f"{shlex.quote(sys.executable)} -m cnngrad backward -f json {options} "
               f"--input <(printf '{content}') --kernel '[[1]]' --delta '[[1, 1], [1, 1]]'")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=60)
    if said is None:
        assert result.returncode == 0, result.stderr
        # a 1×1 kernel of 1: the output is the input
        assert json.loads(result.stdout)["layers"][0]["output"] == [[1, 2], [3, 4]]
    else:
        assert result.returncode == 2 and result.stderr.rstrip().endswith(said)


def test_a_tall_csv_is_read_in_a_few_bytes_a_row(tmp_path):
    # three million one-number rows took 670 MB, 6.4 GB for thirty million: each row was
    # kept as a list with its number, for messages a plain grid never needs
    import tracemalloc

    rows = 50_000
    write_files(tmp_path, {"tall.csv": "0.5\n" * rows})
    tracemalloc.start()
    try:
        values = tensor({"csv": "tall.csv"}, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert values.shape == (rows, 1) and values[-1, 0] == 0.5
    assert peak / rows < 130, f"{peak / rows:.0f} bytes a row"  # 256 row by row, 84 now


def test_csv_exact_and_single_column(tmp_path):
    write_files(tmp_path, {"o.csv": "0.1;-1/3\n2e-3;7\n", "col.csv": "1\n2\n"})
    assert_fractions(tensor({"csv": "o.csv"}, tmp_path, exact=True),
                     [[F(1, 10), F(-1, 3)], [F(1, 500), F(7)]])
    np.testing.assert_array_equal(tensor({"csv": "col.csv"}, tmp_path), [[1.0], [2.0]])


def test_csv_list_stacks_channels(tmp_path):
    write_files(tmp_path, {"c0.csv": "1,2\n3,4\n", "c1.csv": "5,6\n7,8\n"})
    values = tensor({"csv": ["c0.csv", "c1.csv"]}, tmp_path)
    assert values.shape == (2, 2, 2)
    np.testing.assert_array_equal(values, [[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    exact = tensor({"csv": ["c0.csv", "c1.csv"]}, tmp_path, exact=True)
    assert exact.shape == (2, 2, 2) and exact[1, 1, 0] == F(7)


def test_csv_paths_relative_to_base_and_absolute(tmp_path):
    write_files(tmp_path, {"data/o.csv": "1,2\n", "problems/.keep": b""})
    base = tmp_path / "problems"
    from_relative = parse_tensor({"csv": "../data/o.csv"}, "input", file="p.json", base_dir=base)
    from_absolute = parse_tensor({"csv": str(tmp_path / "data" / "o.csv")}, "input",
                                 file="p.json", base_dir=base)
    np.testing.assert_array_equal(from_relative, [[1.0, 2.0]])
    np.testing.assert_array_equal(from_absolute, [[1.0, 2.0]])


def test_csv_error_names_the_csv_as_written(tmp_path):
    write_files(tmp_path, {"data/o.csv": "1,2\n3,x\n", "sub/p.json": "{}"})
    with pytest.raises(ProblemError) as info:
        parse_tensor({"csv": "../data/o.csv"}, "input", file="p.json", base_dir=tmp_path / "sub")
    assert (info.value.file, info.value.where) == ("../data/o.csv", "row 2, column 2")
    assert str(info.value) == "../data/o.csv: row 2, column 2: 'x' is not a number"


@pytest.mark.parametrize("text, where, cell, fixed", [
    ("0,0446;0,0941\n0,0113;0,0683\n", "row 1, column 1", "0,0446", "0.0446"),
    ("1;2\n0,5;-1,5e-3\n", "row 2, column 1", "0,5", "0.5"),
    ("1\t2\n3\t-,25\n", "row 2, column 2", "-,25", "-.25"),
    ("1 2\n3 4,75\n", "row 2, column 2", "4,75", "4.75"),
])
def test_csv_with_decimal_commas_is_named_so(tmp_path, text, where, cell, fixed):
    # a semicolon (tab, space) separated file as spreadsheets save it in many locales: not a
    # header row, and not "not a number" without saying why
    write_files(tmp_path, {"o.csv": text})
    with pytest.raises(ProblemError) as info:
        parse_tensor({"csv": "o.csv"}, "input", file="p.json", base_dir=tmp_path)
    error = info.value
    assert (error.file, error.where) == ("o.csv", where)
    assert error.what == f"{cell!r} is not a number: it is written with a decimal comma"
    assert error.hint.startswith(f"write decimal points ({fixed})")
    assert "header" not in str(error)


@pytest.mark.parametrize("kernel, hinted", [
    ("-0,13,0,15\n-0,51,0,62\n", "-0,13 read as -0 and 13"),  # read as a 2×4 kernel
    ("0,50,1,25\n2,75,0,05\n", "0,50 read as 0 and 50"),  # every decimal part two digits
    ("0,25,0,75\n0,50,1,25\n", "0,25 read as 0 and 25"),  # a whole part of 0
    ("1,2,3,4\n5,6,7,8\n", None),  # not (every second part one digit, no -0): whole numbers
    ("12,200,35,78\n50,60,70,80\n", None),  # an image's whole numbers: no -0, no 0 leading
    ("0,35,0,78\n0,200,12,64\n", None),  # black pixels, but a whole part of 12
])
def test_a_shape_error_after_a_csv_split_at_its_decimal_commas_says_so(tmp_path, kernel,
                                                                       hinted):
    # comma-separated cells of decimal-comma numbers read as twice the columns: the kernel is
    # accepted, 2×4, and the error is the delta's, which names another file
    from cnngrad.errors import ShapeError
    from cnngrad.problem import build_problem

    write_files(tmp_path, {"w.csv": kernel})
    document = {"input": [[1] * 5] * 5, "layers": [{"type": "conv2d", "kernel": {"csv": "w.csv"}}],
                "delta": [[1] * 4] * 4}
    with pytest.raises(ShapeError) as info:
        build_problem(document, file="p.json", base_dir=tmp_path)
    assert info.value.what.startswith("expected shape 4×2 (the output of conv2d_1)")
    if hinted is None:
        assert info.value.hint is None
    else:
        assert info.value.hint == (f"w.csv looks written with decimal commas, each number split "
                                   f"in two at its comma ({hinted}): save it with '.' as the "
                                   f"decimal separator")


def test_a_split_csv_s_hint_comes_before_the_shape_error_s_own(tmp_path):
    # the error's own hint (a transposed W?) assumes the numbers as read: the file's comes first
    from cnngrad.errors import ShapeError
    from cnngrad.problem import build_problem

    write_files(tmp_path, {"w.csv": "-0,13,0,15\n-0,51,0,62\n"})
    document = {"input": [1, 2, 3], "layers": [{"type": "dense", "weights": {"csv": "w.csv"}}],
                "loss": {"type": "mse", "target": [0, 0]}}
    with pytest.raises(ShapeError) as info:
        build_problem(document, file="p.json", base_dir=tmp_path)
    assert info.value.hint == ("w.csv looks written with decimal commas, each number split in "
                               "two at its comma (-0,13 read as -0 and 13): save it with '.' as "
                               "the decimal separator; else expected shape out×3 (as "
                               "torch.nn.Linear)")


@pytest.mark.parametrize("kind, files, content", [
    ("csv", {"hw/data/o.csv": "1,2\n3,x\n"}, "data/o.csv"),
    ("npy", {"hw/data/o.npy": np.array(["a"])}, "data/o.npy"),
])
def test_a_file_error_names_the_file_by_the_problems_folder_as_given(tmp_path, kind, files,
                                                                    content):
    write_files(tmp_path, files)
    with pytest.raises(ProblemError) as info:
        parse_tensor({kind: content}, "input", file=os.path.join("hw", "p.json"),
                     base_dir=tmp_path / "hw")
    assert info.value.file == os.path.join("hw", "data", f"o.{kind}")


# --------------------------------------------------------------------------- NPY

@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["<f8", ">f8"])
def test_an_exact_float64_npy_reads_each_value_as_its_own_shortest_decimal(tmp_path, order,
                                                                             dtype):
    # the fast reading (Python's repr of each float) against each element read on its own
    from cnngrad.tensorio import _number

    rng = np.random.default_rng(4)
    values = np.concatenate([rng.standard_normal(60) * np.logspace(-12, 18, 60),
                             [2.0, -0.0, 0.0, 5e-324, 1.7976931348623157e308, 0.1, 1e16,
                              1e-5, 2.0**53 + 2, -3.25, 1 / 3, 123456789.123456]])
    array = np.array(values.reshape(8, 9), dtype=dtype, order=order)
    write_files(tmp_path, {"x.npy": array})
    got = tensor({"npy": "x.npy"}, tmp_path, exact=True)
    assert got.shape == (8, 9) and got.dtype == object
    for value, read in zip(array.ravel(), got.ravel()):
        expected = _number(value, True)
        assert type(read) is Fraction and read == expected, (value, read, expected)


def test_npy_float_int_and_exact(tmp_path):
    write_files(tmp_path, {
        "f.npy": np.array([[0.1, -2.5], [3.0, 1e-3]]),
        "i.npy": np.arange(6, dtype=np.int32).reshape(2, 3),
        "f32.npy": np.array([0.1, 0.5], dtype=np.float32),
        "fortran.npy": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "big_endian.npy": np.array([1.5, -2.0], dtype=">f8"),
        "scalar.npy": np.array(2.5),
        "u8.npy": np.array([[255]], dtype=np.uint8),
        # a dropout mask saved from (torch.rand(...) > p).numpy()
        "mask.npy": np.array([[True, False], [False, True]]),
    })
    floats = tensor({"npy": "f.npy"}, tmp_path)
    assert floats.dtype == np.float64
    np.testing.assert_array_equal(floats, [[0.1, -2.5], [3.0, 1e-3]])
    assert_fractions(tensor({"npy": "f.npy"}, tmp_path, exact=True),
                     [[F(1, 10), F(-5, 2)], [F(3), F(1, 1000)]])
    ints = tensor({"npy": "i.npy"}, tmp_path)
    assert ints.dtype == np.float64 and ints.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert_fractions(tensor({"npy": "i.npy"}, tmp_path, exact=True), [[0, 1, 2], [3, 4, 5]])
    # float32 0.1: the stored binary value in float mode, its shortest repr in exact mode
    assert tensor({"npy": "f32.npy"}, tmp_path)[0] == float(np.float32(0.1))
    assert_fractions(tensor({"npy": "f32.npy"}, tmp_path, exact=True), [F(1, 10), F(1, 2)])
    np.testing.assert_array_equal(tensor({"npy": "fortran.npy"}, tmp_path),
                                  [[0, 1, 2], [3, 4, 5]])
    assert_fractions(tensor({"npy": "fortran.npy"}, tmp_path, exact=True), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(tensor({"npy": "big_endian.npy"}, tmp_path), [1.5, -2.0])
    assert tensor({"npy": "scalar.npy"}, tmp_path).shape == ()
    assert tensor({"npy": "scalar.npy"}, tmp_path, exact=True)[()] == F(5, 2)
    assert tensor({"npy": "fortran.npy"}, tmp_path).flags.c_contiguous
    assert tensor({"npy": "u8.npy"}, tmp_path).tolist() == [[255.0]]
    mask = tensor({"npy": "mask.npy"}, tmp_path)
    assert mask.dtype == np.float64 and mask.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert_fractions(tensor({"npy": "mask.npy"}, tmp_path, exact=True), [[1, 0], [0, 1]])


def test_npy_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    write_files(tmp_path, {"obj.npy": np.array([{"a": 1}, None], dtype=object)})
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    with pytest.raises(ProblemError, match="Python objects"):
        tensor({"npy": "obj.npy"}, tmp_path)


# --------------------------------------------------------------------------- malformed corpus

def _npy_bytes(array: np.ndarray) -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz_bytes() -> bytes:
    import io
    buffer = io.BytesIO()
    np.savez(buffer, x=np.arange(2.0))
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A float64 .npy header of ``shape`` and 72 bytes of data, whatever the shape says."""
    import io
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue() + bytes(72)


TENSOR_CORPUS = [
    # (id, value, files, options, file, where, key word)
    ("ragged-row", [[1, 2], [3]], {}, {}, "p.json", "input[1]", "row has 1 element, expected 2"),
    ("ragged-3d", [[[1, 2], [3, 4]], [[5, 6], [7, 8, 9]]], {}, {}, "p.json", "input[1][1]",
     "row has 3 elements, expected 2"),
    ("ragged-outer", [[[1]], [[2], [3]]], {}, {}, "p.json", "input[1]",
     "list has 2 elements, expected 1"),
    ("number-for-row", [[1, 2], 3], {}, {}, "p.json", "input[1]", "expected a list of 2 numbers"),
    ("empty", [], {}, {}, "p.json", "input", "empty tensor"),
    ("empty-inner", [[]], {}, {}, "p.json", "input[0]", "empty tensor"),
    ("empty-later-row", [[1], []], {}, {}, "p.json", "input[1]", "row has 0 elements"),
    ("list-as-element", [[1, [2]]], {}, {}, "p.json", "input[0][1]", "got a list"),
    ("bool", [1, True], {}, {}, "p.json", "input[1]", "true is not a number"),
    ("null", [[None]], {}, {}, "p.json", "input[0][0]", "null is not a number"),
    ("object-in-list", [[1, {"csv": "a.csv"}]], {}, {}, "p.json", "input[0][1]", "got an object"),
    ("text", [[1, 2], [3, "abc"]], {}, {}, "p.json", "input[1][1]", "'abc' is not a number"),
    ("nan-string", ["nan"], {}, {}, "p.json", "input[0]", "not a finite number"),
    ("inf-string", [1, "inf"], {}, {}, "p.json", "input[1]", "not a finite number"),
    ("infinity-exact", [1, "Infinity"], {}, {"exact": True}, "p.json", "input[1]",
     "not a finite number"),
    ("nan-float", [0.5, float("nan")], {}, {}, "p.json", "input[1]", "not a finite number"),
    ("zero-denominator", [["1/0"]], {}, {}, "p.json", "input[0][0]", "division by zero"),
    ("overflow", [1, Decimal("1e999")], {}, {}, "p.json", "input[1]", "too large"),
    ("overflow-exact", [1, Decimal("1e999")], {}, {"exact": True}, "p.json", "input[1]",
     "too large"),
    ("underflow", [0, Decimal("1e-999")], {}, {}, "p.json", "input[1]", "too small"),
    ("huge-int", [[1, 10**400]], {}, {}, "p.json", "input[0][1]", "too large"),
    ("rank-5", [[[[[1]]]]], {}, {}, "p.json", "input",
     "expected a tensor of rank 0 to 4, got rank 5"),
    ("rank-too-low", [1, 2], {}, {"min_rank": 2}, "p.json", "input", "rank 2 to 4, got rank 1"),
    ("true", True, {}, {}, "p.json", "input", "expected a tensor"),
    ("null-tensor", None, {}, {}, "p.json", "input", "expected a tensor"),
    ("misspelt-key", {"cvs": "o.csv"}, {}, {}, "p.json", "input.cvs", "unknown key 'cvs'"),
    ("empty-object", {}, {}, {}, "p.json", "input", "empty object"),
    ("both-kinds", {"csv": "o.csv", "npy": "x.npy"}, {}, {}, "p.json", "input", "not both"),
    ("csv-number", {"csv": 3}, {}, {}, "p.json", "input.csv", "expected a CSV file name"),
    ("csv-empty-name", {"csv": " "}, {}, {}, "p.json", "input.csv", "empty file name"),
    ("csv-missing", {"csv": "missing.csv"}, {}, {}, "p.json", "input.csv",
     "no such file 'missing.csv'"),
    ("csv-folder", {"csv": "sub"}, {"sub/x": b""}, {}, "p.json", "input.csv", "is a folder"),
    ("csv-empty-list", {"csv": []}, {}, {}, "p.json", "input.csv", "empty list"),
    ("csv-list-number", {"csv": ["a.csv", 5]}, {"a.csv": "1\n"}, {}, "p.json", "input.csv[1]",
     "expected a CSV file name"),
    ("csv-list-missing", {"csv": ["a.csv", "b.csv"]}, {"a.csv": "1\n"}, {}, "p.json",
     "input.csv[1]", "no such file 'b.csv'"),
    ("csv-header", {"csv": "o.csv"}, {"o.csv": "a,b\n1,2\n"}, {}, "o.csv", "row 1, column 1",
     "looks like a header row; remove it"),
    # a title line with a space above comma-separated numbers: its spaces are no separator
    # (it was read as a space-separated file whose rows '1,2' had decimal commas)
    ("csv-title-line", {"csv": "o.csv"}, {"o.csv": "matrix W\n1,2\n3,4\n"}, {}, "o.csv",
     "row 1, column 1", "'matrix W' is not a number: this looks like a header row"),
    ("csv-title-line-with-a-number", {"csv": "o.csv"},
     {"o.csv": "layer 1 weights\n1,2\n3,4\n"}, {}, "o.csv", "row 1, column 1",
     "'layer 1 weights' is not a number: this looks like a header row"),
    ("csv-comments-only", {"csv": "o.csv"}, {"o.csv": "# W\n# end\n"}, {}, "o.csv", "row 1",
     "no rows of numbers, only '#' comment lines"),
    ("csv-text-cell", {"csv": "o.csv"}, {"o.csv": "1,2\n3,x\n"}, {}, "o.csv", "row 2, column 2",
     "'x' is not a number"),
    ("csv-empty-cell", {"csv": "o.csv"}, {"o.csv": "1,2\n3,\n"}, {}, "o.csv", "row 2, column 2",
     "empty cell"),
    ("csv-trailing-separator-on-some-rows", {"csv": "o.csv"}, {"o.csv": "1,2,\n3,4\n"}, {},
     "o.csv", "row 1, column 3", "empty cell"),
    # the same slip on the last row, or on a first row the others outnumber, was "row has 3
    # cells, expected 2", of a row that holds 2 numbers
    ("csv-trailing-separator-on-the-last-row", {"csv": "o.csv"}, {"o.csv": "1;0\n0;1;\n"}, {},
     "o.csv", "row 2, column 3", "empty cell"),
    ("csv-trailing-separators-on-the-first-row", {"csv": "o.csv"},
     {"o.csv": "1,2,,\n3,4\n5,6\n"}, {}, "o.csv", "row 1, column 3", "empty cell"),
    # wider rows with a cell left empty inside, not after their numbers: the narrow first
    # row is still the odd one out
    ("csv-narrow-first-row-beside-rows-with-holes", {"csv": "o.csv"},
     {"o.csv": "1,2\n3,,4\n5,,6\n"}, {}, "o.csv", "row 1",
     "row has 2 cells, expected 3 (as in the other 2 rows)"),
    ("csv-ragged", {"csv": "o.csv"}, {"o.csv": "1,2,3\n4,5\n"}, {}, "o.csv", "row 2",
     "row has 2 cells, expected 3"),
    # the first row the odd one out: named, as a nested list's is ("row 2: ... as in row 1")
    ("csv-ragged-first-row", {"csv": "o.csv"}, {"o.csv": "1,2\n4,5,6\n7,8,9\n"}, {}, "o.csv",
     "row 1", "row has 2 cells, expected 3 (as in the other 2 rows)"),
    ("csv-ragged-first-row-of-four", {"csv": "o.csv"},
     {"o.csv": "1,2\n4,5,6\n7,8,9\n1\n"}, {}, "o.csv", "row 1",
     "row has 2 cells, expected 3 (as in 2 of the 4 rows)"),
    ("csv-empty-file", {"csv": "o.csv"}, {"o.csv": ""}, {}, "o.csv", "row 1", "empty file"),
    ("csv-blank-lines-only", {"csv": "o.csv"}, {"o.csv": "\n \n\n"}, {}, "o.csv", "row 1",
     "empty file"),
    ("csv-blank-row-inside", {"csv": "o.csv"}, {"o.csv": "1,2\n\n3,4\n"}, {}, "o.csv", "row 2",
     "empty row"),
    # a byte that is not UTF-8 in the third cell of row 2: "line 2, column 5" counted
    # characters, a column no CSV cell has
    ("csv-latin-1-byte", {"csv": "o.csv"}, {"o.csv": b"1,2,3\n4,5,\xff6\n7,8,9\n"}, {},
     "o.csv", "row 2, column 3", "not UTF-8 text"),
    # after a BOM: utf-8-sig's error counts from after it ("row 2, column 1")
    ("csv-latin-1-byte-after-a-bom", {"csv": "o.csv"},
     {"o.csv": b"\xef\xbb\xbf1,2,3\n4,5,\xe96\n7,8,9\n"}, {}, "o.csv", "row 2, column 3",
     "not UTF-8 text (byte 0xE9 is 'é' in Latin-1 or Windows-1252"),
    ("csv-latin-1-byte-on-the-bom-s-line", {"csv": "o.csv"},
     {"o.csv": b"\xef\xbb\xbf1,2,\xff\n"}, {}, "o.csv", "row 1, column 3", "not UTF-8 text"),
    ("csv-binary", {"csv": "o.csv"}, {"o.csv": b"\x00\x01\x02"}, {}, "o.csv", "row 1, column 1",
     "not text: a NUL byte (binary file?)"),
    ("csv-nan", {"csv": "o.csv"}, {"o.csv": "1;2\n3;nan\n"}, {}, "o.csv", "row 2, column 2",
     "not a finite number"),
    ("csv-nan-exact", {"csv": "o.csv"}, {"o.csv": "1;2\n3;nan\n"}, {"exact": True}, "o.csv",
     "row 2, column 2", "not a finite number"),
    ("csv-zero-denominator", {"csv": "o.csv"}, {"o.csv": "1/0,2\n"}, {}, "o.csv",
     "row 1, column 1", "division by zero"),
    ("csv-decimal-comma", {"csv": "o.csv"}, {"o.csv": "1;2,5\n"}, {}, "o.csv", "row 1, column 2",
     "'2,5' is not a number"),
    ("csv-leading-blank-then-bad-cell", {"csv": "o.csv"}, {"o.csv": "\n\n1,2\n3,x\n"}, {},
     "o.csv", "row 4, column 2", "'x' is not a number"),
    ("csv-leading-blank-then-header", {"csv": "o.csv"}, {"o.csv": "\na,b\n1,2\n"}, {},
     "o.csv", "row 2, column 1", "header"),
    ("csv-rows-after-blank-trailing", {"csv": "o.csv"}, {"o.csv": "1,2\n3,4\n\n5,6\n"}, {},
     "o.csv", "row 3", "empty row"),
    # past the csv module's 131,072 characters: read, and refused as JSON would refuse it
    ("csv-huge-cell", {"csv": "o.csv"}, {"o.csv": "1," + "9" * 200_000 + "\n"}, {}, "o.csv",
     "row 1, column 2", "is too large (beyond float64's range"),
    ("csv-quoted-header", {"csv": "o.csv"}, {"o.csv": '"x";"y"\n1;2\n'}, {}, "o.csv",
     "row 1, column 1", "header"),
    ("csv-stack-shapes", {"csv": ["a.csv", "b.csv"]}, {"a.csv": "1,2\n3,4\n", "b.csv": "1,2,3\n"},
     {}, "p.json", "input.csv[1]", "must have the same shape"),
    ("csv-rank", {"csv": "o.csv"}, {"o.csv": "1,2\n"}, {"min_rank": 1, "max_rank": 1}, "p.json",
     "input", "a CSV file is a 2-D matrix"),
    ("npy-missing", {"npy": "x.npy"}, {}, {}, "p.json", "input.npy", "no such file 'x.npy'"),
    ("npy-list", {"npy": ["x.npy"]}, {}, {}, "p.json", "input.npy", "expected a .npy file name"),
    ("npy-objects", {"npy": "x.npy"}, {"x.npy": np.array([1, "a"], dtype=object)}, {}, "x.npy",
     "header", "Python objects"),
    ("npy-complex", {"npy": "x.npy"}, {"x.npy": np.array([1 + 2j])}, {}, "x.npy", "header",
     "complex"),
    ("npy-text", {"npy": "x.npy"}, {"x.npy": np.array(["a"])}, {}, "x.npy", "header", "text"),
    ("npy-structured", {"npy": "x.npy"}, {"x.npy": np.zeros(2, dtype=[("a", "f8")])}, {},
     "x.npy", "header", "structured"),
    ("npy-nan", {"npy": "x.npy"}, {"x.npy": np.array([[1.0, np.nan], [np.inf, 0.0]])}, {},
     "x.npy", "element [0,1]", "not a finite number"),
    ("npy-inf-exact", {"npy": "x.npy"}, {"x.npy": np.array([1.0, -np.inf])}, {"exact": True},
     "x.npy", "element [1]", "not a finite number"),
    ("npy-not-npy", {"npy": "x.npy"}, {"x.npy": "1,2,3\n"}, {}, "x.npy", "header", "not a NumPy"),
    ("npy-npz", {"npy": "x.npz"}, {"x.npz": _npz_bytes()}, {}, "x.npz", "header",
     "is a .npz archive, not a .npy file"),
    # any other zip (a workbook) was "a .npz archive" too
    ("npy-zip", {"npy": "x.npy"}, {"x.npy": b"PK\x03\x04rest"}, {}, "x.npy", "header",
     "is a zip archive, not a .npy file"),
    ("npy-truncated", {"npy": "x.npy"}, {"x.npy": _npy_bytes(np.arange(10.0))[:-8]}, {}, "x.npy",
     "data", "truncated"),
    ("npy-bad-header", {"npy": "x.npy"}, {"x.npy": b"\x93NUMPY\x01\x00\x04\x00{}  "}, {},
     "x.npy", "header", "not a valid .npy"),
    # the parser's own words were "malformed node or string on line 1: <ast.Name object at
    # 0x7fb4…>", an address that changes from run to run
    ("npy-header-not-a-literal", {"npy": "x.npy"},
     {"x.npy": _npy_bytes(np.arange(2.0)).replace(b"(2,), ", b"(2,x),")}, {}, "x.npy",
     "header", "not a valid .npy file (not the dictionary of 'descr', 'fortran_order' and "
               "'shape' that numpy.save writes)"),
    ("npy-header-unclosed", {"npy": "x.npy"},
     {"x.npy": _npy_bytes(np.arange(2.0)).replace(b"), }", b"),  ")}, {}, "x.npy",
     "header", "(not the dictionary of 'descr'"),
    # numpy's own words about a header it parsed stay, and about one cut short
    ("npy-header-cut-short", {"npy": "x.npy"}, {"x.npy": b"\x93NUMPY\x01\x00\x04"}, {},
     "x.npy", "header", "not a valid .npy file (EOF: reading array header length"),
    ("npy-header-bad-descr", {"npy": "x.npy"},
     {"x.npy": _npy_bytes(np.arange(2.0)).replace(b"'<f8'", b"'<zz'")}, {}, "x.npy",
     "header", "not a valid .npy file (descr is not a valid dtype descriptor: '<zz')"),
    ("npy-negative-shape", {"npy": "x.npy"},
     {"x.npy": _npy_bytes(np.arange(4.0)).replace(b"(4,), ", b"(-1, -1), ")}, {}, "x.npy", "header",
     "negative shape"),
    ("npy-empty", {"npy": "x.npy"}, {"x.npy": np.zeros((0, 3))}, {}, "x.npy", "header",
     "empty tensor"),
    # headers numpy cannot reshape to: "out of memory ... too large for this machine" on the
    # problem file, for a file of 72 bytes
    ("npy-empty-huge-axis", {"npy": "x.npy"}, {"x.npy": _npy_header((0, 2**63 - 1))}, {},
     "x.npy", "header", "empty tensor (shape (0, 9223372036854775807))"),
    ("npy-71-axes", {"npy": "x.npy"}, {"x.npy": _npy_header((1,) * 70 + (9,))}, {}, "x.npy",
     "header", "not a valid .npy file (shape of 71 axes"),
    # an internal error (TypeError: an integer is required)
    ("npy-bool-axis", {"npy": "x.npy"}, {"x.npy": _npy_header((True, 3))}, {}, "x.npy",
     "header", "not a valid .npy file (shape (True, 3) is not whole numbers)"),
    ("npy-rank", {"npy": "x.npy"}, {"x.npy": np.zeros((1, 1, 1, 1, 2))}, {}, "p.json", "input",
     "rank 0 to 4, got rank 5"),
]


@pytest.mark.parametrize("value, files, options, file, where, keyword",
                         [case[1:] for case in TENSOR_CORPUS],
                         ids=[case[0] for case in TENSOR_CORPUS])
def test_malformed_tensors(value, files, options, file, where, keyword, tmp_path):
    write_files(tmp_path, files)
    with pytest.raises(ProblemError) as info:
        tensor(value, tmp_path, **options)
    error = info.value
    assert (error.file, error.where) == (file, where)
    assert keyword in error.what


@pytest.mark.parametrize("text, where, hinted", [
    ("1;0\n0;1;\n", "row 2, column 3", True), ("1,2,\n3,4\n", "row 1, column 3", True),
    ("1,2,,\n3,4\n5,6\n", "row 1, column 3", True),
    # most rows with the stray separator: the clean row was blamed for its width
    ("1,2,3\n4,5,6,\n7,8,9,\n", "row 2, column 4", True),
    # a row as wide as the others, one number left out: no separator to remove
    ("1,2\n3,\n", "row 2, column 2", False), ("1,2,3\n4,,\n", "row 2, column 2", False),
    ("1,,2\n3,4,5\n", "row 1, column 2", False),
    # the first empty cell of the row, not the stray one after it
    ("1,,3,\n4,5,6\n7,8,9\n", "row 1, column 2", False),
    # a blank line, or a line of a space, is no row that ends sooner; a row below with a
    # number in that column makes it a number left out
    ("1,2\n3,\n\n5,6\n", "row 2, column 2", False), ("1,2\n3,\n \n5,6\n", "row 2, column 2", False),
    ("1,2\n3,4,\n6,7,8\n", "row 2, column 3", False)])
def test_a_separator_after_a_row_s_last_number_is_hinted_at(text, where, hinted, tmp_path):
    write_files(tmp_path, {"o.csv": text})
    with pytest.raises(ProblemError) as info:
        tensor({"csv": "o.csv"}, tmp_path)
    assert (info.value.where, info.value.what) == (where, "empty cell")
    hint = info.value.hint or ""
    assert hint.startswith("a separator after the row's last number?") == hinted, hint


def test_corpus_is_large_enough():
    assert len(TENSOR_CORPUS) + len(JSON_CORPUS) >= 40


def test_misspelt_key_hint_names_csv(tmp_path):
    with pytest.raises(ProblemError) as info:
        tensor({"cvs": "o.csv"}, tmp_path)
    assert "did you mean 'csv'?" in info.value.hint


def test_missing_file_hint_says_where_it_looked(tmp_path):
    with pytest.raises(ProblemError) as info:
        tensor({"csv": "o.csv"}, tmp_path)
    assert str(tmp_path / "o.csv") in info.value.hint


# --------------------------------------------------------------------------- hypothesis

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.decimals() | st.sampled_from(["1/3", " -2/4 ", "1e-999", "1/0", "0.5", "7"]),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.sampled_from(["csv", "npy", "cvs"])
                                        | st.text(max_size=4), children, max_size=2)),
    max_leaves=16,
)


@pytest.fixture(scope="module")
def empty_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("empty")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_like, exact=st.booleans())
def test_parse_tensor_raises_only_problem_errors(value, exact, empty_folder):
    try:
        result = parse_tensor(value, "input", file="p.json", base_dir=empty_folder, exact=exact)
    except ProblemError as error:
        assert error.what and error.file
        return
    assert isinstance(result, np.ndarray) and result.ndim <= 4
    if exact:
        assert result.dtype == object and all(type(v) is Fraction for v in result.flat)
    else:
        assert result.dtype == np.float64 and np.isfinite(result).all()


json_ish_text = st.text(alphabet='[]{}",:0123456789.eE-+ \n\\tuNaIfinyl/\x00\ufeff', max_size=60)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=80) | json_ish_text.map(lambda t: t.encode("utf-8")))
def test_load_json_document_raises_only_problem_errors(raw):
    try:
        load_json_document(raw, "p.json")
    except ProblemError as error:
        assert error.what and error.file == "p.json"


@settings(max_examples=40, deadline=None)
@given(value=json_like)
@example(value=[0, [], None])  # an empty list the odd one out: no element inside to name
def test_documents_round_trip_through_both_functions(value, empty_folder):
    # Whatever json can write reads back as itself, and parsing it fails only cleanly.
    try:
        raw = json.dumps({"input": value}, allow_nan=True, default=str).encode()
    except (ValueError, TypeError):
        return
    try:
        document = load_json_document(raw, "p.json")
    except ProblemError:  # NaN and infinities are refused on reading
        assert any(word in raw for word in (b"NaN", b"Infinity"))
        return
    # numbers are read as written (Decimal): json's own reading of the text, to the float
    assert document == json.loads(raw, parse_float=Decimal)
    try:
        parse_tensor(document["input"], "input", file="p.json", base_dir=empty_folder)
    except ProblemError:
        pass


@pytest.mark.parametrize("text, comma, kind, message, column", [
    ('{"input": [1, 2,]}', 15, "array", "Expecting value", 17),
    ('{"input": [1, 2,\n  ]}', 15, "array", "Expecting value", 3),
    ('{"input": 1, "kernel": 2,  }', 24, "object",
     "Expecting property name enclosed in double quotes", 28),
])
def test_a_trailing_comma_reads_the_same_on_python_3_13(text, comma, kind, message, column):
    # Python 3.13 stops at the comma itself ("Illegal trailing comma before end of array");
    # earlier ones after it: cnngrad says the earlier on every Python
    new = json.JSONDecodeError(f"Illegal trailing comma before end of {kind}", text, comma)
    old = portable_json_error(new, text)
    assert (old.msg, old.colno) == (message, column)
    with pytest.raises(ProblemError) as caught:
        load_json_document(text.encode(), "p.json")
    assert caught.value.where.endswith(f"column {column}")
    assert "comma" in caught.value.hint


@pytest.mark.parametrize("value, hint", [
    # the value after the comma is what is wrong, not the comma
    ("nan", "NaN and infinity are not allowed: every element must be a finite number"),
    ("Nan", "NaN and infinity are not allowed: every element must be a finite number"),
    (".5", "JSON numbers start with a digit: write 0.5"),
    (".5e-3", "JSON numbers start with a digit: write 0.5e-3"),
    ("+1", "JSON numbers have no plus sign: write 1"),
    ("-", "a minus sign must be followed by the number's digits"),
    ("undefined", "a value is a number (0.5), a string in double quotes"),
    ("None", "JSON writes true, false and null in lower case (null, not None)"),
    ("True", "JSON writes true, false and null in lower case (true, not True)"),
    ("FALSE", "JSON writes true, false and null in lower case (false, not FALSE)"),
    ("]", "JSON allows no comma after the last element; remove it"),
])
@pytest.mark.parametrize("first", [False, True])
def test_a_value_json_cannot_read_says_what_to_write(value, hint, first):
    elements = f"[{value}, 1]" if first else f"[1, {value}]"
    if first and value == "]":
        return  # "[], 1]": another error
    with pytest.raises(ProblemError) as caught:
        load_json_document(f'{{"input": {elements}}}'.encode(), "p.json")
    assert caught.value.hint.startswith(hint)


@pytest.mark.parametrize("value, column, hint", [
    # the scanner reads the number's first part and wants a comma where the rest begins
    ("1.", 13, "JSON numbers need digits after the point: write 1.0 or 1"),
    ("-2.", 14, "JSON numbers need digits after the point: write -2.0 or -2"),
    ("01", 13, "JSON numbers have no leading zeros: write 1"),
    ("-007", 14, "JSON numbers have no leading zeros: write -7"),
    ("1e", 13, "an exponent needs its digits: write 1e3 (or 1 alone)"),
    ("2.5E", 15, "an exponent needs its digits: write 2.5e3 (or 2.5 alone)"),
    ("0x1f", 13, "JSON numbers are decimal: write the value in decimal digits"),
    ("1 2", 14, "a ',' missing between 1 and the value after it?"),
    ('3 "1/2"', 14, "a ',' missing between 3 and the value after it?"),
    # the rest of the number kept: 1.e3 is 1000, not 1; 00.5 is 0.5, not .5
    ("1.e3", 13, "JSON numbers need digits after the point: write 1.0e3"),
    ("00.5", 13, "JSON numbers have no leading zeros: write 0.5"),
    ("-00.5", 14, "JSON numbers have no leading zeros: write -0.5"),
    # no fix that is itself JSON is known: the scanner's words alone
    ("0.5.5", 15, None),
    ("1e5.0", 15, None),
    ("1e3e", 15, None),
])
def test_a_number_json_reads_only_in_part_says_what_to_write(value, column, hint):
    with pytest.raises(ProblemError) as caught:
        load_json_document(f'{{"input": [{value}, 1]}}'.encode(), "p.json")
    assert caught.value.what == "expecting ',' delimiter"
    assert caught.value.where == f"line 1, column {column}"
    assert caught.value.hint == hint


@pytest.mark.parametrize("document", [
    '{"input": [[0.5, 0.9], [0.4, 0.6]], "kernel": [[1,0],[0,1}}',  # a bracket, after 0,1
    '{"input": [1e5,05]}', '{"input": [1E-5,07, 1]}',  # an exponent's digits
    '{"input": [[1e5,05,3, 0.2]]}', '{"input": [[0.5,05,3, 0.2]]}',  # 05,3 is no number
    '{"input": [0.' + "1" * 45 + ',05]}',  # a decimal's digits, however long
    '{"title": "lab 3,5\n", "input": [1]}',  # a string's text
])
def test_what_only_looks_like_a_decimal_comma_is_not_called_one(document):
    with pytest.raises(ProblemError) as caught:
        load_json_document(document.encode(), "p.json")
    assert "decimal comma" not in (caught.value.hint or "")


@pytest.mark.parametrize("document, where, hint", [
    # 0,0683 is 0 and 0683 to the scanner (a leading zero), not "write 683"
    ('{"input": [0.0113, 0,0683]}', "line 1, column 23",
     "0,0683: a decimal comma? JSON numbers take a decimal point: 0.0683"),
    ('{"a": -0,0295}', "line 1, column 10",
     "-0,0295: a decimal comma? JSON numbers take a decimal point: -0.0295"),
    ('{"input": [[1,05], [2, 3]]}', "line 1, column 16",
     "1,05: a decimal comma? JSON numbers take a decimal point: 1.05"),
    # after other numbers written with commas: the number that holds the stop, not the first
    ('{"delta": [[0,0,0683], [0, 0]]}', "line 1, column 18",
     "0,0683: a decimal comma? JSON numbers take a decimal point: 0.0683"),
])
def test_a_decimal_comma_that_breaks_the_json_is_named(document, where, hint):
    with pytest.raises(ProblemError) as caught:
        load_json_document(document.encode(), "p.json")
    assert (caught.value.where, caught.value.hint) == (where, hint)


@pytest.mark.parametrize("rows, hint", [
    # read as two numbers, the row is one too long: the pair is named
    ([[0.0446, 0.0941], [0.0113, 0, 5]], "0 and 5 side by side: a decimal comma (0,5) read "
                                         "as two numbers? JSON numbers take a decimal point"),
    # in the first row, whose length the others are held to
    ([[0.0446, 0, 5], [0.0113, 0.1]], "in the first row, 0 and 5 side by side: a decimal "
                                      "comma (0,5) read as two numbers? JSON numbers take a "
                                      "decimal point"),
    ([[0.5, 0.25], [0.25, 0.75, 1, 2]], None),  # two too many: no one comma's doing
    ([[0.5, 1, 2], [0.5, 1, 2], [0.25, 3]], None),  # the short row is the odd one: no pair
    ([[1, 0, 2], [0, 1]], None),  # whole numbers only: a kernel, no decimal in sight
    ([[0.5, 1], [0.5, 1, 0.5]], None),  # no two whole numbers side by side
])
def test_a_row_made_long_by_a_decimal_comma_says_so(rows, hint):
    with pytest.raises(ProblemError) as caught:
        parse_tensor(rows, "input", file="p.json", base_dir=pathlib.Path("."), exact=False)
    assert "element" in caught.value.what
    assert caught.value.hint == hint


def test_other_json_errors_are_left_as_they_are():
    error = json.JSONDecodeError("Expecting ',' delimiter", "[1 2]", 3)
    assert portable_json_error(error, "[1 2]") is error


def test_a_csv_cell_of_any_length_is_read_and_the_csv_limit_is_left_as_it_was(tmp_path):
    # "malformed CSV: field larger than field limit (131072)", the csv module's own limit,
    # for a number JSON reads whole
    import csv

    digits = "0." + "1" * 200_000
    (tmp_path / "o.csv").write_text(f"{digits},2\n3,4\n")
    before = csv.field_size_limit()
    value = parse_tensor({"csv": "o.csv"}, "input", file="p.json", base_dir=tmp_path,
                         exact=False)
    assert value[0][0] == float(digits[:20]) and value[1][1] == 4
    assert csv.field_size_limit() == before


def test_a_npy_of_format_version_3_is_read(tmp_path):
    # "unsupported .npy format version 3.0": numpy.save writes 3.0 for a header that is not
    # Latin-1, and numpy.load reads it
    import numpy.lib.format as npy_format

    with open(tmp_path / "x.npy", "wb") as stream:
        npy_format.write_array(stream, np.arange(4.0).reshape(2, 2), version=(2, 0))
    raw = bytearray((tmp_path / "x.npy").read_bytes())
    raw[6] = 3  # the major version byte after the magic
    (tmp_path / "x.npy").write_bytes(bytes(raw))
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(tensor({"npy": "x.npy"}, tmp_path), [[0, 1], [2, 3]])


def _wrapped(depth: int, value):
    for _ in range(depth):
        value = [value]
    return value


def test_an_element_too_deep_under_a_thousand_lists_of_one_is_an_error_not_a_recursion(tmp_path):
    # the search for the odd element through lists of one element was a recursion, which
    # ran out of stack some 988 levels down (the library's own limit is deeper)
    value = [_wrapped(987, [1, 2]), _wrapped(987, [1, 2]), _wrapped(989, 1)]
    with pytest.raises(ProblemError, match="got lists nested 989 deep") as raised:
        parse_tensor(value, "input", file="p.json", base_dir=tmp_path)
    assert raised.value.where == "input[2]"


def test_a_ragged_tensor_more_than_64_lists_deep_is_an_error_not_a_numpy_limit(tmp_path):
    # the element's place was found with np.unravel_index, which takes at most 64 axes
    value = [_wrapped(64, [1, 2]), _wrapped(64, [1])]
    with pytest.raises(ProblemError, match="row has 1 element, expected 2") as raised:
        parse_tensor(value, "input", file="p.json", base_dir=tmp_path)
    assert raised.value.where == "input[1]" + "[0]" * 64
