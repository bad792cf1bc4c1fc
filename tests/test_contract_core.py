"""Contract corners: the problem format, the result's shape and the one-line errors, each
checked through the real command on a small problem with hand-computed expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()


def _write(tmp_path, doc, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("lr", ["abc", "-1"])
@pytest.mark.parametrize("with_params", [False, True])
def test_bad_lr_is_one_error_line_even_without_parameters(tmp_path, lr, with_params):
    # a bad --lr is refused before the note that the problem has nothing to update
    layers = [{"type": "conv2d", "kernel": [[1]]}] if with_params else [{"type": "relu"}]
    path = _write(tmp_path, {"input": [[1, -2]], "layers": layers, "delta": [[1, 1]]})
    result = runner.invoke(app, ["backward", str(path), "--format", "json", "--lr", lr])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith("error: --lr: "), result.output
    assert len(lines) == 1, result.output


@pytest.mark.parametrize(("doc", "where", "key"), [
    ({"input": [[1, 2]], "layers": [{"typ": "relu"}], "delta": [[1, 1]]},
     "layers[0].typ", "typ"),
    ({"input": [[1, 2]], "layers": [{"tpye": "maxpool2d", "size": 1}], "delta": [[1, 1]]},
     "layers[0].tpye", "tpye"),
    ({"input": [[1, 2]], "layers": [{"relu": 1}], "delta": [[1, 1]]}, "layers[0]", None),
    ({"input": [[1, 2]], "layers": [{"size": 2, "ties": "split"}], "delta": [[1]]},
     "layers[0]", None),  # a maxpool2d without its type: 'ties' is a field, not a typo
    ({"input": [[1, 2]], "layers": [{"type": "relu"}],
      "loss": {"Type": "mse", "target": [[1, 1]]}}, "loss.Type", "Type"),
])
def test_a_misspelt_type_key_is_named(tmp_path, doc, where, key):
    # the contract: an unknown key is an error naming the key and the closest known one
    path = _write(tmp_path, doc)
    result = runner.invoke(app, ["backward", str(path), "--format", "json"])
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    first, _, hint = line.partition("; hint: ")
    assert first.startswith(f"error: {path}: {where}: "), result.output
    if key is None:
        assert "has no 'type'" in first
    else:
        assert f"unknown key '{key}'" in first
        assert hint == "did you mean 'type'?"


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_explain_the_nll_loss_of_one_sample(tmp_path, layout):
    # E = -y[t] for the one sample of an unbatched input; under nhwc this crashed
    path = _write(tmp_path, {"layout": layout, "input": [[0, 0], [0, 0]],
                             "layers": [{"type": "flatten"}, {"type": "log_softmax"}],
                             "loss": {"type": "nll", "target": 1}})
    result = runner.invoke(app, ["explain", str(path), "loss", "--format", "json"])
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert explained["formula"] == "E = -y[t]"
    # four equal logits: log_softmax gives -ln 4 everywhere, so E = ln 4
    assert explained["total"] == pytest.approx(1.3862943611198906, rel=1e-12)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_csv_list_stacks_along_a_new_first_axis_in_both_layouts(tmp_path, layout):
    (tmp_path / "a.csv").write_text("1,-2,3\n4,5,-6\n")
    (tmp_path / "b.csv").write_text("-1,2,0\n0,1,1\n")
    path = _write(tmp_path, {"layout": layout, "input": {"csv": ["a.csv", "b.csv"]},
                             "layers": [{"type": "relu"}],
                             "delta": [[[1, 1, 1], [1, 1, 1]], [[1, 1, 1], [1, 1, 1]]]})
    result = runner.invoke(app, ["backward", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    relu = json.loads(result.stdout)["layers"][0]
    assert relu["output"] == [[[1, 0, 3], [4, 5, 0]], [[0, 2, 0], [0, 1, 1]]]
    assert relu["delta_in"] == [[[1, 0, 1], [1, 1, 0]], [[0, 1, 0], [0, 1, 1]]]


# --------------------------------------------------------------------------- a vector input

#: Matt Mazur's "A Step by Step Backpropagation Example" (the bundled sample): two inputs, a
#: hidden layer of two sigmoids, two sigmoid outputs, ½Σ(t − y)²; his published numbers after
#: one step at η = ½
MAZUR = json.loads((Path(__file__).parents[1] / "samples" / "mlp-step-by-step.json")
                   .read_text(encoding="utf-8"))


def _result(tmp_path, doc, *options):
    result = runner.invoke(app, ["backward", str(_write(tmp_path, doc)), "--format", "json",
                                 *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_vector_input_feeds_a_network_with_no_map_layer(tmp_path):
    doc = _result(tmp_path, MAZUR, "--lr", "0.5")
    assert doc["loss"] == pytest.approx(0.298371109, abs=1e-9)
    hidden, _, out, _ = doc["layers"]
    assert sum(out["updated"]["weights"], []) == pytest.approx(
        [0.35891648, 0.408666186, 0.511301270, 0.561370121], abs=1e-8)
    assert sum(hidden["updated"]["weights"], []) == pytest.approx(
        [0.149780716, 0.19956143, 0.24975114, 0.29950229], abs=1e-8)
    # every vector as given: K, the input delta too
    assert [len(layer["output"]) for layer in doc["layers"]] == [2, 2, 2, 2]
    assert len(hidden["delta_in"]) == 2 and not isinstance(hidden["delta_in"][0], list)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_vector_input_means_what_one_row_flattened_means(tmp_path, layout):
    as_vector = _result(tmp_path, dict(MAZUR, layout=layout))
    as_row = _result(tmp_path, dict(MAZUR, layout=layout, input=[MAZUR["input"]],
                                    layers=[{"type": "flatten"}, *MAZUR["layers"]]))
    assert as_vector["loss"] == as_row["loss"]
    # the same layers after the row form's flatten: one index further on
    assert as_vector["layers"] == [dict(layer, index=layer["index"] - 1)
                                   for layer in as_row["layers"][1:]]
    assert as_row["layers"][0]["delta_in"] == [as_vector["layers"][0]["delta_in"]]


def test_a_vector_input_is_refused_where_a_layer_works_on_maps(tmp_path):
    doc = {"input": [1, 2, 3], "layers": [{"type": "conv1d", "kernel": [1]},
                                          {"type": "conv2d", "kernel": [[1]]}], "delta": [1]}
    for layers in ([{"type": "conv2d", "kernel": [[1]]}], [{"type": "maxpool2d", "size": 1}]):
        result = runner.invoke(app, ["backward", str(_write(tmp_path, dict(doc, layers=layers)))])
        assert result.exit_code == 2
        assert result.output.startswith(f"error: {tmp_path / 'p.json'}: input: expected a "
                                        f"tensor of rank 2 to 4, got rank 1 (3)")
    # the one-conv shorthand is a conv2d too
    result = runner.invoke(app, ["backward", str(_write(tmp_path, {
        "input": [1, 2, 3], "kernel": [[1]], "delta": [1, 1, 1]}))])
    assert result.exit_code == 2 and "rank 2 to 4" in result.output
