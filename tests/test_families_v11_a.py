"""conv1d, maxpool1d, avgpool1d, conv_transpose2d and upsample through the whole program:
small cases worked by hand through the JSON result, --exact, every output format, explain
and --show-steps, gradcheck (1-D max-pool ties named), and check naming the transposed
conv's unflipped kernel and conv1d's slips."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.layers.conv1d import conv1d_backward
from cnngrad.layers.conv_transpose import (conv_transpose2d_backward,
                                           conv_transpose2d_forward)
from cnngrad.network import run
from cnngrad.problem import build_problem
from cnngrad.teach.check import check_file
from cnngrad.teach.explain import explain
from cnngrad.teach.gradcheck import gradcheck
from cnngrad.teach.steps import layer_textbook
from test_check import diagnosed, write_answers

ROOT = Path(__file__).resolve().parent.parent
SIGNAL = ROOT / "samples" / "signal-conv1d.json"
TRANSPOSED = ROOT / "samples" / "transposed-conv.json"
PROBLEMS = ROOT / "tests" / "v11_problems"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def problem_of(doc: dict, exact: bool = False):
    return build_problem(doc, file="problem.json", base_dir=Path("."), exact=exact)


def result_of(tmp_path, doc, *args) -> dict:
    """The JSON result of ``backward`` on ``doc`` (a dict or a file), layers by name."""
    if isinstance(doc, dict):
        path = tmp_path / "problem.json"
        path.write_text(json.dumps(doc))
    else:
        path = doc
    result = invoke("backward", path, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    return {"loss": out["loss"], **{layer["name"]: layer for layer in out["layers"]}}


def close(a, b) -> bool:
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12,
                       atol=1e-12)


# --------------------------------------------------------------------------- by hand

def test_transposed_conv_sample_by_hand(tmp_path):
    # y[i,j] += x[a,b]·w[m,n] at i = 2a − 1 + m: y[0,0] = x00·w11 + b; y[1,1] = x00·w22 +
    # x01·w20 + x10·w02 + x11·w00 + b = 1 + 0 − 3 + 4 + 0.5
    layer = result_of(tmp_path, TRANSPOSED)["conv_transpose2d_1"]
    assert np.shape(layer["output"]) == (4, 4)
    assert close(layer["output"][0][0], 1.5) and close(layer["output"][1][1], 2.5)
    # δ_in[a,b] = Σ w[m,n]·δ[2a−1+m, 2b−1+n]: δ_in[0,0] = w11·δ00 + w12·δ01 + w21·δ10 + w22·δ11
    assert close(layer["delta_in"], [[1.5, -2.5], [0.25, 2.5]])
    # dw[m,n] = Σ x[a,b]·δ[2a−1+m, 2b−1+n]: dw[1,1] = 1·0.5 + 2·0 + 3·0 + 4·1
    assert close(layer["grads"]["kernel"], [[0, 1, 0], [0, 4.5, -3], [0, 0.75, 2]])
    assert np.shape(layer["grads"]["bias"]) == () and close(layer["grads"]["bias"], 1.5)


def test_signal_conv1d_sample_by_hand(tmp_path):
    # "same" at stride 2 (TensorFlow): out ⌈8/2⌉ = 4, total padding 3·2 + 3 − 8 = 1, on the right
    out = result_of(tmp_path, SIGNAL)
    conv = out["conv1d_1"]
    assert close(conv["output"], [2.75, -2.25, 2.75, 2.25])
    assert close(out["loss"], 0.5 * (1.75 ** 2 + 0.75 ** 2 + 2.25 ** 2))
    # dw[m] = Σ_i δ[i]·x[2i + m], δ = (1.75, 0, 0.75, 2.25); x[8] is the padding zero
    assert close(conv["grads"]["kernel"], [4, 8.75, 0])
    assert close(conv["grads"]["bias"], 4.75)
    assert close(conv["delta_in"], [0.875, 1.75, -0.875, 0, 0.375, 0.75, 0.75, 2.25])


def test_conv1d_channels_filters_and_untied_bias_by_hand(tmp_path):
    # two channels, two filters of 2 taps, untied bias F×L'
    doc = {"input": [[1, 2, 3], [0, 1, -1]],
           "layers": [{"type": "conv1d", "kernel": [[[1, 0], [0, 1]], [[1, 1], [-1, 0]]],
                       "bias": [[0, 1], [2, 3]]}],
           "delta": [[1, 0], [0, 1]]}
    conv = result_of(tmp_path, doc)["conv1d_1"]
    # y[0,i] = x0[i] + x1[i+1]; y[1,i] = x0[i] + x0[i+1] − x1[i]
    assert close(conv["output"], [[1 + 1 + 0, 2 - 1 + 1], [3 - 0 + 2, 5 - 1 + 3]])
    assert close(conv["grads"]["bias"], [[1, 0], [0, 1]])
    # dw[f,c,m] = Σ_i δ[f,i]·x[c,i+m]
    assert close(conv["grads"]["kernel"], [[[1, 2], [0, 1]], [[2, 3], [1, -1]]])
    # δ_in[c,r] = Σ_f Σ_m δ[f, r − m]·w[f,c,m]
    assert close(conv["delta_in"], [[1, 1, 1], [0, 1 - 1, 0]])


def test_conv1d_nhwc_kernel_is_k_by_cin_by_f(tmp_path):
    # the same layer as above, channels last: input L×C, kernel k×C×F, untied bias L'×F
    kernel = np.transpose(np.array([[[1, 0], [0, 1]], [[1, 1], [-1, 0]]]), (2, 1, 0))
    doc = {"layout": "nhwc", "input": [[1, 0], [2, 1], [3, -1]],
           "layers": [{"type": "conv1d", "kernel": kernel.tolist(),
                       "bias": [[0, 2], [1, 3]]}],
           "delta": [[1, 0], [0, 1]]}
    conv = result_of(tmp_path, doc)["conv1d_1"]
    assert close(conv["output"], [[2, 5], [2, 7]])
    assert close(conv["grads"]["kernel"],
                 np.transpose(np.array([[[1, 2], [0, 1]], [[2, 3], [1, -1]]]), (2, 1, 0)))
    assert close(conv["grads"]["bias"], [[1, 0], [0, 1]])
    assert close(conv["delta_in"], [[1, 0], [1, 0], [1, 0]])


@pytest.mark.parametrize("ties, expected", [("first", [0, 1, 2, 0, 4, 0]),
                                            ("split", [0, 1, 2, 0, 2, 2]),
                                            ("all", [0, 1, 2, 0, 4, 4])])
def test_maxpool1d_ties_by_hand(tmp_path, ties, expected):
    doc = {"input": [1, 3, 3, 2, 5, 5], "layers": [{"type": "maxpool1d", "size": 2,
                                                   "ties": ties}],
           "delta": [1, 2, 4]}
    pool = result_of(tmp_path, doc)["maxpool1d_1"]
    assert close(pool["output"], [3, 3, 5])
    assert close(pool["delta_in"], expected)


def test_maxpool1d_overlapping_windows_add_up(tmp_path):
    doc = {"input": [1, 3, 3, 2], "layers": [{"type": "maxpool1d", "size": 3, "stride": 1}],
           "delta": [1, 2]}
    assert close(result_of(tmp_path, doc)["maxpool1d_1"]["delta_in"], [0, 3, 0, 0])


@pytest.mark.parametrize("include, output, delta_in", [
    (True, [0.5, 2.5, 4.5], [0.5, 0.5, 0.5, 0.5, 0.5]),
    (False, [1, 2.5, 4.5], [1, 0.5, 0.5, 0.5, 0.5])])
def test_avgpool1d_padding_by_hand(tmp_path, include, output, delta_in):
    doc = {"input": [1, 2, 3, 4, 5],
           "layers": [{"type": "avgpool1d", "size": 2, "padding": 1,
                       "count_include_pad": include}],
           "delta": [1, 1, 1]}
    pool = result_of(tmp_path, doc)["avgpool1d_1"]
    assert close(pool["output"], output) and close(pool["delta_in"], delta_in)


def test_upsample_2d_by_hand(tmp_path):
    doc = {"input": [[1, 2], [3, 4]], "layers": [{"type": "upsample", "scale": [1, 2]}],
           "delta": [[1, 2, 3, 4], [5, 6, 7, 8]]}
    up = result_of(tmp_path, doc)["upsample_1"]
    assert close(up["output"], [[1, 1, 2, 2], [3, 3, 4, 4]])
    assert close(up["delta_in"], [[3, 7], [11, 15]])


def test_upsample_1d_by_hand(tmp_path):
    doc = {"input": [1, -2, 3], "layers": [{"type": "maxpool1d", "size": 1},
                                          {"type": "upsample", "scale": 2}],
           "delta": [1, 2, 3, 4, 5, 6]}
    out = result_of(tmp_path, doc)
    assert close(out["upsample_1"]["output"], [1, 1, -2, -2, 3, 3])
    assert close(out["upsample_1"]["delta_in"], [3, 7, 11])


def test_conv_transpose_kernel_forms(tmp_path):
    # one channel in, two out (F×k1×k2), and the same as torch's C_in×F×k1×k2 and nhwc's
    # k1×k2×F: every form gives the same numbers, each gradient in its own shape
    kernel = np.array([[[1, 2], [0, -1]], [[0.5, 0], [1, 1]]])
    base = {"input": [[1, 2], [3, 4]], "delta": np.arange(18).reshape(2, 3, 3).tolist()}
    forms = {"F×k×k": kernel, "C×F×k×k": kernel[None]}
    results = {name: result_of(tmp_path, {**base, "layers": [
        {"type": "conv_transpose2d", "kernel": k.tolist()}]})["conv_transpose2d_1"]
        for name, k in forms.items()}
    nhwc = result_of(tmp_path, {**base, "layout": "nhwc",
                                "delta": np.moveaxis(np.array(base["delta"]), 0, -1).tolist(),
                                "layers": [{"type": "conv_transpose2d",
                                            "kernel": np.moveaxis(kernel, 0, -1).tolist()}]}
                     )["conv_transpose2d_1"]
    first, second = results["F×k×k"], results["C×F×k×k"]
    assert close(first["output"], second["output"])
    assert close(first["output"], np.moveaxis(np.array(nhwc["output"]), -1, 0))
    assert np.shape(first["grads"]["kernel"]) == (2, 2, 2)
    assert np.shape(second["grads"]["kernel"]) == (1, 2, 2, 2)
    assert close(first["grads"]["kernel"], second["grads"]["kernel"][0])
    assert close(first["grads"]["kernel"], np.moveaxis(np.array(nhwc["grads"]["kernel"]), -1, 0))


def test_conv_transpose_tensorflow_filter_under_nhwc(tmp_path):
    # k1×k2×(F/groups)×C_in is torch's C_in×(F/groups)×k1×k2 transposed (3, 2, 0, 1)
    rng = np.random.default_rng(5)
    torch_kernel = rng.integers(-2, 3, (2, 3, 2, 2))
    x = rng.integers(-2, 3, (1, 2, 2, 2))
    y = conv_transpose2d_forward(x.astype(float), torch_kernel.astype(float), stride=2)
    doc = {"layout": "nhwc", "input": np.moveaxis(x, 1, -1).tolist(),
           "layers": [{"type": "conv_transpose2d", "stride": 2,
                       "kernel": np.transpose(torch_kernel, (2, 3, 1, 0)).tolist()}],
           "delta": np.ones((1, 4, 4, 3)).tolist()}
    layer = result_of(tmp_path, doc)["conv_transpose2d_1"]
    assert close(layer["output"], np.moveaxis(y, 1, -1))
    _, dw, _ = conv_transpose2d_backward(x.astype(float), torch_kernel.astype(float),
                                         np.ones((1, 3, 4, 4)), stride=2)
    assert close(layer["grads"]["kernel"], np.transpose(dw, (2, 3, 1, 0)))


# --------------------------------------------------------------------------- exact mode

def test_exact_gives_fractions(tmp_path):
    layer = result_of(tmp_path, TRANSPOSED, "--exact")["conv_transpose2d_1"]
    assert [[Fraction(v) for v in row] for row in layer["delta_in"]] == \
        [[Fraction(3, 2), Fraction(-5, 2)], [Fraction(1, 4), Fraction(5, 2)]]
    assert Fraction(layer["grads"]["bias"]) == Fraction(3, 2)
    assert all(isinstance(v, str) for row in layer["grads"]["kernel"] for v in row)
    out = result_of(tmp_path, SIGNAL, "--exact")
    assert Fraction(out["loss"]) == Fraction(139, 32)
    assert [Fraction(v) for v in out["conv1d_1"]["grads"]["kernel"]] == \
        [Fraction(4), Fraction(35, 4), Fraction(0)]


@pytest.mark.parametrize("name", ["convT_full", "convT_groups_dil", "convT_nhwc",
                                  "conv1d_batched_groups", "conv1d_one_in_F_out",
                                  "conv1d_untied_bias_nhwc", "upsample_1d", "upsample_2d"])
def test_exact_agrees_with_float(tmp_path, name):
    floats = result_of(tmp_path, PROBLEMS / f"{name}.json")
    fractions = result_of(tmp_path, PROBLEMS / f"{name}.json", "--exact")
    for key, layer in floats.items():
        if key == "loss":
            continue
        for part in ("output", "delta_in", *[f"grads.{g}" for g in layer["grads"]]):
            pick = (lambda d, part=part: d["grads"][part[6:]] if part.startswith("grads.")
                    else d[part])
            exact_values = np.vectorize(lambda s: float(Fraction(s)))(
                np.asarray(pick(fractions[key]), dtype=object))
            assert close(exact_values, pick(layer)), (key, part)


# --------------------------------------------------------------------------- every format

@pytest.mark.parametrize("sample", [SIGNAL, TRANSPOSED, PROBLEMS / "upsample_1d.json"])
@pytest.mark.parametrize("fmt", ["table", "csv", "latex", "markdown", "json", "npz"])
def test_every_format_runs(tmp_path, sample, fmt):
    out = tmp_path / "out"
    args = ["backward", sample, "--format", fmt]
    if fmt in ("npz", "csv"):
        args += ["--output", out]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    if fmt == "npz":
        data = np.load(next(tmp_path.glob("out*")))
        assert len(data.files) > 0
    elif fmt != "csv":
        shown = result.stdout.replace("\\_", "_")  # LaTeX escapes the underscore
        assert re.search(r"(conv1d|conv_transpose2d|upsample)_1", shown)


def test_samples_are_listed():
    listing = invoke("samples").output
    assert "signal-conv1d" in listing and "transposed-conv" in listing


# --------------------------------------------------------------------------- explain

def _value_at(result: dict, path: str):
    head, _, index = path.partition("[")
    name, kind, *param = head.split(".")
    value = result[name][kind]
    if param:
        value = value[param[0]]
    if index:
        value = np.asarray(value)[tuple(int(i) for i in index.rstrip("]").split(","))]
    return value


EXPLAINED = [
    (TRANSPOSED, "conv_transpose2d_1.output[1,1]", 5),
    (TRANSPOSED, "conv_transpose2d_1.delta_in[0,1]", None),
    (TRANSPOSED, "conv_transpose2d_1.grads.kernel[1,1]", 4),
    (TRANSPOSED, "conv_transpose2d_1.grads.bias", None),
    (SIGNAL, "conv1d_1.output[0]", None),
    (SIGNAL, "conv1d_1.delta_in[1]", None),
    (SIGNAL, "conv1d_1.grads.kernel[1]", 4),
    (SIGNAL, "conv1d_1.grads.bias", None),
    (PROBLEMS / "convT_full.json", "conv_transpose2d_1.output[1,2,3,1]", None),
    (PROBLEMS / "convT_full.json", "conv_transpose2d_1.delta_in[1,0,2,3]", None),
    (PROBLEMS / "convT_full.json", "conv_transpose2d_1.grads.kernel[1,2,0,2]", None),
    (PROBLEMS / "convT_groups_dil.json", "conv_transpose2d_1.delta_in[0,3,1,2]", None),
    (PROBLEMS / "convT_nhwc.json", "conv_transpose2d_1.grads.kernel[2,1,3,0]", None),
    (PROBLEMS / "convT_nhwc.json", "conv_transpose2d_1.output[3,2,1]", None),
    (PROBLEMS / "conv1d_batched_groups.json", "conv1d_1.delta_in[1,2,0]", None),
    (PROBLEMS / "conv1d_batched_groups.json", "conv1d_1.grads.kernel[3,1,1]", None),
    (PROBLEMS / "conv1d_batched_groups.json", "avgpool1d_1.delta_in[0,1,8]", None),
    (PROBLEMS / "conv1d_batched_groups.json", "avgpool1d_1.output[0,1,5]", None),
    (PROBLEMS / "conv1d_channels.json", "maxpool1d_1.delta_in[2,4]", None),
    (PROBLEMS / "conv1d_channels.json", "conv1d_1.output[1,0]", None),
    (PROBLEMS / "conv1d_untied_bias_nhwc.json", "conv1d_1.grads.bias[3,1]", None),
    (PROBLEMS / "conv1d_untied_bias_nhwc.json", "conv1d_1.grads.kernel[1,0,2]", None),
    (PROBLEMS / "upsample_2d.json", "upsample_1.delta_in[1,2,0]", 6),
    (PROBLEMS / "upsample_1d.json", "upsample_1.output[1,4]", 1),
]


@pytest.mark.parametrize("problem, path, terms", EXPLAINED,
                         ids=[f"{p.stem}:{path}" for p, path, _ in EXPLAINED])
def test_explain_sum_equals_the_result(tmp_path, problem, path, terms):
    result = result_of(tmp_path, problem)
    trace = run(build_problem(json.loads(problem.read_text()), file=str(problem),
                              base_dir=problem.parent))
    explanation = explain(trace, path)
    assert close(explanation.total, _value_at(result, path))
    if terms is not None:
        assert explanation.term_count == terms
    assert invoke("explain", problem, path).exit_code == 0


def test_explain_transposed_conv_names_which_kernel_entry_meets_which_input():
    text = invoke("explain", TRANSPOSED, "conv_transpose2d_1.output[1,1]").output
    # output cell (1,1) collects w[2,2]·o[0,0], w[2,0]·o[0,1], w[0,2]·o[1,0], w[0,0]·o[1,1]
    for pair in ("w[2,2]↔o[0,0]", "w[2,0]↔o[0,1]", "w[0,2]↔o[1,0]", "w[0,0]↔o[1,1]"):
        assert pair in text


def test_explain_upsample_sums_the_block():
    text = invoke("explain", TRANSPOSED.parent.parent / "tests" / "v11_problems" /
                  "upsample_2d.json", "upsample_1.delta_in[0,1,1]").output
    # the note may wrap inside the panel: read it as one line of words
    words = " ".join(text.replace("│", " ").split())
    assert "the input delta is the block's sum" in words


# --------------------------------------------------------------------------- --show-steps

def test_show_steps_transposed_conv_is_a_convolution_over_the_zero_inserted_input():
    output = invoke("backward", TRANSPOSED, "--show-steps").output
    for caption in ("with zeros inserted: 1 between rows",
                    "padded by d·(k−1)−p (+output_padding): 1 top, 2 bottom, 1 left, 2 right",
                    "kernel rotated 180°", "dE/dZ", "(Z ⋆ δ) rotated 180°"):
        assert caption in output, caption


def test_show_steps_conv1d_and_pools():
    assert "rotated 180°" in invoke("backward", SIGNAL, "--show-steps").output
    output = invoke("backward", PROBLEMS / "conv1d_channels.json", "--show-steps").output
    assert "argmax mask" in output


def test_show_steps_of_a_1d_layer_speak_of_entries_and_show_vectors(tmp_path):
    # the steps are conv2d's on one-row maps: they said "0 between rows, 1 between columns
    # (stride 1×2)", "0 zero rows and 4 zero columns" and showed each vector as a 1-row grid
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({
        "input": [1, 3, 2, 5, 4, 0, 1, 2],
        "layers": [{"type": "conv1d", "kernel": [1, -1, 2], "dilation": 2, "padding": 1,
                    "stride": 2}, {"type": "maxpool1d", "size": 2}],
        "delta": [1]}))
    output = invoke("backward", problem, "--show-steps").output
    captions = [line.strip("│ ").rstrip() for line in output.splitlines()
                if re.match(r"│ \d+\. ", line)]
    assert "1. kernel dilated: 1 zero between taps (dilation 2)" in captions
    assert "4. δ with zeros inserted: 1 between entries (stride 2)" in captions
    assert ("5. δ padded for the full convolution: 4 zeros each side (+1 right: input that "
            "no window reaches)") in captions
    assert ("9. padded input o cropped to what the windows reach (−1 right: input that no "
            "window reaches)") in captions
    assert "11. dE/dw: every 2nd entry of it (dilation)" in captions
    assert not any(word in output for word in ("rows", "columns", "×"))
    # a step is a vector: its values on a line of their own, no row index before them
    lines = output.splitlines()
    kernel = lines.index(next(line for line in lines if "2. kernel rotated 180°" in line))
    assert lines[kernel + 3].split("│")[1].split() == ["2", "0", "-1", "0", "1"]
    mask = lines.index(next(line for line in lines if "2. argmax mask" in line))
    assert lines[mask + 3].split("│")[1].split() == ["1", "0", "0"]


TEXTBOOK = {
    "transposed sample": TRANSPOSED,
    "convT full": PROBLEMS / "convT_full.json",
    "convT groups dilation": PROBLEMS / "convT_groups_dil.json",
    "convT nhwc": PROBLEMS / "convT_nhwc.json",
    "convT padding crops": {"input": [[1, 2, 0], [3, -1, 2], [0, 1, 1]],
                            "layers": [{"type": "conv_transpose2d", "kernel": [[1, 2], [3, 4]],
                                        "stride": 2, "padding": 2}],
                            "delta": [[1, 0], [2, -1]]},
    "conv1d signal": SIGNAL,
    "conv1d groups reflect": PROBLEMS / "conv1d_batched_groups.json",
    "conv1d nhwc": PROBLEMS / "conv1d_nhwc.json",
    "conv1d flipped": {"input": [1, 2, 0, -1, 3], "layers": [
        {"type": "conv1d", "kernel": [1, 2, -1], "flip_kernel": True, "stride": 2,
         "dilation": 1, "padding": [1, 0]}], "delta": [1, -2]},
    "pools 1-D": PROBLEMS / "conv1d_channels.json",
    "pools 1-D nhwc, ceil mode": PROBLEMS / "conv1d_same_stride3_nhwc_pools.json",
    "conv1d flipped circular dilated": PROBLEMS / "conv1d_flip_circular_dil.json",
    "convT output_padding over the stride": PROBLEMS / "convT_output_padding_dilation.json",
    "convT crops, batched": PROBLEMS / "convT_padding_crops.json",
    "upsample": PROBLEMS / "upsample_2d.json",
}


@pytest.mark.parametrize("name", TEXTBOOK)
@pytest.mark.parametrize("exact_mode", [False, True])
def test_textbook_route_ends_at_the_engine_answer(name, exact_mode):
    doc = TEXTBOOK[name]
    base = Path(".")
    if isinstance(doc, Path):
        base, doc = doc.parent, json.loads(doc.read_text())
    if exact_mode and any(layer["type"] in ("tanh", "sigmoid") for layer in doc["layers"]):
        pytest.skip("not rational")
    trace = run(build_problem(doc, file="p.json", base_dir=base, exact=exact_mode))
    checked = 0
    for layer in trace.layers:
        textbook = layer_textbook(layer, trace.layout)
        if textbook is None:
            continue
        checked += 1
        assert textbook.delta_in.shape == layer.delta_in.shape
        if exact_mode:
            assert np.all(textbook.delta_in == layer.delta_in), layer.name
        assert close(textbook.delta_in.astype(float), layer.delta_in.astype(float)), layer.name
        for key, grad in textbook.grads.items():
            assert close(np.asarray(grad, dtype=float),
                         np.asarray(layer.grads[key], dtype=float)), (layer.name, key)
    assert checked


# --------------------------------------------------------------------------- gradcheck

@pytest.mark.parametrize("problem", [TRANSPOSED, SIGNAL, PROBLEMS / "convT_full.json",
                                     PROBLEMS / "convT_groups_dil.json",
                                     PROBLEMS / "conv1d_channels.json",
                                     PROBLEMS / "conv1d_batched_groups.json",
                                     PROBLEMS / "upsample_1d.json"], ids=lambda p: p.stem)
def test_gradcheck_passes(problem):
    report = gradcheck(build_problem(json.loads(problem.read_text()), file=str(problem),
                                     base_dir=problem.parent))
    assert report.ok


def test_gradcheck_names_a_maxpool1d_tie():
    doc = {"input": [1, 3, 3, 2, 0.5, 0.25],
           "layers": [{"type": "maxpool1d", "size": 3}], "loss": {"type": "mse",
                                                                  "target": [0, 1]}}
    report = gradcheck(problem_of(doc))
    (tie,) = [k for k in report.kinks if k.kind == "tie"]
    assert tie.layer == "maxpool1d_1" and tie.position == (0,) and tie.cells == ((1,), (2,))
    assert report.ok


# --------------------------------------------------------------------------- check's slips

def _check(tmp_path, doc, answers: dict, decimals: int = 6):
    return check_file(run(problem_of(doc)), str(write_answers(tmp_path, answers,
                                                              decimals=decimals)))


def test_slip_transposed_conv_kernel_not_flipped(tmp_path):
    doc = json.loads(TRANSPOSED.read_text())
    x = np.array(doc["input"], dtype=float)[None, None]
    w = np.array(doc["layers"][0]["kernel"], dtype=float)[None, None]
    delta = np.array(doc["delta"], dtype=float)[None, None]
    args = dict(stride=2, padding=1, output_padding=1)
    dx, _, _ = conv_transpose2d_backward(x, w[..., ::-1, ::-1].copy(), delta, **args)
    result = _check(tmp_path, doc, {"conv_transpose2d_1.delta_in": dx[0, 0]})
    assert "transposed_kernel_not_flipped" in diagnosed(result, "conv_transpose2d_1.delta_in")
    y = conv_transpose2d_forward(x, w[..., ::-1, ::-1].copy(), np.array([0.5]), **args)
    result = _check(tmp_path, doc, {"conv_transpose2d_1.output": y[0, 0]})
    assert "transposed_forward_not_flipped" in diagnosed(result, "conv_transpose2d_1.output")


def test_slip_conv1d_kernel_not_reversed(tmp_path):
    doc = {"input": [1, 2, 0, -1, 3], "layers": [{"type": "conv1d", "kernel": [1, 2, -1]}],
           "delta": [1, -2, 0.5]}
    x = np.array(doc["input"], dtype=float)[None, None]
    delta = np.array(doc["delta"], dtype=float)[None, None]
    dx, _, _ = conv1d_backward(x, np.array([[[-1.0, 2, 1]]]), delta)
    result = _check(tmp_path, doc, {"conv1d_1.delta_in": dx[0, 0]})
    assert "conv1d_kernel_not_reversed" in diagnosed(result, "conv1d_1.delta_in")


def test_settings_for_the_panel_header():
    from cnngrad.families import layer_family

    convt, = problem_of(json.loads(TRANSPOSED.read_text())).layers
    assert layer_family("conv_transpose2d").settings(convt) == [
        ("kernel", "3×3"), ("channels", "1 in, 1 out"), ("stride", "2"), ("padding", "1"),
        ("output padding", "1")]
    conv, _ = problem_of(json.loads(SIGNAL.read_text())).layers
    assert layer_family("conv1d").settings(conv) == [
        ("kernel", "3"), ("filters", "1"), ("stride", "2"), ("padding", "left 0, right 1")]
    pool, up = problem_of({"input": [1, 2, 3, 4], "layers": [
        {"type": "maxpool1d", "size": 2, "ties": "split"}, {"type": "upsample", "scale": 3}],
        "delta": [1] * 6}).layers
    assert layer_family("maxpool1d").settings(pool) == [
        ("window", "2"), ("stride", "2"), ("ties", "split")]
    assert layer_family("upsample").settings(up) == [("scale", "3"), ("mode", "nearest")]


def test_slip_conv1d_delta_not_dilated_for_the_stride(tmp_path):
    # stride 2: δ_in[i·2 + m] += w[m]·δ[i]; the slip puts δ[i] at i + m instead
    doc = {"input": [1, 2, 0, -1, 3], "layers": [{"type": "conv1d", "kernel": [1, 2],
                                                  "stride": 2}],
           "delta": [1, -2]}
    result = _check(tmp_path, doc, {"conv1d_1.delta_in": [1, 2 - 2, -4, 0, 0]})
    assert "conv1d_delta_not_dilated" in diagnosed(result, "conv1d_1.delta_in")


def test_slip_conv1d_padding_sides_swapped(tmp_path):
    # "same" at stride 2 over 8 cells, kernel 3: one cell of padding, on the right by
    # TensorFlow's rule; put on the left, every output moves by one cell
    doc = {"input": [1, 2, 0, -1, 3, 1, 2, 0], "layers": [
        {"type": "conv1d", "kernel": [0.5, 1, -0.5], "stride": 2, "padding": "same"}],
        "delta": [1, 1, 1, 1]}
    x = np.array([0] + doc["input"], dtype=float)  # the padding on the left
    left = [float(np.dot(x[i * 2:i * 2 + 3], [0.5, 1, -0.5])) for i in range(4)]
    result = _check(tmp_path, doc, {"conv1d_1.output": left})
    assert "conv1d_padding_sides_swapped" in diagnosed(result, "conv1d_1.output")


def test_check_cli_names_the_unflipped_transposed_kernel(tmp_path):
    answers = tmp_path / "answers.json"
    # δ_in with the kernel rotated 180°: w'[m,n] = w[2−m, 2−n]
    answers.write_text(json.dumps({"conv_transpose2d_1.delta_in": [[-1.5, 0.5], [2, -1]]}))
    result = invoke("check", TRANSPOSED, answers)
    assert result.exit_code == 1
    assert "kernel rotated 180° (δ correlated with the flipped kernel)" in \
        " ".join(result.output.split())


def test_slip_conv1d_untied_bias_summed(tmp_path):
    untied = {"input": [1, 2, 0, -1], "layers": [{"type": "conv1d", "kernel": [1, 2],
                                                 "bias": [[0, 0, 0]]}],
              "delta": [1, -2, 0.5]}
    result = _check(tmp_path, untied, {"conv1d_1.grads.bias": [[-0.5, -0.5, -0.5]]})
    assert "conv1d_bias_summed" in diagnosed(result, "conv1d_1.grads.bias")


def test_gradcheck_notes_a_ceil_mode_window_past_the_input():
    # L = 5, size 2, stride 2, ceil_mode: window [2] starts at 4 and keeps 1 of its 2 cells
    doc = {"input": [1, 2, 3, 4, 5], "layers": [{"type": "avgpool1d", "size": 2,
                                                "ceil_mode": True}],
           "loss": {"type": "mse", "target": [0, 0, 0]}}
    report = gradcheck(problem_of(doc))
    (note,) = [k for k in report.kinks if k.kind == "ceil_overhang"]
    assert note.position == (2,) and "divides by 1, not 2" in note.meaning
    assert report.ok


def test_slip_conv1d_shared_bias_averaged(tmp_path):
    # np.mean for the sum over the 3 positions: delta [1, -2, 0.5] sums to -0.5
    shared = {"input": [1, 2, 0, -1], "layers": [{"type": "conv1d", "kernel": [1, 2],
                                                 "bias": 0}],
              "delta": [1, -2, 0.5]}
    result = _check(tmp_path, shared, {"conv1d_1.grads.bias": "-1/6"})
    assert "conv1d_bias_averaged" in diagnosed(result, "conv1d_1.grads.bias")
