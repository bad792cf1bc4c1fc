"""Contract corners: the problem format, the result's shape and the one-line errors, each
checked through the real command on a small problem with hand-computed expectations."""

from __future__ import annotations

import json

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
