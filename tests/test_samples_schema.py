"""`cnngrad samples` (list, print, copy; shipped as package data) and `cnngrad schema` (a JSON
Schema that every sample passes and malformed problems fail, agreeing with cnngrad itself)."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnngrad import bundled
from cnngrad.cli import app
from cnngrad.errors import CnnGradError
from cnngrad.families import layer_fields, loss_fields
from cnngrad.problem import SHORTHAND_KEYS, build_problem
from cnngrad.schema import NUMBER_STRING_PATTERN, problem_schema
from cnngrad.tensorio import parse_number

LAYER_FIELDS, LOSS_FIELDS = layer_fields(), loss_fields()

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))
VALIDATOR = jsonschema.Draft202012Validator(problem_schema())

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


# --------------------------------------------------------------------------- samples


def _entries(listing: str) -> dict[str, str]:
    """Each sample's entry of the listing, its wrapped lines joined by single spaces."""
    entries: dict[str, str] = {}
    for line in listing.splitlines():
        if line.startswith(" "):
            last = list(entries)[-1]
            entries[last] += " " + line.strip()
        else:
            entries[line.split()[0]] = " ".join(line.split())
    return entries


def test_samples_lists_a_name_and_a_title_each():
    by_name = _entries(ok("samples"))
    assert list(by_name) == sorted(p.stem for p in SAMPLE_FILES)
    assert "Worked example: conv backprop with a known upstream delta" in by_name["stackexchange"]
    assert "(reads csv/o.csv, csv/w.csv, csv/d.csv)" in by_name["stackexchange-csv"]
    assert "reads" not in by_name["stackexchange"]


@pytest.mark.parametrize("columns", ["80", "60", "200", None])
def test_the_samples_listing_fits_80_columns(monkeypatch, columns):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    listing = ok("samples")
    lines = listing.splitlines()
    assert max(len(line) for line in lines) <= min(80, int(columns or 80))
    # the names in a column of their own: a wrapped title goes on under itself
    names = [line for line in lines if not line.startswith(" ")]
    assert len(names) == len(SAMPLE_FILES)
    start = names[0].index("A batch")
    assert all(line[:start].strip() == "" and line[start] != " "
               for line in lines if line.startswith(" "))
    assert any(line.startswith(" ") for line in lines)  # some title did need wrapping
    # nothing lost: a title ends up whole once its lines are joined
    assert "Worked example, whole network: conv → max pool → flatten → dense → sigmoid, " \
        "MSE ½Σ" in _entries(listing)["stackexchange-network"]


def test_the_docs_show_the_samples_listing_as_it_is(monkeypatch):
    # docs/formats.md shows `cnngrad samples` at 80 columns: every sample, word for word
    monkeypatch.setenv("COLUMNS", "80")
    doc = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    shown = doc.split("```\n$ cnngrad samples\n", 1)[1].split("```", 1)[0]
    assert list(_entries(shown)) == sorted(p.stem for p in SAMPLE_FILES)
    assert shown == ok("samples")


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("suffix", ["", ".json"])
def test_samples_name_prints_the_file_exactly(path, suffix):
    result = invoke("samples", path.stem + suffix)
    assert result.exit_code == 0, result.output
    assert result.stdout == path.read_text(encoding="utf-8")


def test_a_sample_path_names_the_sample():
    assert ok("samples", "samples/pool-ties.json") == (SAMPLES / "pool-ties.json").read_text(
        encoding="utf-8")


def test_a_csv_backed_sample_says_what_it_needs_on_stderr():
    result = invoke("samples", "stackexchange-csv")
    json.loads(result.stdout)  # standard output stays the problem alone
    assert "csv/o.csv, csv/w.csv, csv/d.csv" in result.stderr
    assert "--to DIR" in result.stderr


def test_samples_to_copies_the_problem_with_its_files(tmp_path):
    target = tmp_path / "mine"
    out = ok("samples", "stackexchange-csv", "--to", target)
    assert out.splitlines() == [f"wrote {target / name}" for name in
                                ("stackexchange-csv.json", "csv/o.csv", "csv/w.csv", "csv/d.csv")]
    copied = json.loads(ok("backward", target / "stackexchange-csv.json", "--format", "json"))
    original = json.loads(ok("backward", SAMPLES / "stackexchange.json", "--format", "json"))
    assert copied["layers"] == original["layers"]


@pytest.mark.parametrize("name, answers", [
    ("exam", ["exam/ana.json", "exam/ben.json", "exam/cleo.json"]),
    ("stackexchange", ["answers/conv2d_1.grads.kernel.csv", "answers/stackexchange-answers.json",
                       "answers/stackexchange-wrong.json"]),
    ("pool-ties", [])])
def test_samples_to_copies_the_answers_files_that_come_with_it(tmp_path, name, answers):
    out = ok("samples", name, "--to", tmp_path)
    assert out.splitlines() == [f"wrote {tmp_path / f}" for f in [f"{name}.json", *answers]]
    for answer in answers:
        assert (tmp_path / answer).read_bytes() == (SAMPLES / answer).read_bytes()
        # the README's check commands run on the copy as written
        result = invoke("check", tmp_path / f"{name}.json", tmp_path / answer)
        assert result.exit_code in (0, 1), result.output  # some hold slips on purpose
        assert not isinstance(result.exception, Exception), result.exception


def test_samples_to_never_overwrites_without_force(tmp_path):
    ok("samples", "stackexchange", "--to", tmp_path)
    (tmp_path / "stackexchange.json").write_text("mine", encoding="utf-8")
    result = invoke("samples", "stackexchange", "--to", tmp_path)
    assert result.exit_code == 2 and "would overwrite" in result.output
    assert (tmp_path / "stackexchange.json").read_text(encoding="utf-8") == "mine"
    ok("samples", "stackexchange", "--to", tmp_path, "--force")
    assert json.loads((tmp_path / "stackexchange.json").read_text(encoding="utf-8"))["kernel"]


def test_samples_to_writes_every_file_or_none(tmp_path):
    # a file that cannot be written (here a folder in its place; a full disk alike) leaves
    # no sample beside some of its answers, no empty file, and no folder made for them
    target = tmp_path / "copy"
    (target / "exam" / "cleo.json").mkdir(parents=True)
    result = invoke("samples", "exam", "--to", target, "--force")
    assert result.exit_code == 2
    assert result.stderr.endswith("cleo.json: --to: is a folder, where the sample has a file "
                                  "of that name; hint: move or rename the folder, or give --to "
                                  "another folder\n")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "exam", "exam/cleo.json"]
    fresh = tmp_path / "fresh" / "deeper"
    (fresh / "exam").mkdir(parents=True)
    (fresh / "exam" / "ana.json").mkdir()
    assert invoke("samples", "exam", "--to", fresh, "--force").exit_code == 2
    assert not (fresh / "exam.json").exists()
    # a folder name too long for the system: the folders made on the way are removed too
    result = invoke("samples", "exam", "--to", tmp_path / "new" / ("x" * 300))
    assert result.exit_code == 2 and not (tmp_path / "new").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_samples_to_refuses_a_pipe_in_a_file_s_place(tmp_path):
    # written through as -o writes through one, it waited for a reader for ever
    ok("samples", "exam", "--to", tmp_path)
    (tmp_path / "exam" / "ana.json").unlink()
    os.mkfifo(tmp_path / "exam" / "ana.json")
    result = invoke("samples", "exam", "--to", tmp_path, "--force")
    assert result.exit_code == 2
    assert result.stderr.endswith("ana.json: --to: is not a regular file, where the sample has "
                                  "a file of that name; hint: move it away, or give --to "
                                  "another folder\n")


@pytest.mark.parametrize("args, message", [
    (["stackexchang"], "did you mean 'stackexchange'?"),
    (["--to", "x"], "give its NAME"),
    (["stackexchange", "--force"], "--force goes with --to"),
    (["stackexchange", "--path"], "give no NAME"),
    # README lists verify/ among the samples: its folder is named, not every sample
    (["verify"], "verify/ is a folder of files that go with the samples; hint: they are in "
                 "\"$(cnngrad samples --path)/verify\""),
    (["csv", "--to", "x"], "csv/ is a folder"),
])
def test_samples_usage_errors(args, message):
    result = invoke("samples", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_samples_path_is_the_folder_holding_them():
    folder = Path(ok("samples", "--path").strip())
    assert (folder / "stackexchange.json").is_file()


def test_installed_package_data_is_preferred(tmp_path, monkeypatch):
    package = tmp_path / "cnngrad"
    (package / "samples").mkdir(parents=True)
    (package / "samples" / "only.json").write_text('{"title": "packaged"}', encoding="utf-8")
    monkeypatch.setattr(bundled, "PACKAGE_DIR", package)
    assert [s.name for s in bundled.list_samples()] == ["only"]
    monkeypatch.setattr(bundled, "PACKAGE_DIR", tmp_path / "nowhere" / "cnngrad")
    with pytest.raises(CnnGradError, match="missing"):
        bundled.samples_dir()


def test_referenced_files_walks_every_tensor_reference():
    doc = {"input": {"csv": ["a.csv", "b.csv"]}, "layers": [
        {"type": "conv2d", "kernel": {"npy": "k.npy"}, "bias": [1, 2]},
        {"type": "dense", "weights": {"csv": "a.csv"}}], "delta": [[1]]}
    assert bundled.referenced_files(doc) == ("a.csv", "b.csv", "k.npy")


# --------------------------------------------------------------------------- packaging

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None


@pytest.mark.skipif(tomllib is None, reason="tomllib is Python 3.11+")
def test_pyproject_lists_every_package_and_ships_every_sample():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "cnngrad").rglob("*.py") if "__pycache__" not in p.parts}
    assert found <= listed, f"add to pyproject.toml [tool.setuptools] packages: {found - listed}"
    assert config["setuptools"]["package-dir"]["cnngrad.samples"] == "samples"
    patterns = config["setuptools"]["package-data"]["cnngrad.samples"]
    for path in SAMPLES.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            relative = path.relative_to(SAMPLES).as_posix()
            assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), \
                f"{relative} would not be in the wheel: widen the package-data patterns"


# --------------------------------------------------------------------------- schema


def test_schema_command_prints_a_valid_draft_2020_12_schema(tmp_path):
    printed = json.loads(ok("schema"))
    assert printed == problem_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed)
    out = tmp_path / "problem.schema.json"
    ok("schema", "-o", out)
    assert json.loads(out.read_text(encoding="utf-8")) == printed


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_sample_validates(path):
    errors = [e.message for e in VALIDATOR.iter_errors(json.loads(path.read_text("utf-8")))]
    assert errors == []


def test_the_schema_describes_every_field_cnngrad_reads():
    defs = problem_schema()["$defs"]
    for kind, fields in LAYER_FIELDS.items():
        reads = {"inputs"} if "inputs" in fields else {"input"}  # what it reads (graphs)
        assert set(defs[f"layer_{kind}"]["properties"]) == {"type", "name", *reads, *fields}
    for kind, fields in LOSS_FIELDS.items():
        assert set(defs[f"loss_{kind}"]["properties"]) == {"type", *fields}
    layers_form, shorthand_form = problem_schema()["oneOf"]
    assert set(shorthand_form["properties"]) - set(layers_form["properties"]) == \
        set(SHORTHAND_KEYS)


WORKED = json.loads((SAMPLES / "stackexchange.json").read_text(encoding="utf-8"))
NETWORK = json.loads((SAMPLES / "stackexchange-network.json").read_text(encoding="utf-8"))


def edited(base: dict, change) -> dict:
    doc = copy.deepcopy(base)
    change(doc)
    return doc


GOOD = {
    # nn.Sequential's names, and "loss" (the path loss.output is the layer's)
    "layers named 0 and loss": edited(NETWORK, lambda d: (
        d["layers"][0].update(name="0"), d["layers"][1].update(name="loss"))),
    "fraction strings": edited(WORKED, lambda d: d.update(kernel=[["-13/100", "0.15"],
                                                                  [" -0.51 ", "62e-2"]])),
    "shorthand options": edited(WORKED, lambda d: d.update(
        padding="same", stride=1, dilation=[1, 1], flip_kernel=True, bias=0.5,
        delta=np.zeros((5, 5)).tolist())),
    "every layer": {"input": np.ones((1, 4, 4)).tolist(), "layers": [
        {"type": "conv2d", "kernel": np.ones((2, 1, 2, 2)).tolist(), "bias": [0, 1],
         "padding": [1, 0, 1, 0], "padding_mode": "reflect", "name": "c-1"},
        {"type": "leaky_relu", "slope": "1/5"},
        {"type": "maxpool2d", "size": [2, 2], "stride": 1, "ties": "split", "ceil_mode": True},
        {"type": "avgpool2d", "size": 2, "padding": 1, "count_include_pad": False},
        {"type": "tanh"}, {"type": "sigmoid"}, {"type": "relu"}, {"type": "flatten"},
        {"type": "dense", "weights": np.ones((3, 8)).tolist(), "bias": [1, 2, 3]}],
        "loss": {"type": "cross_entropy", "target": 2}},
    "mse mean": edited(NETWORK, lambda d: d["loss"].update(reduction="mean")),
    # a zero written with its sign is ≥ 0, as cnngrad reads it (the schema refused them)
    "negative zeros as strings": {
        "input": [[1, 2], [3, 4]], "layers": [
            {"type": "batchnorm2d", "eps": "-0.0"},
            {"type": "dropout", "p": "-0/3", "mask": [[1, 0], [1, 1]]}],
        "delta": [[1, 1], [1, 1]]},
    "a residual add and a concat, nhwc": {
        "layout": "nhwc", "input": np.ones((3, 3, 2)).tolist(), "layers": [
            {"type": "conv2d", "kernel": np.ones((1, 1, 2, 2)).tolist(), "name": "c",
             "padding": "same", "stride": 2},
            {"type": "relu", "input": "c"},
            {"type": "conv2d", "kernel": np.ones((3, 3, 2, 2)).tolist(), "input": "input",
             "padding": "same", "stride": 2, "name": "d"},
            {"type": "add", "inputs": ["relu_1", "c", "d"]},
            {"type": "concat", "inputs": ["add_1", "c"]}, {"type": "flatten"},
            {"type": "dense", "weights": np.ones((2, 16)).tolist(), "bias": 0.5}],
        "loss": {"type": "cross_entropy", "target": [0.5, 0.5]}},
}
BAD = {
    "misspelt top key": edited(WORKED, lambda d: d.update(kernal=d.pop("kernel"))),
    "both loss and delta": edited(WORKED, lambda d: d.update(
        loss={"type": "mse", "target": d["delta"]})),
    "neither loss nor delta": edited(WORKED, lambda d: d.pop("delta")),
    "layers and kernel": edited(NETWORK, lambda d: d.update(kernel=[[1]])),
    "unknown layer type": edited(NETWORK, lambda d: d["layers"][0].update(type="conv")),
    "field of another layer": edited(NETWORK, lambda d: d["layers"][1].update(
        count_include_pad=True)),
    "stride 0": edited(NETWORK, lambda d: d["layers"][0].update(stride=0)),
    "padding full": edited(NETWORK, lambda d: d["layers"][0].update(padding="full")),
    "padding of three": edited(NETWORK, lambda d: d["layers"][0].update(padding=[1, 1, 1])),
    "ties random": edited(NETWORK, lambda d: d["layers"][1].update(ties="random")),
    "dense without weights": edited(NETWORK, lambda d: d["layers"][3].pop("weights")),
    "pool without size": edited(NETWORK, lambda d: d["layers"][1].pop("size")),
    "layer name starting with a minus": edited(
        NETWORK, lambda d: d["layers"][0].update(name="-conv")),
    "layer name with a dot": edited(NETWORK, lambda d: d["layers"][0].update(name="a.b")),
    "no layers": edited(NETWORK, lambda d: d.update(layers=[])),
    "word as a number": edited(WORKED, lambda d: d["kernel"][0].__setitem__(0, "abc")),
    "boolean as a number": edited(WORKED, lambda d: d["kernel"][0].__setitem__(0, True)),
    "empty list": edited(WORKED, lambda d: d.update(kernel=[[]])),
    "rank 5 input": edited(WORKED, lambda d: d.update(input=[[[[[1]]]]])),
    "1-D input": edited(WORKED, lambda d: d.update(input=[1, 2, 3])),
    "3-D dense weights": edited(NETWORK, lambda d: d["layers"][3].update(weights=[[[1]]])),
    "csv and npy": edited(WORKED, lambda d: d.update(input={"csv": "a.csv", "npy": "a.npy"})),
    "empty file name": edited(WORKED, lambda d: d.update(input={"csv": ""})),
    "unknown loss": edited(NETWORK, lambda d: d["loss"].update(type="hinge")),
    "mse without target": edited(NETWORK, lambda d: d["loss"].pop("target")),
    "bad reduction": edited(NETWORK, lambda d: d["loss"].update(reduction="avg")),
    "title a number": edited(WORKED, lambda d: d.update(title=3)),
    "not an object": [1, 2, 3],
    "layer named input": edited(NETWORK, lambda d: d["layers"][0].update(name="input")),
    "layout upper case": edited(NETWORK, lambda d: d.update(layout="NHWC")),
    "add with one input": edited(NETWORK, lambda d: d["layers"].append(
        {"type": "add", "inputs": ["dense_1"]})),
    "add with input": edited(NETWORK, lambda d: d["layers"].append(
        {"type": "add", "input": "dense_1"})),
    "input a number": edited(NETWORK, lambda d: d["layers"][1].update(input=0)),
    # ranges and rules between fields the schema can say (it let these through)
    "dropout p of 1": edited(NETWORK, lambda d: d["layers"].insert(
        3, {"type": "dropout", "p": 1, "mask": [1] * 4})),
    # a string the schema can tell is not below 1 (an exponent's or a fraction's it cannot)
    "dropout p of '1.0'": edited(NETWORK, lambda d: d["layers"].insert(
        3, {"type": "dropout", "p": "1.0", "mask": [1] * 4})),
    "dropout p of '+2'": edited(NETWORK, lambda d: d["layers"].insert(
        3, {"type": "dropout", "p": "+2", "mask": [1] * 4})),
    "dropout p below 0": edited(NETWORK, lambda d: d["layers"].insert(
        3, {"type": "dropout", "p": "-0.1", "mask": [1] * 4})),
    "batch norm eps below 0": edited(NETWORK, lambda d: d["layers"].insert(
        1, {"type": "batchnorm2d", "eps": -1})),
    "batch norm eval without running statistics": edited(NETWORK, lambda d: d["layers"].insert(
        1, {"type": "batchnorm2d", "mode": "eval"})),
    "batch norm train with running statistics": edited(NETWORK, lambda d: d["layers"].insert(
        1, {"type": "batchnorm2d", "running_mean": [0], "running_var": [1]})),
    "a fraction over 0": edited(WORKED, lambda d: d["kernel"][0].__setitem__(0, "1/0")),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_problems_validate_and_run(name):
    doc = GOOD[name]
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []
    build_problem(json.loads(json.dumps(doc)), file="t", base_dir=Path("."))


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_problems_fail_the_schema_and_cnngrad_alike(name):
    doc = BAD[name]
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(CnnGradError):
        build_problem(doc, file="t", base_dir=Path("."))


@pytest.mark.parametrize("grading, valid", [
    ({"min_decimals": 2}, True),
    ({"atol": 0.1, "rtol": "1/100"}, True),
    ({"min_decimals": 2, "atol": 0.1}, False),
    ({"min_decimals": 0, "rtol": 0.01}, False),
    # the string forms of a number: a sign or a zero the numbers refused, the strings not
    ({"atol": "-1"}, False),
    ({"rtol": "-1/2"}, False),
    ({"atol": "+0.5", "rtol": "1/10"}, True),
    ({"atol": "-0", "rtol": "-0/2"}, True),
    ({"points": {"loss": "-1"}}, False),
    ({"points": {"loss": "0"}}, False),
    ({"points": {"loss": "0/3"}}, False),
    ({"points": {"loss": "0.5"}}, True),
    ({"points": {"": 1}}, False),  # no dotted path
    ({"points": {" ": 1}}, False),
    ({"points": {"a..b": 1}}, False),
    ({"points": {"[0]": 1}}, False),
    ({"points": {"conv2d_1.grads.kernel(0,1)": 1}}, False),
    ({"points": {" conv2d_1.grads.kernel [0][1] ": 1}}, True),
    ({"points": {"conv2d_1.grads.kernel[0, 1]": 1, "add_1.delta_in.r1": 2}}, True),
])
def test_the_schema_refuses_a_grading_block_check_refuses(grading, valid):
    # min_decimals with atol passed the schema, then check stopped with exit 2
    from cnngrad.teach.grading import parse_grading

    doc = dict(WORKED, grading=grading)
    assert VALIDATOR.is_valid(doc) == valid
    if valid:
        parse_grading(grading)
    else:
        with pytest.raises(CnnGradError):
            parse_grading(grading)


# --------------------------------------------------------------------------- number syntax

# numbers of a sensible size: the pattern also admits 1e999, which cnngrad reads and rejects
READABLE_NUMBER = st.from_regex(
    r"\A *[+-]?(?:[0-9]{1,6}(?:\.[0-9]{0,6})?|\.[0-9]{1,6})(?:[eE][+-]?[0-9]{1,2})? *\Z|"
    r"\A *[+-]?[0-9]{1,6} */ *[+-]?[1-9][0-9]{0,5} *\Z")


@settings(max_examples=60, deadline=None)
@given(READABLE_NUMBER)
def test_what_the_schema_calls_a_number_cnngrad_reads(text):
    assert VALIDATOR.is_valid(edited(WORKED, lambda d: d["kernel"][0].__setitem__(0, text)))
    try:
        parse_number(text, "x", file="t")
    except CnnGradError as error:
        assert "too small" in error.what or "too large" in error.what, error.what


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789+-./eE xn,_", max_size=8))
def test_a_string_cnngrad_reads_matches_the_schema_pattern(text):
    import re

    try:
        parse_number(text, "x", file="t")
    except CnnGradError:
        return
    assert re.search(NUMBER_STRING_PATTERN, text), text


# every character Python or JSON Schema's ECMA-262 counts as a space, and two neither does
SPACES = sorted({chr(c) for c in range(0x3001) if chr(c).isspace()}
                | set("\t\n\v\f\r \xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
                | {"\u200b", "\x1b"})


@pytest.mark.parametrize("space", SPACES, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("form", ["{}1", "1{}", "1{}/3", "1/{}3", "{}-1/3{}"])
def test_the_schema_and_cnngrad_take_the_same_spaces_in_a_number(space, form):
    # the schema said \s, which is U+FEFF but not U+001C or U+0085 in JSON Schema's regular
    # expressions (ECMA-262) and the other way round in Python's (and cnngrad's)
    import re

    text = form.format(space, space)
    try:
        parse_number(text, "x", file="t")
        read = True
    except CnnGradError:
        read = False
    assert bool(re.search(NUMBER_STRING_PATTERN, text)) == read, repr(text)


@pytest.mark.parametrize("text", ["-1/-3", "-1 / -3", "+1/3", "1/-3", "-1/3", "-0/-3", "0/-3",
                                  "-0", "0.5", "-0.5", "2/1", "-2/-1", "1e-2", "-1e-2"])
def test_the_schema_s_non_negative_number_is_what_cnngrad_reads_as_one(text):
    # "-1/-3" is 1/3, a value ≥ 0 that cnngrad takes, but the schema refused it
    schema = {"$defs": problem_schema()["$defs"], "$ref": "#/$defs/non_negative_number"}
    value = parse_number(text, "x", file="t", exact=True)
    assert jsonschema.Draft202012Validator(schema).is_valid(text) == (value >= 0), text


@pytest.mark.parametrize("name, taken", [("conv_a", True), ("conv_a\n", False),
                                         ("a-b", True), ("1a", True), ("0", True),
                                         ("-a", False)])
def test_the_schema_s_name_pattern_refuses_a_last_newline_in_python_too(name, taken):
    # Python's $ matches before a last newline, ECMA-262's does not: cnngrad refuses "conv\n"
    from cnngrad.schema import NAME_PATTERN

    assert bool(re.search(NAME_PATTERN, name)) == taken


def test_the_schema_s_patterns_use_no_class_that_differs_between_dialects():
    # \s, \d and \w match other characters in ECMA-262 than in Python: spelt out instead
    patterns = re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', json.dumps(problem_schema()))
    assert patterns
    for pattern in patterns:
        assert not re.search(r"(?<!\\)\\[sdwSDW]", json.loads(f'"{pattern}"')), pattern


def test_the_grading_block_s_defaults_are_check_s():
    # min_decimals and carry_forward had no default in the schema, unlike every other field
    grading = problem_schema()["oneOf"][0]["properties"]["grading"]["properties"]
    help_text = " ".join(CliRunner().invoke(app, ["check", "--help"]).output.split())
    assert f"[default: {grading['min_decimals']['default']}; 0 to 17]" in help_text
    assert grading["carry_forward"]["default"] is False  # a block without it: not carried
