"""--exact results checked against hand-worked fractions: every tensor a canonical "p/q" or
"p" string in JSON, and the same rationals in the csv, markdown and latex formats."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()

#: conv1d padded by 1 (its sixth output is −0.5 + 1/3 + 1/6, 0 only as written), a max pool
#: with ceil_mode whose two overlapping windows share a maximum, and an average pool whose
#: last window holds one cell (count_include_pad false); mean mse
ONE_D = {"input": [0.1, 0.2, "1/3", 0.3, -0.5, "2/3", 0.1],
         "layers": [{"type": "conv1d", "kernel": [1, "1/2"], "bias": "1/6", "padding": 1},
                    {"type": "maxpool1d", "size": 3, "stride": 2, "padding": 1,
                     "ties": "split", "ceil_mode": True},
                    {"type": "avgpool1d", "size": 2, "ceil_mode": True,
                     "count_include_pad": False}],
         "loss": {"type": "mse", "target": [0.1, "1/7", 0], "reduction": "mean"}}

# worked by hand: y = (13/60, 11/30, 8/15, 13/20, 13/60, 0, 53/60, 4/15); the pool's
# windows [-1..1], [1..3], [3..5], [5..7], [7..9] give 11/30, 13/20, 13/20, 53/60, 4/15;
# the averages (11/30 + 13/20)/2, (13/20 + 53/60)/2, 4/15; dE/dy = 2(y − t)/3
EXPECTED = {
    "loss": "147467/705600",
    "conv1d_1.output": ["13/60", "11/30", "8/15", "13/20", "13/60", "0", "53/60", "4/15"],
    "maxpool1d_1.output": ["11/30", "13/20", "13/20", "53/60", "4/15"],
    "avgpool1d_1.output": ["61/120", "23/30", "4/15"],
    "avgpool1d_1.delta_out": ["49/180", "131/315", "8/45"],
    "avgpool1d_1.delta_in": ["49/360", "49/360", "131/630", "131/630", "8/45"],
    # cell 3 is the maximum of two windows: both deltas add up there
    "maxpool1d_1.delta_in": ["0", "49/360", "0", "289/840", "0", "0", "131/630", "8/45"],
    "conv1d_1.grads.bias": "1091/1260",
}


def run(tmp_path, fmt, *options):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(ONE_D))
    result = runner.invoke(app, ["backward", str(path), "--exact", "--format", fmt, *options])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def at(doc: dict, path: str):
    if path == "loss":
        return doc["loss"]
    name, *keys = path.split(".")
    node = next(layer for layer in doc["layers"] if layer["name"] == name)
    for key in keys:
        node = node[key]
    return node


def test_one_dimensional_pools_in_exact_arithmetic(tmp_path):
    doc = json.loads(run(tmp_path, "json"))
    for path, expected in EXPECTED.items():
        assert at(doc, path) == expected, path
    # the input delta from the pool's, through the kernel (1, 1/2), the padding cut off
    pool_in = [Fraction(v) for v in EXPECTED["maxpool1d_1.delta_in"]]
    by_hand = [pool_in[i + 1] + pool_in[i] / 2 for i in range(7)]
    assert at(doc, "conv1d_1.delta_in") == [str(v) for v in by_hand]


def test_lr_update_is_exact_and_canonical(tmp_path):
    doc = json.loads(run(tmp_path, "json", "--lr", "1/3"))
    bias = Fraction(1, 6) - Fraction(1, 3) * Fraction(EXPECTED["conv1d_1.grads.bias"])
    assert at(doc, "conv1d_1.updated.bias") == str(bias) == "-461/3780"  # 630/3780 − 1091/3780


def test_every_text_format_writes_the_same_rationals(tmp_path):
    truth = json.loads(run(tmp_path, "json"))
    wanted = {path: [Fraction(v) for v in (value if isinstance(value, list) else [value])]
              for path, value in ((p, at(truth, p)) for p in EXPECTED)}
    csv = run(tmp_path, "csv")
    blocks = dict(re.findall(r"# (\S+)\n([^#]*)", csv))
    latex = run(tmp_path, "latex")
    markdown = run(tmp_path, "markdown")
    for path, values in wanted.items():
        assert [Fraction(v) for v in blocks[path].split(",")] == values, path
        shown = re.search(re.escape(path.replace("_", r"\_")) + r"\} = (.*?)\\\]", latex,
                          re.S).group(1)
        fractions = [Fraction(int(p), int(q)) * (-1 if sign else 1) if p else Fraction(whole)
                     for sign, p, q, whole in
                     re.findall(r"(-?)\\frac\{(\d+)\}\{(\d+)\}|(-?\d+)(?![\d}])", shown)]
        assert fractions == values, path
        if path != "loss":
            assert f"`{path}`" in markdown
    for value in ("289/840 ≈ 0.344048", "147467/705600"):
        assert value in markdown


@pytest.mark.parametrize("first, second, delta", [
    # the second layer reads only padding at stride 3: the first's delta_out is zeros the
    # engine never summed, and its number bias's gradient their sum
    ({"type": "conv2d", "kernel": [[1]], "bias": 0.5},
     {"type": "conv2d", "kernel": [[1]], "padding": [0, 0, 1, 1], "stride": [1, 3]}, [[1, 1]]),
    ({"type": "conv1d", "kernel": [1], "bias": 0.5},
     {"type": "conv1d", "kernel": [1], "padding": 1, "stride": 3}, [1, 1]),
])
def test_a_number_bias_gradient_of_structural_zeros_is_an_exact_zero(tmp_path, first, second,
                                                                     delta):
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, 2]] if first["type"] == "conv2d" else [1, 2],
                                   "layers": [first, second], "delta": delta}))
    result = runner.invoke(app, ["backward", str(problem), "--exact", "--format", "json"])
    assert result.exit_code == 0, result.output
    grads = json.loads(result.stdout)["layers"][0]["grads"]
    assert grads["bias"] == "0"  # a string like every exact value, not the number 0
    csv = runner.invoke(app, ["backward", str(problem), "--exact", "--format", "csv"]).stdout
    assert "# conv" in csv and "0.000000" not in csv
