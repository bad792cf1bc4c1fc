"""The result side of the contract through the real command: parameters given in every accepted
shape come back, with their gradients, in that shape and with PyTorch's numbers; and
``--one-based`` numbers every index a format shows, so a CSV template made with it is read
back by ``check --one-based``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()


def _write(tmp_path, doc, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------- --one-based

# two channels of 2×2 (C×H×W): every map is a C×H×W tensor, shown a channel at a time
TWO_CHANNELS = {"input": [[[1, 2], [3, 4]], [[0, -1], [2, 1]]],
                "layers": [{"type": "relu"}],
                "delta": [[[1, 0], [0, 1]], [[2, 2], [-1, 1]]]}


def test_one_based_csv_names_each_channel_from_1(tmp_path):
    path = _write(tmp_path, TWO_CHANNELS)
    result = _invoke("backward", path, "--format", "csv", "--one-based", "--decimals", "0")
    assert result.exit_code == 0, result.output
    blocks = result.stdout.rstrip("\n").split("\n\n")
    assert blocks[:2] == ["# relu_1.output[1]\n1,2\n3,4", "# relu_1.output[2]\n0,0\n2,1"]
    # relu passes the delta where the input is positive: channel 2's -1 and 0 cells get 0
    assert "# relu_1.delta_in[2]\n0,0\n-1,1" in blocks


@pytest.mark.parametrize("one_based", [False, True])
def test_a_csv_template_is_read_back_with_the_same_numbering(tmp_path, one_based):
    # the contract: check --one-based reads an answers file's paths and CSV blocks from 1,
    # so backward --one-based must write them so
    path = _write(tmp_path, TWO_CHANNELS)
    flag = ["--one-based"] if one_based else []
    template = tmp_path / "answers.csv"
    made = _invoke("backward", path, "--format", "csv", "-o", template, *flag)
    assert made.exit_code == 0, made.output
    same = _invoke("check", path, template, *flag)
    assert same.exit_code == 0, same.output
    assert "cells right" in same.output
    other = _invoke("check", path, template, *([] if one_based else ["--one-based"]))
    assert other.exit_code == 2  # [2] is past a 2-channel tensor from 0, [0] is no index from 1


def test_one_based_markdown_numbers_captions_rows_and_columns(tmp_path):
    path = _write(tmp_path, TWO_CHANNELS)
    result = _invoke("forward", path, "--format", "markdown", "--one-based", "--decimals", "0")
    assert result.exit_code == 0, result.output
    assert ("**`relu_1.output[2]`**\n\n|   | 1 | 2 |\n|--:|--:|--:|\n"
            "| **1** | 0 | 0 |\n| **2** | 2 | 1 |") in result.stdout
    # the file says so, as the table's header does (a `[2]` is otherwise the third channel)
    assert result.stdout.startswith("# cnngrad forward · indices count from 1\n\n")
    plain = _invoke("forward", path, "--format", "markdown")
    assert plain.stdout.startswith("# cnngrad forward\n\n")


def test_one_based_latex_labels(tmp_path):
    path = _write(tmp_path, TWO_CHANNELS)
    result = _invoke("forward", path, "--format", "latex", "--one-based", "--decimals", "0")
    assert result.exit_code == 0, result.output
    assert r"\[ \text{relu\_1.output[1]} = \begin{bmatrix}" in result.stdout
    assert "output[0]" not in result.stdout
    assert result.stdout.startswith("% cnngrad forward · indices count from 1 (bmatrix needs ")
    plain = _invoke("forward", path, "--format", "latex")
    assert plain.stdout.startswith("% cnngrad forward (bmatrix needs ")


@pytest.mark.parametrize("form, first_line", [
    ("table", "cnngrad {command} · computed in float32 · indices count from 1"),
    ("markdown", "# cnngrad {command} · computed in float32 · indices count from 1"),
    ("latex", "% cnngrad {command} · computed in float32 · indices count from 1 (bmatrix"),
])
@pytest.mark.parametrize("command", ["backward", "forward"])
def test_a_float32_report_says_so_on_its_first_line(tmp_path, form, first_line, command):
    # float32's numbers at six decimals read as float64's: only the header tells them apart
    path = _write(tmp_path, TWO_CHANNELS)
    result = _invoke(command, path, "--format", form, "--dtype", "float32", "--one-based")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(first_line.format(command=command))
    for dtype in (["--dtype", "float64"], [], ["--exact"]):
        assert "computed in" not in _invoke(command, path, "--format", form, *dtype).stdout


@pytest.mark.parametrize("command", ["backward", "forward"])
def test_one_based_npz_holds_the_same_arrays(tmp_path, command):
    path = _write(tmp_path, TWO_CHANNELS)
    plain, counted = tmp_path / "plain.npz", tmp_path / "counted.npz"
    assert _invoke(command, path, "--format", "npz", "-o", plain).exit_code == 0
    result = _invoke(command, path, "--format", "npz", "-o", counted, "--one-based")
    assert result.exit_code == 0, result.output
    with np.load(plain) as a, np.load(counted) as b:
        assert sorted(a.files) == sorted(b.files) and a.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


# --------------------------------------------------------------------------- shapes vs torch


def _values(rng, shape):
    # six decimals: no exact kink (a ReLU input of 0, a tie) by accident
    return np.round(rng.uniform(-2, 2, size=shape), 6).tolist()


def _out_size(size, k, stride, dilation, before, after):
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def _conv_problem(seed: int, kind: str) -> dict:
    """A ``kind`` layer (conv2d, conv1d, conv_transpose2d) with its kernel and bias in one of
    the shapes the contract accepts, on an input of any accepted rank and either layout, then
    tanh (a delta that varies over positions) and global_avgpool (a vector loss target)."""
    rng = np.random.default_rng(seed)
    spatial = 1 if kind == "conv1d" else 2
    nhwc = bool(rng.integers(2))
    n, c = int(rng.choice([1, 2])), int(rng.choice([1, 2, 4]))
    sizes = [int(rng.integers(3, 7)) for _ in range(spatial)]
    # the input's rank: the batch axis only when N > 1 or by choice, no channel axis at C = 1
    ranks = [spatial + 2] if n > 1 else ([spatial, spatial + 1] if c == 1 else [spatial + 1])
    rank = int(rng.choice(ranks))
    internal = (n, c, *sizes)
    x = rng.uniform(-2, 2, size=internal)
    if nhwc:
        x = np.moveaxis(x, 1, -1)
    given = x.reshape(x.shape[1:] if rank == spatial + 1 else sizes) if rank < spatial + 2 else x
    groups = int(rng.choice([g for g in (1, 2) if c % g == 0]))
    filters = groups * int(rng.integers(1, 3))
    ks = [int(rng.integers(1, 4)) for _ in range(spatial)]
    stride = [int(rng.integers(1, 3)) for _ in range(spatial)]
    dilation = [int(rng.integers(1, 3)) for _ in range(spatial)]
    layer = {"type": kind, "groups": groups,
             "stride": stride if spatial == 2 else stride[0],
             "dilation": dilation if spatial == 2 else dilation[0]}
    if kind == "conv_transpose2d":
        pads = [int(rng.integers(0, 2)) for _ in range(2)]
        extra = [int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation)]
        layer.update(padding=pads, output_padding=extra)
        out = [(h - 1) * s - 2 * p + d * (k - 1) + e + 1
               for h, s, p, d, k, e in zip(sizes, stride, pads, dilation, ks, extra)]
        per_group = (c, filters // groups)  # torch's C_in×(F/groups)×k
    else:
        pads = [(int(rng.integers(0, 2)), int(rng.integers(0, 2))) for _ in range(spatial)]
        layer["padding"] = [p for pair in pads for p in pair]
        modes = ["zeros", "replicate", "circular"] + \
            (["reflect"] if all(max(p) < h for p, h in zip(pads, sizes)) else [])
        layer["padding_mode"] = str(rng.choice(modes))
        layer["flip_kernel"] = bool(rng.integers(2))
        out = [_out_size(h, k, s, d, *p)
               for h, k, s, d, p in zip(sizes, ks, stride, dilation, pads)]
        per_group = (filters, c // groups)  # F×(C_in/groups)×k
    if min(out) < 1:
        return {}
    forms = ["full"]
    if filters == 1 and c == 1:
        forms.append("bare")
    if groups == 1 and (c > 1) != (filters > 1):
        forms.append("one_axis")  # C_in×k (one filter) or F×k (one input channel)
    form = str(rng.choice(forms))
    if form == "bare":
        shape = tuple(ks)
    elif form == "one_axis":
        axis = c if c > 1 else filters
        shape = (*ks, axis) if nhwc else (axis, *ks)
    elif nhwc:  # TensorFlow's order: the two leading axes of the nchw form, swapped, last
        shape = (*ks, per_group[1], per_group[0])
    else:
        shape = (*per_group, *ks)
    layer["kernel"] = _values(rng, shape)
    biases = ["none", "vector"] + (["number"] if filters == 1 else [])
    if kind != "conv_transpose2d":
        biases.append("untied")
    bias = str(rng.choice(biases))
    if bias == "vector":
        layer["bias"] = _values(rng, (filters,))
    elif bias == "number":
        layer["bias"] = _values(rng, ())
    elif bias == "untied":
        layer["bias"] = _values(rng, (*out, filters) if nhwc else (filters, *out))
    doc = {"input": np.round(given, 6).tolist(),
           "layers": [layer, {"type": "tanh"}, {"type": "global_avgpool"}],
           "loss": {"type": "mse", "target": _values(rng, (n, filters) if rank == spatial + 2
                                                     else (filters,)),
                    "reduction": str(rng.choice(["half_sum", "sum", "mean"]))}}
    if nhwc:
        doc["layout"] = "nhwc"
    return doc


# the first 12 seeds per layer whose drawn settings leave an output
CASES = [(kind, seed) for kind in ("conv2d", "conv1d", "conv_transpose2d")
         for seed in [s for s in range(40) if _conv_problem(s, kind)][:12]]


@pytest.mark.parametrize(("kind", "seed"), CASES)
def test_parameters_in_every_accepted_shape_match_pytorch(tmp_path, kind, seed):
    pytest.importorskip("torch")  # the reference needs it
    import torch_oracle

    doc = _conv_problem(seed, kind)
    path = _write(tmp_path, doc)
    result = _invoke("backward", path, "--format", "json", "--lr", "0.5")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    differences = torch_oracle.compare(ours, torch_oracle.reference(path), rtol=1e-9, atol=1e-12)
    assert not differences, "\n".join(differences)
    conv = ours["layers"][0]
    for key, value in conv["grads"].items():
        given = np.asarray(doc["layers"][0][key], dtype=float)
        assert np.shape(value) == given.shape  # the shape the parameter was given in
        np.testing.assert_allclose(conv["updated"][key], given - 0.5 * np.asarray(value),
                                   rtol=1e-12, atol=1e-12)
