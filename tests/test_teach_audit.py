"""Regressions found auditing the teaching outputs (explain, --show-steps, gradcheck) on
random problems of every layer type."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()


def test_a_fortran_order_npy_is_read_in_its_own_order(tmp_path, monkeypatch):
    # np.save of a transposed array writes fortran_order: True; its 1.0 was compared with
    # another cell's 0 and called "too small (float64 rounds it to 0)"
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.asfortranarray([[1.0, 1.0], [0.0, 2.0]]))
    (tmp_path / "p.json").write_text(json.dumps(
        {"input": {"npy": "x.npy"}, "kernel": [[1]], "delta": [[1, 1], [1, 1]]}))
    result = runner.invoke(app, ["forward", "p.json", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output"] == [[1.0, 1.0], [0.0, 2.0]]


def _textbook(doc: dict):
    from pathlib import Path

    from cnngrad.network import run
    from cnngrad.problem import build_problem
    from cnngrad.teach.steps import layer_textbook
    from cnngrad.tensorio import load_json_document

    problem = build_problem(load_json_document(json.dumps(doc).encode(), "t.json"),
                            file="t.json", base_dir=Path("."), exact=True)
    trace = run(problem)
    return layer_textbook(trace.layers[0], trace.layout)


def test_conv_transpose_steps_say_the_input_delta_sums_the_output_channels():
    # one input channel, two output channels: δ_in is dE/dZ of both channels added at the
    # input's cells; the caption named one dE/dZ only
    doc = {"input": [[1, 2], [3, 4]],
           "layers": [{"type": "conv_transpose2d", "kernel": [[[1, 0], [2, 1]],
                                                              [[0, 1], [1, -1]]]}],
           "delta": [[[1, 0, 2], [0, 1, 0], [1, 1, 0]], [[0, 1, 0], [2, 0, 1], [0, 0, 1]]]}
    steps = dict(_textbook(doc).steps)
    caption = ("δ_in: dE/dZ where the input's cells sit (every entry), summed over the "
               "output channels")
    assert caption in steps
    dz = [m for c, m in _textbook(doc).steps if c.startswith("dE/dZ")]
    assert len(dz) == 2
    assert (steps[caption] == dz[0][1:3, 1:3] + dz[1][1:3, 1:3]).all()
    assert steps[caption].tolist() == [[5, 1], [3, 3]]


def test_conv_transpose_steps_end_with_the_kernel_gradient_summed_over_the_batch():
    # each sample's dE/dw was shown, never their sum (conv2d's steps show it)
    doc = {"input": [[[[1, 2]]], [[[3, -1]]]],
           "layers": [{"type": "conv_transpose2d", "kernel": [[1, 2]]}],
           "delta": [[[[1, 0, 2]]], [[[0, 1, 1]]]]}
    steps = _textbook(doc).steps
    assert [c for c, _ in steps if c.startswith("dE/dw")] == [
        "dE/dw [n=0] = (Z ⋆ δ) rotated 180°", "dE/dw [n=1] = (Z ⋆ δ) rotated 180°",
        "dE/dw: summed over the batch"]
    # dE/dw[m] = Σ_n Σ_j o[n,j]·δ[n,j+m]: [(1 + 0) + (0 - 1), (0 + 4) + (3 - 1)]
    assert dict(steps)["dE/dw: summed over the batch"].tolist() == [[0, 6]]


def test_steps_show_a_channels_last_map_one_grid_per_channel(tmp_path):
    # dropout's δ_in step is H×W×C under nhwc: its grids were cut along H and labelled c
    doc = {"layout": "nhwc", "input": [[[0, 0], [0, 0]], [[0, 0], [0, 0]]],
           "layers": [{"type": "dropout", "p": 0, "mask": [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]}],
           "delta": [[[1, 5], [2, 6]], [[3, 7], [4, 8]]]}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["backward", str(tmp_path / "p.json"), "--show-steps",
                                 "--decimals", "0"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    step = result.stdout.split("3. δ_in = δ·mask·1/(1 - p)")[1]
    rows = [" ".join(line.strip("│ ").split()) for line in step.splitlines()[1:6]]
    assert rows[:2] == ["[c=0] ┆ [c=1]", "0 1 ┆ 0 1"]
    assert rows[3:] == ["0 1 2 ┆ 0 5 6", "1 3 4 ┆ 1 7 8"]


def test_conv_transpose_input_delta_formula_names_the_groups_output_channels(tmp_path):
    # groups 2, two filters a group: input channel 1 feeds output channels 2 and 3, which the
    # terms used (δ[2,…], δ[3,…]) while the formula said δ[f,…]
    doc = {"input": [[[1]], [[2]]],
           "layers": [{"type": "conv_transpose2d", "groups": 2,
                       "kernel": [[[[1]], [[2]]], [[[3]], [[4]]]]}],
           "delta": [[[1]], [[2]], [[3]], [[4]]]}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    for args, formula, symbols in [
            (["conv_transpose2d_1.delta_in[1,0,0]"],
             "dE/do[1,0,0] = Σ_f Σ_m Σ_n δ[f+2,m,n]·w[1,f,m,n]",
             [["δ[2,0,0]", "w[1,0,0,0]"], ["δ[3,0,0]", "w[1,1,0,0]"]]),
            (["conv_transpose2d_1.delta_in[2,1,1]", "--one-based"],
             "dE/do[2,1,1] = Σ_f Σ_m Σ_n δ[f+2,m,n]·w[2,f,m,n]",
             [["δ[3,1,1]", "w[2,1,1,1]"], ["δ[4,1,1]", "w[2,2,1,1]"]]),
            (["conv_transpose2d_1.delta_in[0,0,0]"],
             "dE/do[0,0,0] = Σ_f Σ_m Σ_n δ[f,m,n]·w[0,f,m,n]",
             [["δ[0,0,0]", "w[0,0,0,0]"], ["δ[1,0,0]", "w[0,1,0,0]"]])]:
        result = runner.invoke(app, ["explain", str(tmp_path / "p.json"), *args, "-f", "json"])
        assert result.exit_code == 0, result.output
        explained = json.loads(result.stdout)
        assert explained["formula"] == formula
        assert [[f["symbol"] for f in t["factors"]] for t in explained["terms"]] == symbols


def test_one_based_steps_count_their_captions_from_one(tmp_path):
    # the grids of --one-based steps counted from 1 ([n=1]), their captions from 0 (δ [n=0])
    doc = {"input": [[[[1, 2], [3, 4]]], [[[0, 1], [1, 0]]]],
           "layers": [{"type": "conv2d", "kernel": [[[[1]]], [[[2]]]]}],
           "delta": [[[[1, 0], [0, 1]], [[1, 1], [0, 0]]], [[[0, 0], [1, 1]], [[1, 0], [1, 0]]]]}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    captions = {}
    for base, flag in ((0, []), (1, ["--one-based"])):
        result = runner.invoke(app, ["backward", str(tmp_path / "p.json"), "--show-steps",
                                     *flag], env={"COLUMNS": "120"})
        assert result.exit_code == 0, result.output
        captions[base] = [line.strip("│ ") for line in result.stdout.splitlines()
                          if ": dE/d(output)" in line or "kernel rotated 180° [" in line]
    assert captions[0] == ["1. kernel rotated 180° [f=0]", "2. kernel rotated 180° [f=1]",
                           "3. δ [n=0, f=0]: dE/d(output)", "6. δ [n=0, f=1]: dE/d(output)",
                           "10. δ [n=1, f=0]: dE/d(output)", "13. δ [n=1, f=1]: dE/d(output)"]
    assert captions[1] == ["1. kernel rotated 180° [f=1]", "2. kernel rotated 180° [f=2]",
                           "3. δ [n=1, f=1]: dE/d(output)", "6. δ [n=1, f=2]: dE/d(output)",
                           "10. δ [n=2, f=1]: dE/d(output)", "13. δ [n=2, f=2]: dE/d(output)"]


def test_one_based_caption_of_a_transposed_conv_output_channel():
    from cnngrad.render.tables import caption_counted_from

    caption = "Z [n=0, c=1] ⋆ rotated kernel: output channel 2's part (no bias)"
    assert caption_counted_from(caption, 0) == caption
    assert caption_counted_from(caption, 1) == ("Z [n=1, c=2] ⋆ rotated kernel: output "
                                                "channel 3's part (no bias)")
