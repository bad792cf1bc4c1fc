"""Contract v1.1 meets the tables, the work budgets, keys-first reading and grading: graphs,
1-D problems and the new layer types through what every layer type goes through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.families import LAYERS, layer_family
from cnngrad.limits import check_problem_work, check_steps_work, layer_work
from cnngrad.network import run
from cnngrad.problem import build_problem, load_problem
from cnngrad.teach.check import check_file
from cnngrad.teach.grading import parse_grading, resolve_tolerance

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PROBLEMS = ROOT / "tests" / "v11_problems"

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def write(folder: Path, doc, name: str = "p.json") -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def one_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    line = result.stderr.splitlines()[0]
    for fragment in fragments:
        assert fragment in line, line
    return line


#: c reads the input, r reads c, a adds r and c: c's output is read twice
SHARED = {"input": [[1]], "delta": [[1]],
          "layers": [{"type": "conv2d", "name": "c", "kernel": [[2]]},
                     {"type": "relu", "name": "r", "input": "c"},
                     {"type": "add", "name": "a", "inputs": ["r", "c"]}]}


# --------------------------------------------------------------------------- work budgets


@pytest.mark.parametrize("problem", sorted(p.name for p in PROBLEMS.glob("*.json")))
def test_every_v11_problem_has_a_work_estimate_and_steps_within_the_budget(problem):
    spec = load_problem(str(PROBLEMS / problem))
    for layer in spec.layers:
        units, what = layer_work(layer)
        assert units > 0 and what
    check_problem_work(spec)
    check_steps_work(spec)


def test_a_transposed_conv_is_budgeted_by_its_inputs_times_its_kernel():
    spec = load_problem(str(SAMPLES / "transposed-conv.json"))
    layer = spec.layers[0]
    units, what = layer_work(layer)
    cells = int(np.prod(layer.weight.shape[1:]))
    assert units == 3 * int(np.prod(layer.in_shape)) * cells
    assert what.endswith(f"× {cells:,} kernel cells")


def test_show_steps_of_a_transposed_conv_is_drawn_and_budgeted(tmp_path):
    assert "kernel rotated 180°" in invoke("backward", SAMPLES / "transposed-conv.json",
                                           "--show-steps").output
    result = invoke("backward", SAMPLES / "transposed-conv.json", "--show-steps",
                    env={"CNNGRAD_MAX_WORK": "1e6"})
    one_error(result, "--show-steps", "too many to draw")


def test_a_huge_1d_pool_window_is_refused_by_its_family_s_window(tmp_path):
    doc = {"input": [[0.0] * 4], "delta": [[1]],
           "layers": [{"type": "maxpool1d", "size": 4}]}
    assert layer_family("maxpool1d").window(build_problem(
        doc, file="p.json", base_dir=tmp_path).layers[0]) == (4,)
    result = invoke("backward", write(tmp_path, doc), env={"CNNGRAD_MAX_WORK": "1"})
    one_error(result, ": layers[0].size: ", "the 4-wide window of maxpool1d_1 holds 4 cells")


def test_a_big_conv1d_is_refused_before_it_runs(tmp_path):
    doc = {"input": [[0.5] * 200], "layers": [{"type": "conv1d", "kernel": [[1.0] * 50]}],
           "delta": [[1.0] * 151]}
    one_error(invoke("backward", write(tmp_path, doc), env={"CNNGRAD_MAX_WORK": "1e4"}),
              "conv1d_1", "151 outputs × 50 kernel cells")


def test_every_layer_family_answers_the_budget_questions():
    for kind in LAYERS:
        family = layer_family(kind)
        assert callable(family.work) and callable(family.window)
        assert callable(family.steps_cells)


# --------------------------------------------------------------------------- keys first


def test_a_big_graph_problem_s_input_key_is_no_unknown_key(tmp_path, monkeypatch):
    import cnngrad.cli.common as common

    monkeypatch.setattr(common, "KEYS_FIRST_BYTES", 0)  # as if the file were 200 MB
    assert invoke("backward", write(tmp_path, SHARED)).exit_code == 0
    typo = dict(SHARED, layers=[*SHARED["layers"][:2],
                                {"type": "add", "name": "a", "inputz": ["r", "c"]}])
    one_error(invoke("backward", write(tmp_path, typo)), "layers[2].inputz: unknown key")


# --------------------------------------------------------------------------- tables


def test_the_panel_header_of_a_graph_names_what_a_layer_reads(tmp_path):
    text = invoke("backward", write(tmp_path, SHARED)).output
    assert "inputs r, c · input 1×1, 1×1 → output 1×1" in text  # add: the family names them
    assert "│ input 1×1 → output 1×1" in text  # r reads c, the previous layer: a chain's header
    assert "δ in = dE/d(r)  (input delta to r)" in text
    # s1 reads c1, not r1 before it: its header names what it reads
    shared = invoke("backward", PROBLEMS / "shared_output_two_readers.json").output
    assert "│ input c1 3×3 → output 3×3" in shared
    assert "δ in = dE/d(c)  (input delta to c)" in text


def test_one_based_nhwc_tables_count_channels_rows_and_columns_from_1():
    zero = invoke("backward", PROBLEMS / "nhwc_same_stride2.json").output
    one = invoke("backward", PROBLEMS / "nhwc_same_stride2.json", "--one-based").output
    # the maps shown channel by channel (1×4×3×2 as [n, c] grids of 4×3)
    assert "[n=0, c=0]" in zero and "[n=0, c=1]" in zero and "[n=1, c=1]" not in zero
    assert "[n=1, c=1]" in one and "[n=1, c=2]" in one and "c=0" not in one
    assert "indices count from 1" in one


def test_one_based_explain_of_an_nhwc_cell_is_the_zero_based_one_shifted():
    path = PROBLEMS / "nhwc_same_stride2.json"
    zero = invoke("explain", path, "conv2d_1.output[0,1,0,1]", "-f", "text").output
    one = invoke("explain", path, "conv2d_1.output[1,2,1,2]", "--one-based", "-f", "text")
    assert one.exit_code == 0, one.output
    assert zero.splitlines()[-1].split("=")[1] == one.output.splitlines()[-1].split("=")[1]
    assert "w[3,1,2,2]·o[1,4,1,2]" in one.output and "w[2,0,1,1]·o[0,3,0,1]" in zero


# --------------------------------------------------------------------------- carried forward


def _graded(tmp_path, answers: dict):
    problem = write(tmp_path, dict(SHARED, grading={"carry_forward": True}))
    path = write(tmp_path, answers, "a.json")
    spec = load_problem(str(problem))
    grading = parse_grading(spec.grading)
    result = check_file(run(spec), str(path), resolve_tolerance(grading), grading=grading)
    return {check.path: check for check in result.tensors}


def test_a_wrong_output_carries_forward_through_a_layer_that_reads_it_by_name(tmp_path):
    # c written 3 (true 2): r = relu(3) = 3 and a = r + c = 6 follow from it
    checks = _graded(tmp_path, {"c.output": [[3]], "a.output": [[6]]})
    assert not checks["c.output"].carried.any()
    a = checks["a.output"]
    assert a.carried.all() and a.carried_from == ("c.output",)
    assert float(a.truth[0, 0]) == 4.0 and float(a.implied[0, 0]) == 6.0


def test_a_shared_output_s_delta_carries_forward_as_the_sum_of_its_readers(tmp_path):
    # a sends 1 to r and 1 to c; written 0.5 to r: c's delta is 0.5 (through r) + 1 = 1.5
    checks = _graded(tmp_path, {"a.delta_in.r": [[0.5]], "a.delta_in.c": [[1]],
                                "c.delta_out": [[1.5]], "c.grads.kernel": [[1.5]]})
    assert checks["a.delta_in.c"].all_right and not checks["a.delta_in.r"].all_right
    delta = checks["c.delta_out"]
    assert float(delta.truth[0, 0]) == 2.0 and float(delta.implied[0, 0]) == 1.5
    assert delta.carried.all() and delta.carried_from == ("a.delta_in.r",)
    kernel = checks["c.grads.kernel"]
    assert kernel.carried.all() and kernel.carried_from == ("c.delta_out",)


def test_a_right_graph_answer_carries_nothing(tmp_path):
    checks = _graded(tmp_path, {"a.delta_in.r": [[1]], "c.delta_out": [[2]],
                                "c.grads.kernel": [[2]]})
    assert all(check.all_right and not check.carried.any() for check in checks.values())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("doc", [
    {"input": [800, 0], "layers": [{"type": "relu"}],
     "loss": {"type": "cross_entropy", "target": 0}},
    {"input": [800, 0], "layers": [{"type": "log_softmax"}],
     "loss": {"type": "nll", "target": 0}},
])
def test_a_loss_of_zero_is_positive_zero_as_torch_reports_it(tmp_path, doc, dtype):
    # −(1·log 1) is −0.0 in floats; torch's cross_entropy and nll_loss give 0.0
    result = invoke("forward", write(tmp_path, doc), "-f", "json", "--dtype", dtype)
    assert result.exit_code == 0, result.output
    assert '"loss": 0.0,' in result.stdout
    loss = json.loads(result.stdout)["loss"]
    assert loss == 0 and np.copysign(1.0, loss) == 1.0
