"""Contract v1.1 plumbing: the layout (nhwc, 1-D problems), graphs (a layer's "input", add,
concat, the deltas of a shared output), "same" padding at any stride, a number as dense bias,
and what check, explain and gradcheck make of them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.network import run
from cnngrad.problem import Layout, build_problem
from cnngrad.teach.explain import explain
from cnngrad.teach.gradcheck import gradcheck

runner = CliRunner()
HERE = Path(__file__).parent


def solve(doc: dict, **kw):
    return run(build_problem(doc, file="t.json", base_dir=HERE, **kw))


def result(doc: dict, tmp_path, *args) -> dict:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    out = runner.invoke(app, ["backward", str(path), "--format", "json", *args])
    assert out.exit_code == 0, out.output
    return {layer["name"]: layer for layer in json.loads(out.stdout)["layers"]}


#: conv 1×1 (×2) → relu → add(relu, input), E = ½ Σ y²
RESIDUAL = {"input": [[1, -2], [0, 3]],
            "layers": [{"type": "conv2d", "kernel": [[2]], "name": "c"},
                       {"type": "relu", "name": "r"},
                       {"type": "add", "inputs": ["r", "input"]}],
            "loss": {"type": "mse", "target": [[0, 0], [0, 0]]}}


# --------------------------------------------------------------------------- the Layout


@pytest.mark.parametrize("rank, channels_last, spatial, internal, shown", [
    (2, False, 2, (1, 1, 3, 4), (3, 4)),
    (2, False, 2, (1, 2, 3, 4), (2, 3, 4)),
    (3, True, 2, (1, 2, 3, 4), (3, 4, 2)),
    (2, True, 2, (1, 1, 3, 4), (3, 4)),
    (3, True, 2, (1, 1, 3, 4), (3, 4, 1)),
    (4, True, 2, (5, 2, 3, 4), (5, 3, 4, 2)),
    (1, False, 1, (1, 1, 7), (7,)),
    (2, True, 1, (1, 3, 7), (7, 3)),
    (3, True, 1, (2, 3, 7), (2, 7, 3)),
    (3, True, 1, (2, 5), (2, 5)),
    (2, True, 1, (1, 5), (5,)),
])
def test_layout_shows_and_reads_back(rank, channels_last, spatial, internal, shown):
    layout = Layout(rank, channels_last=channels_last, spatial=spatial)
    array = np.arange(int(np.prod(internal))).reshape(internal)
    display = layout.to_display(array)
    assert display.shape == shown == layout.display_shape(internal)
    assert np.array_equal(layout.to_internal(display, internal), array)
    for index in np.ndindex(*internal):
        at = layout.display_index(internal, index)
        assert display[at] == array[index]
        assert layout.internal_index(internal, at) == index


def test_nhwc_input_is_read_channels_last():
    layout = Layout(3, channels_last=True)
    given = np.arange(12).reshape(2, 3, 2)  # H×W×C
    internal = layout.input_to_internal(given)
    assert internal.shape == (1, 2, 2, 3)
    assert internal[0, 1].tolist() == [[1, 3, 5], [7, 9, 11]]  # channel 1's map


# --------------------------------------------------------------------------- graphs, by hand


def test_residual_add_by_hand(tmp_path):
    # o = [[1,-2],[0,3]]; c = 2o; r = relu(c) = [[2,0],[0,6]]; y = r + o = [[3,-2],[0,9]]
    layers = result(RESIDUAL, tmp_path)
    assert layers["add_1"]["output"] == [[3, -2], [0, 9]]
    # dE/dy = y, handed unchanged to both inputs
    assert layers["add_1"]["delta_in"] == {"r": [[3, -2], [0, 9]], "input": [[3, -2], [0, 9]]}
    assert layers["r"]["delta_in"] == [[3, 0], [0, 9]]
    assert layers["c"]["delta_in"] == [[6, 0], [0, 18]]
    assert layers["c"]["grads"]["kernel"] == [[30]]  # 3·1 + 9·3


def test_the_input_delta_sums_both_branches():
    trace = solve(RESIDUAL)
    # through the conv branch [[6,0],[0,18]] plus the skip [[3,-2],[0,9]]
    assert trace.input_delta.reshape(2, 2).tolist() == [[9, -2], [0, 27]]


def test_a_shared_output_gets_the_sum_of_its_readers_deltas(tmp_path):
    doc = {"input": [[1, -1], [2, 0.5]],
           "layers": [{"type": "relu", "name": "a"},
                      {"type": "tanh", "name": "t", "input": "input"},
                      {"type": "leaky_relu", "name": "b", "input": "a", "slope": 0.5},
                      {"type": "add", "inputs": ["a", "b", "t"]}],
           "delta": [[1, 2], [3, 4]]}
    layers = result(doc, tmp_path)
    # a is read by b (slope 1 where a > 0, 0.5 at a = 0) and by the add (1)
    delta = np.array([[1, 2], [3, 4]])
    assert np.allclose(layers["a"]["delta_out"], delta * np.array([[2, 1.5], [2, 2]]))
    assert layers["add_1"]["delta_in"]["t"] == delta.tolist()


def test_an_input_named_twice_reports_one_summed_delta(tmp_path):
    doc = {"input": [[1, 2], [3, 4]],
           "layers": [{"type": "relu", "name": "a"}, {"type": "add", "inputs": ["a", "a"]}],
           "delta": [[1, 0], [0, 1]]}
    layers = result(doc, tmp_path)
    assert layers["add_1"]["output"] == [[2, 4], [6, 8]]
    assert layers["add_1"]["delta_in"] == {"a": [[2, 0], [0, 2]]}
    assert layers["a"]["delta_in"] == [[2, 0], [0, 2]]


def test_concat_stacks_channels_and_cuts_the_delta_back(tmp_path):
    doc = {"input": [[1, 2], [3, 4]],
           "layers": [{"type": "conv2d", "kernel": [[2]], "name": "c"},
                      {"type": "concat", "inputs": ["c", "input"]}],
           "delta": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}
    layers = result(doc, tmp_path)
    assert layers["concat_1"]["output"] == [[[2, 4], [6, 8]], [[1, 2], [3, 4]]]
    assert layers["concat_1"]["delta_in"] == {"c": [[1, 2], [3, 4]], "input": [[5, 6], [7, 8]]}
    assert layers["c"]["grads"]["kernel"] == [[30]]  # 1·1 + 2·2 + 3·3 + 4·4


def test_concat_of_vectors_and_nhwc_maps(tmp_path):
    vectors = {"input": [[1, 2], [3, 4]],
               "layers": [{"type": "flatten", "name": "f"},
                          {"type": "dense", "weights": [[1, 0, 0, 1]], "name": "d1"},
                          {"type": "dense", "weights": [[0, 1, 1, 0], [1, 1, 1, 1]],
                           "input": "f", "name": "d2"},
                          {"type": "concat", "inputs": ["d2", "d1"]}],
               "delta": [1, 0, -1]}
    layers = result(vectors, tmp_path)
    assert layers["concat_1"]["output"] == [5, 10, 5]
    assert layers["concat_1"]["delta_in"] == {"d2": [1, 0], "d1": [-1]}
    maps = {"layout": "nhwc", "input": [[[1, 2], [3, 4]]],  # 1×2×2: H×W×C
            "layers": [{"type": "relu", "name": "r"},
                       {"type": "concat", "inputs": ["r", "input"]}],
            "delta": [[[1, 2, 3, 4], [5, 6, 7, 8]]]}
    layers = result(maps, tmp_path)
    assert layers["concat_1"]["output"] == [[[1, 2, 1, 2], [3, 4, 3, 4]]]
    assert layers["concat_1"]["delta_in"] == {"r": [[[1, 2], [5, 6]]], "input": [[[3, 4], [7, 8]]]}


# --------------------------------------------------------------------------- nhwc


def _nchw_twin(doc: dict) -> dict:
    """The same problem written channels-first (input N×H×W×C → N×C×H×W, HWIO → OIHW)."""
    twin = json.loads(json.dumps(doc))
    twin.pop("layout")
    twin["input"] = np.moveaxis(np.array(doc["input"]), -1, 1).tolist()
    for layer in twin["layers"]:
        if layer["type"] == "conv2d":
            layer["kernel"] = np.transpose(np.array(layer["kernel"]), (3, 2, 0, 1)).tolist()
    twin["delta"] = np.moveaxis(np.array(doc["delta"]), -1, 1).tolist()
    return twin


@pytest.mark.parametrize("seed", range(3))
def test_nhwc_is_the_nchw_result_transposed(seed, tmp_path):
    rng = np.random.default_rng(seed)
    doc = {"layout": "nhwc", "input": rng.normal(size=(2, 5, 4, 3)).round(3).tolist(),
           "layers": [{"type": "conv2d", "kernel": rng.normal(size=(3, 2, 3, 2)).tolist(),
                       "bias": [0.5, -1], "stride": 2, "padding": "same"},
                      {"type": "relu"}, {"type": "maxpool2d", "size": [1, 2]}],
           "delta": rng.normal(size=(2, 3, 1, 2)).tolist()}
    ours, theirs = result(doc, tmp_path), result(_nchw_twin(doc), tmp_path)
    for name in ours:
        for key in ("output", "delta_out", "delta_in"):
            assert np.allclose(np.moveaxis(np.array(ours[name][key]), -1, 1),
                               theirs[name][key]), (name, key)
    kernel = np.array(ours["conv2d_1"]["grads"]["kernel"])
    assert np.allclose(np.transpose(kernel, (3, 2, 0, 1)), theirs["conv2d_1"]["grads"]["kernel"])
    assert np.allclose(ours["conv2d_1"]["grads"]["bias"], theirs["conv2d_1"]["grads"]["bias"])


def test_nhwc_flatten_reads_the_channel_fastest(tmp_path):
    doc = {"layout": "nhwc", "input": [[[1, 10], [2, 20]], [[3, 30], [4, 40]]],  # 2×2×2
           "layers": [{"type": "flatten"}], "delta": [1, 2, 3, 4, 5, 6, 7, 8]}
    layers = result(doc, tmp_path)
    assert layers["flatten_1"]["output"] == [1, 10, 2, 20, 3, 30, 4, 40]
    assert layers["flatten_1"]["delta_in"] == [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]


def test_nhwc_three_d_kernels_and_untied_bias(tmp_path):
    # one input channel, k1×k2×F: two 1×1 filters; untied bias H'×W'×F
    doc = {"layout": "nhwc", "input": [[1, 2], [3, 4]],
           "layers": [{"type": "conv2d", "kernel": [[[1, -1]]],
                       "bias": [[[0, 10], [0, 20]], [[0, 30], [0, 40]]]}],
           "delta": [[[1, 0], [0, 1]], [[1, 1], [0, 0]]]}
    layers = result(doc, tmp_path)
    assert layers["conv2d_1"]["output"] == [[[1, 9], [2, 18]], [[3, 27], [4, 36]]]
    # filter 0 sees delta [[1,0],[1,0]] (1·1 + 1·3), filter 1 [[0,1],[1,0]] (1·2 + 1·3)
    assert layers["conv2d_1"]["grads"]["kernel"] == [[[4, 5]]]
    assert layers["conv2d_1"]["grads"]["bias"] == [[[1, 0], [0, 1]], [[1, 1], [0, 0]]]


def _stacked_csv_problem(tmp_path, layout: str, layers: list, delta, files: int = 3) -> Path:
    # 2×4 matrices meant as the channels of an image
    for channel in range(files):
        np.savetxt(tmp_path / f"c{channel}.csv", np.arange(8).reshape(2, 4) + channel,
                   delimiter=",", fmt="%d")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"layout": layout, "input": {
        "csv": [f"c{channel}.csv" for channel in range(files)]}, "layers": layers,
        "delta": delta}))
    return path


@pytest.mark.parametrize("layers, delta, error", [
    # as channels the kernel fits (and the delta, 2×4, is the next error)
    ([{"type": "conv2d", "kernel": np.ones((1, 1, 3)).tolist()}], np.ones((2, 4)).tolist(),
     "layers[0].kernel: a 3-D kernel over a 4-channel input must be k1×k2×4 (one filter), "
     "got 1×1×3"),
    ([{"type": "relu"}], np.ones((2, 4, 3)).tolist(), "delta: expected shape 3×2×4"),
])
def test_nhwc_csv_files_meant_as_channels_get_a_hint(tmp_path, layers, delta, error):
    # the list is stacked on a new first axis (the contract's rule), which nhwc reads as rows
    path = _stacked_csv_problem(tmp_path, "nhwc", layers, delta)
    outcome = runner.invoke(app, ["backward", str(path)])
    assert outcome.exit_code == 2
    line, hint = outcome.output.strip().split("; hint: ", 1)
    assert error in line
    assert hint.startswith("the input's 3 CSV files are stacked on a new first axis, which "
                           '"nhwc" reads as rows (3×2×4: 4 channels): for 3 channels give '
                           "the input 2×4×3 (H×W×C) as nested lists or .npy")
    # read channels first, the same files are the image's channels
    path = _stacked_csv_problem(tmp_path, "nchw", [{"type": "relu"}], np.ones((3, 2, 4)).tolist())
    assert runner.invoke(app, ["backward", str(path)]).exit_code == 0


@pytest.mark.parametrize("delta_csv, layers", [
    # as channels the kernel fits and the next error is in the delta's file: still past it
    ("1,1,1,1\n1,1,1\n", None),
    # a delta file read only when the files are channels is not blamed for decimal commas
    ("0,25,0,13\n0,75,1,05\n", None),
    # relu_1 read by no layer is found after every layer, past layers[1]
    ("1,1,1,1\n1,1,1,1\n", [{"type": "relu"}, {"type": "conv2d", "input": "input",
                                                  "kernel": [[[1, 1, 1]]]}]),
])
def test_the_stacking_hint_follows_how_far_the_checks_get(tmp_path, delta_csv, layers):
    layers = layers or [{"type": "conv2d", "kernel": [[[1, 1, 1]]]}]
    path = _stacked_csv_problem(tmp_path, "nhwc", layers, {"csv": "d.csv"})
    (tmp_path / "d.csv").write_text(delta_csv)
    outcome = runner.invoke(app, ["backward", str(path)])
    assert outcome.exit_code == 2
    line, hint = outcome.output.strip().split("; hint: ", 1)
    assert "kernel over a 4-channel input" in line
    assert hint.startswith("the input's 3 CSV files are stacked"), hint
    assert "decimal commas" not in hint


def test_the_stacking_hint_counts_a_value_error_in_the_same_layer_as_further(tmp_path):
    # the mask has the channels shape: read as rows its shape is wrong; read as channels
    # the shape is right and its 2 is the next error, in the same layer
    mask = np.ones((2, 4, 3))
    mask[0, 0, 0] = 2
    np.save(tmp_path / "m.npy", mask)
    path = _stacked_csv_problem(tmp_path, "nhwc", [
        {"type": "dropout", "p": 0.5, "mask": {"npy": "m.npy"}}], np.ones((2, 4, 3)).tolist())
    outcome = runner.invoke(app, ["backward", str(path)])
    assert outcome.exit_code == 2
    line, hint = outcome.output.strip().split("; hint: ", 1)
    assert "layers[0].mask: expected shape 3×2×4" in line
    assert hint.startswith("the input's 3 CSV files are stacked"), hint


def test_one_nhwc_csv_file_in_a_list_is_told_to_stand_alone(tmp_path):
    path = _stacked_csv_problem(tmp_path, "nhwc", [{"type": "relu"}], np.ones((2, 4)).tolist(),
                                files=1)
    outcome = runner.invoke(app, ["backward", str(path)])
    assert outcome.exit_code == 2
    assert outcome.output.strip().endswith(
        "; hint: the input's list of one CSV file makes a new first axis, which \"nhwc\" reads as "
        "rows (1×2×4: 4 channels): for one channel give the file alone, {\"csv\": \"c0.csv\"}")


@pytest.mark.parametrize("layers, delta, error", [
    # the flattened size is 24 either way
    ([{"type": "flatten"}, {"type": "dense", "weights": np.ones((2, 23)).tolist()}], [1, 1],
     "input vector has 24"),
    ([{"type": "conv2d", "kernel": np.ones((1, 1, 4)).tolist()},
      {"type": "conv1d", "kernel": [1]}], np.ones((3, 2)).tolist(), "conv1d works on 1-D maps"),
    # as channels the delta is wrong all the same
    ([{"type": "relu"}], np.ones((2, 4, 2)).tolist(), "expected shape 3×2×4"),
])
def test_an_error_the_files_as_channels_would_not_mend_gets_no_stacking_hint(tmp_path, layers,
                                                                            delta, error):
    path = _stacked_csv_problem(tmp_path, "nhwc", layers, delta)
    outcome = runner.invoke(app, ["backward", str(path)])
    assert outcome.exit_code == 2 and error in outcome.output
    assert "stacked" not in outcome.output


def test_a_one_d_nhwc_input_of_csv_files_is_a_batch_without_a_hint(tmp_path):
    # in a 1-D problem the new first axis is the batch in both layouts: no rows to mistake
    path = _stacked_csv_problem(tmp_path, "nhwc", [{"type": "maxpool1d", "size": 2}],
                                np.ones((3, 1, 3)).tolist())
    outcome = runner.invoke(app, ["backward", str(path)])
    assert outcome.exit_code == 2 and "expected shape 3×1×4" in outcome.output
    assert "stacked" not in outcome.output


# --------------------------------------------------------------------------- same padding, dense


@pytest.mark.parametrize("size, kernel, stride, dilation, pads", [
    ((7, 6), 3, 2, 1, [1, 1, 0, 1]),   # rows: (4−1)·2 + 3 − 7 = 2; cols (3−1)·2 + 3 − 6 = 1
    ((9, 9), 3, 3, 2, [1, 1, 1, 1]),   # (3−1)·3 + 2·2 + 1 − 9 = 2
    ((5, 5), 2, 2, 1, [0, 1, 0, 1]),
    ((4, 4), 1, 3, 1, [0, 0, 0, 0]),
])
def test_same_padding_at_any_stride_is_tensorflows(size, kernel, stride, dilation, pads, tmp_path):
    from cnngrad.layers._common import same_padding

    expected = [*same_padding(size[0], kernel, stride, dilation),
                *same_padding(size[1], kernel, stride, dilation)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=size).round(2).tolist()
    w = rng.normal(size=(kernel, kernel)).round(2).tolist()
    out = (-(-size[0] // stride), -(-size[1] // stride))
    delta = rng.normal(size=out).round(2).tolist()
    same = {"input": x, "kernel": w, "stride": stride, "dilation": dilation, "padding": "same",
            "delta": delta}
    spec = build_problem(same, file="t.json", base_dir=HERE).layers[0]
    assert list(spec.padding) == expected == pads
    explicit = dict(same, padding=expected)
    assert result(same, tmp_path) == result(explicit, tmp_path)


def test_dense_number_bias_is_shared_and_its_gradient_is_the_delta_sum(tmp_path):
    doc = {"input": [[[[1, 2]]], [[[3, 4]]]],
           "layers": [{"type": "flatten"},
                      {"type": "dense", "weights": [[1, 0], [0, 1], [1, 1]], "bias": 0.5}],
           "delta": [[1, 2, 3], [4, 5, 6]]}
    layers = result(doc, tmp_path)
    assert layers["dense_1"]["output"] == [[1.5, 2.5, 3.5], [3.5, 4.5, 7.5]]
    assert layers["dense_1"]["grads"]["bias"] == 21
    explained = explain(solve(doc), "dense_1.grads.bias")
    assert explained.total == 21 and explained.term_count == 6


def test_cross_entropy_probabilities_within_1e_9_are_accepted():
    doc = {"input": [[1, 2]], "layers": [{"type": "flatten"}],
           "loss": {"type": "cross_entropy", "target": [0.3, 0.7 + 5e-10]}}
    assert solve(doc).loss > 0


# --------------------------------------------------------------------------- explain, check, gradcheck


def test_explain_a_shared_delta_out_sums_what_each_reader_sends_back():
    doc = {"input": [[1, 2], [3, 4]],
           "layers": [{"type": "conv2d", "kernel": [[1]], "name": "c"},
                      {"type": "relu", "name": "r"},
                      {"type": "add", "inputs": ["r", "c"]}],
           "delta": [[1, 2], [3, 4]]}
    trace = solve(doc)
    explained = explain(trace, "c.delta_out[1,0]")
    assert explained.total == 6  # r sends 3 back, the add sends 3
    assert "r.delta_in[1,0]" in explained.formula
    assert "add_1.delta_in.c[1,0]" in explained.formula
    assert explain(trace, "add_1.delta_in.r[0,1]").total == 2
    assert explain(trace, "add_1.output[1,1]").total == 8


def test_explain_concat_and_nhwc_indices():
    doc = {"layout": "nhwc", "input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],  # 2×2×2
           "layers": [{"type": "conv2d", "kernel": [[[[1], [1]]]], "name": "c"},  # 1×1×2×1
                      {"type": "concat", "inputs": ["input", "c"]}],
           "delta": [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]}
    trace = solve(doc)
    assert explain(trace, "concat_1.output[1,0,2]").total == 11  # c at row 1, col 0: 5 + 6
    assert explain(trace, "concat_1.delta_in.input[0,1,1]").total == 5
    assert explain(trace, "c.delta_in[1,1,0]").total == 12
    assert explain(trace, "c.grads.kernel[0,0,1,0]").total == trace.tensor("c.grads.kernel")[
        0, 0, 1, 0]


def test_check_names_the_skip_connections_forgotten_delta(tmp_path):
    doc = {"input": [[1, -2], [0, 3]],
           "layers": [{"type": "tanh", "name": "pre"},
                      {"type": "conv2d", "kernel": [[2]], "name": "c"},
                      {"type": "relu", "name": "r"},
                      {"type": "add", "inputs": ["r", "pre"]}],
           "loss": {"type": "mse", "target": [[0, 0], [0, 0]]}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    trace = solve(doc)
    # only the conv branch's delta reaches pre's output: add_1's share is forgotten
    wrong = trace.shown(trace.layers[0].delta_out - trace.layers[3].delta_in["pre"])
    (tmp_path / "a.json").write_text(json.dumps({"pre.delta_out": wrong.tolist()}))
    out = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json")])
    assert out.exit_code == 1, out.output
    # said of any output read by several layers, a skip connection the common case
    assert ("matches only the first reader's delta at an output read by several layers (a "
            "skip connection's delta forgotten)") in " ".join(out.output.split())


def test_gradcheck_covers_every_parameter_and_names_a_relu_kink_in_a_residual_branch():
    problem = build_problem(RESIDUAL, file="t.json", base_dir=HERE)
    report = gradcheck(problem)
    assert {check.target for check in report.tensors} == {"c.kernel", "input"}
    assert report.ok
    kinks = [kink for kink in report.kinks if kink.layer == "r"]
    assert kinks and kinks[0].kind == "relu_zero"
    assert "in a branch that add_1 joins" in kinks[0].meaning


@pytest.mark.parametrize("fmt", ["csv", "markdown", "latex", "table"])
def test_every_format_names_each_input_delta(fmt, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(RESIDUAL))
    out = runner.invoke(app, ["backward", str(path), "--format", fmt])
    assert out.exit_code == 0, out.output
    text = out.output.replace("\\_", "_")  # latex escapes the underscore
    assert "add_1.delta_in.r" in text or "dE/d(r)" in text, out.output
    assert "add_1.delta_in.input" in text or "dE/d(input)" in text


def test_check_names_the_nhwc_flatten_read_channel_first(tmp_path):
    doc = {"layout": "nhwc", "input": [[[1, -1], [2, 0.5]], [[0, 3], [-2, 1]]],  # 2×2×2
           "layers": [{"type": "flatten"},
                      {"type": "dense", "weights": [[1, 2, 3, 4, 5, 6, 7, 8]], "bias": 0}],
           "loss": {"type": "mse", "target": [1]}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    nchw = json.loads(json.dumps(doc))  # the same numbers read C×H×W: what the slip computes
    nchw["layout"] = "nchw"
    nchw["input"] = np.moveaxis(np.array(doc["input"]), -1, 0).tolist()
    wrong = solve(nchw).tensor("dense_1.grads.weights")
    assert not np.allclose(wrong, solve(doc).tensor("dense_1.grads.weights"))
    (tmp_path / "a.json").write_text(json.dumps({"dense_1.grads.weights": wrong.tolist()}))
    out = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json")])
    assert out.exit_code == 1, out.output
    assert "nhwc flatten read in channel-first order" in out.output


def test_layers_named_as_nn_sequential_names_them_and_loss_answer_to_their_paths(tmp_path):
    # the contract asks only for unique names other than "input": torch's "0", "1", ... and
    # a layer called "loss" are names like any other, in every command that reads paths
    import json as _json

    from typer.testing import CliRunner

    from cnngrad.cli import app

    problem = {"input": [[1, 2, 0], [0, -1, 3], [2, 1, 1]],
               "layers": [{"type": "conv2d", "kernel": [[1, 0], [0, -1]], "name": "0"},
                          {"type": "relu", "name": "loss"},
                          {"type": "add", "inputs": ["0", "loss"], "name": "1"}],
               "loss": {"type": "mse", "target": [[0, 1], [1, 0]]}}
    path = tmp_path / "p.json"
    path.write_text(_json.dumps(problem))
    runner = CliRunner()
    result = runner.invoke(app, ["backward", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = _json.loads(result.stdout)
    assert [layer["name"] for layer in doc["layers"]] == ["0", "loss", "1"]
    assert set(doc["layers"][2]["delta_in"]) == {"0", "loss"}
    kernel = doc["layers"][0]["grads"]["kernel"]
    explained = runner.invoke(app, ["explain", str(path), "0.grads.kernel[0,1]", "-f", "json"])
    assert explained.exit_code == 0, explained.output
    assert _json.loads(explained.stdout)["total"] == pytest.approx(kernel[0][1])
    explained = runner.invoke(app, ["explain", str(path), "loss", "-f", "json"])
    assert _json.loads(explained.stdout)["total"] == pytest.approx(doc["loss"])
    # answers as JSON keys and as a CSV of '# path' blocks
    answers = tmp_path / "a.json"
    answers.write_text(_json.dumps({"loss": doc["loss"], "0.grads.kernel": kernel,
                                    "1.delta_in.loss": doc["layers"][2]["delta_in"]["loss"]}))
    checked = runner.invoke(app, ["check", str(path), str(answers), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    blocks = tmp_path / "a.csv"
    rows = "\n".join(",".join(repr(v) for v in row) for row in kernel)
    blocks.write_text(f"# loss\n{doc['loss']!r}\n# 0.grads.kernel\n{rows}\n")
    checked = runner.invoke(app, ["check", str(path), str(blocks)])
    assert checked.exit_code == 0, checked.output
    assert "0.grads.kernel" in checked.stdout
