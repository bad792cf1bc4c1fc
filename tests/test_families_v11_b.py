"""batchnorm2d, batchnorm1d, dropout, softmax, log_softmax and the losses bce,
bce_with_logits, nll through the whole program: small cases worked by hand through the JSON
result, --exact, every output format, explain and --show-steps, gradcheck, and check naming
each family's slips on a crafted wrong answer."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.network import run
from cnngrad.problem import build_problem
from cnngrad.teach.check import check_file
from cnngrad.teach.explain import explain
from cnngrad.teach.gradcheck import gradcheck
from cnngrad.teach.steps import layer_textbook
from test_check import diagnosed, write_answers

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "dropout-classifier.json"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def problem_of(doc: dict, exact: bool = False):
    return build_problem(doc, file="problem.json", base_dir=Path("."), exact=exact)


def result_of(tmp_path, doc: dict, *args) -> dict:
    """The JSON result of ``backward`` on ``doc``, layers by name."""
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(doc))
    result = invoke("backward", path, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    return {"loss": out["loss"], **{layer["name"]: layer for layer in out["layers"]}}


def close(a, b) -> bool:
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12,
                       atol=1e-12)


# --------------------------------------------------------------------------- batch norm by hand

#: flatten gives the rows [1, 2] and [3, 6]: feature 0 has μ = 2, σ² = 1; feature 1 μ = 4, σ² = 4
BN1D_TWO = {"input": [[[[1, 2]]], [[[3, 6]]]],
            "layers": [{"type": "flatten"},
                       {"type": "batchnorm1d", "gamma": [2, 0.5], "beta": [0.5, -1], "eps": 0}],
            "delta": [[1, 0], [0, 2]]}

#: rows [-1, 0], [-1, 2], [1, 0], [1, 2]: μ = (0, 1), σ² = (1, 1), x̂ = ±1
BN1D_FOUR = {"input": [[[[-1, 0]]], [[[-1, 2]]], [[[1, 0]]], [[[1, 2]]]],
             "layers": [{"type": "flatten"},
                        {"type": "batchnorm1d", "gamma": [2, 3], "beta": [0.5, -1], "eps": 0}],
             "delta": [[1, 0], [0, 0], [0, 0], [0, 2]]}


def test_batchnorm1d_two_samples_by_hand(tmp_path):
    bn = result_of(tmp_path, BN1D_TWO)["batchnorm1d_1"]
    # x̂ = (-1, 1) in both features: y = γ·x̂ + β
    assert close(bn["output"], [[-1.5, -1.5], [2.5, -0.5]])
    assert close(bn["grads"]["beta"], [1, 2])  # Σ δ
    assert close(bn["grads"]["gamma"], [-1, 2])  # Σ δ·x̂ = 1·(-1), 2·1
    # two samples normalise to ±1 whatever their values: no delta reaches the input
    assert close(bn["delta_in"], [[0, 0], [0, 0]])


def test_batchnorm1d_four_samples_by_hand(tmp_path):
    bn = result_of(tmp_path, BN1D_FOUR)["batchnorm1d_1"]
    assert close(bn["output"], [[-1.5, -4], [-1.5, 2], [2.5, -4], [2.5, 2]])
    assert close(bn["grads"]["beta"], [1, 2])
    assert close(bn["grads"]["gamma"], [-1, 2])
    # γ·(δ - Σδ/M - x̂·Σ(δ·x̂)/M), M = 4: feature 0 2·(δ - 1/4 + x̂/4), feature 1 3·(δ - 1/2 - x̂/2)
    assert close(bn["delta_in"], [[1, 0], [-1, -3], [0, 0], [0, 3]])


def test_batchnorm2d_eval_by_hand(tmp_path):
    doc = {"input": [[1, 3], [5, -1]],
           "layers": [{"type": "batchnorm2d", "gamma": [4], "beta": [0.5], "eps": 1,
                       "mode": "eval", "running_mean": [1], "running_var": [3]}],
           "delta": [[1, 0], [0, 2]]}
    bn = result_of(tmp_path, doc)["batchnorm2d_1"]
    # √(3 + 1) = 2: y = 4·(x - 1)/2 + 0.5; μ and σ² are constants, so dx = 4/2·δ
    assert close(bn["output"], [[0.5, 4.5], [8.5, -3.5]])
    assert close(bn["delta_in"], [[2, 0], [0, 4]])
    assert close(bn["grads"]["gamma"], [-2])  # 1·0 + 2·(-1)
    assert close(bn["grads"]["beta"], [3])


def test_batchnorm2d_gamma_and_beta_have_gradients_when_not_given(tmp_path):
    doc = {"input": [[[[1, 2], [3, 4]]], [[[0, 0], [1, 2]]]], "layers": [{"type": "batchnorm2d"}],
           "delta": [[[[1, 0], [0, 0]]], [[[0, 0], [0, 1]]]]}
    out = result_of(tmp_path, doc, "--lr", "0.5")["batchnorm2d_1"]
    assert set(out["grads"]) == {"gamma", "beta"}
    assert close(out["grads"]["beta"], [2])
    assert close(out["updated"]["beta"], [-1])  # 0 - 0.5·2


# --------------------------------------------------------------------------- dropout by hand

DROPOUT = {"input": [[1, -2], [3, 4]],
           "layers": [{"type": "flatten"}, {"type": "dropout", "p": 0.5, "mask": [1, 0, 1, 1]}],
           "delta": [0.1, 0.2, 0.3, "1/3"]}


def test_dropout_half_by_hand(tmp_path):
    drop = result_of(tmp_path, DROPOUT)["dropout_1"]
    assert drop["output"] == [2.0, 0.0, 6.0, 8.0]  # x·mask/(1 - 0.5), a dropped -2 is 0
    assert close(drop["delta_in"], [0.2, 0, 0.6, 2 / 3])


@pytest.mark.parametrize("p, scale", [(0.5, 2), ("0.5", 2), (0.25, Fraction(4, 3)),
                                      ("1/3", Fraction(3, 2)), (0, 1)])
def test_dropout_exact_uses_p_exactly(tmp_path, p, scale):
    doc = {**DROPOUT, "layers": [{"type": "flatten"},
                                 {"type": "dropout", "p": p, "mask": [1, 0, 1, 1]}]}
    drop = result_of(tmp_path, doc, "--exact")["dropout_1"]
    assert drop["output"] == [str(Fraction(v) * scale) for v in (1, 0, 3, 4)]
    delta = [Fraction(1, 10), 0, Fraction(3, 10), Fraction(1, 3)]
    assert drop["delta_in"] == [str(d * m * scale) for d, m in zip(delta, (1, 0, 1, 1))]


def test_dropout_mask_is_channels_last_under_nhwc(tmp_path):
    # one sample H×W×C = 1×2×2: the mask [[1, 0], [0, 1]] keeps (h0, c0) and (h1, c1)
    doc = {"layout": "nhwc", "input": [[[1, 2], [3, 4]]],
           "layers": [{"type": "dropout", "p": 0.5, "mask": [[[1, 0], [0, 1]]]}],
           "delta": [[[1, 1], [1, 1]]]}
    drop = result_of(tmp_path, doc)["dropout_1"]
    assert drop["output"] == [[[2.0, 0.0], [0.0, 8.0]]]
    assert drop["delta_in"] == [[[2.0, 0.0], [0.0, 2.0]]]


# --------------------------------------------------------------------------- softmax by hand

SOFTMAX = {"input": [[0, 0]], "layers": [{"type": "flatten"}, {"type": "softmax"}],
           "delta": [1, 0]}


def test_softmax_by_hand(tmp_path):
    out = result_of(tmp_path, SOFTMAX)["softmax_1"]
    assert close(out["output"], [0.5, 0.5])
    # dx_j = y_j·(δ_j - Σ_k δ_k·y_k): 0.5·(1 - 0.5), 0.5·(0 - 0.5)
    assert close(out["delta_in"], [0.25, -0.25])


def test_log_softmax_by_hand(tmp_path):
    doc = {**SOFTMAX, "layers": [{"type": "flatten"}, {"type": "log_softmax"}]}
    out = result_of(tmp_path, doc)["log_softmax_1"]
    assert close(out["output"], [-math.log(2), -math.log(2)])
    # dx_j = δ_j - p_j·Σ_k δ_k
    assert close(out["delta_in"], [0.5, -0.5])


# --------------------------------------------------------------------------- losses by hand

BCE = {"input": [[0.5, 0.25]], "layers": [{"type": "flatten"}],
       "loss": {"type": "bce", "target": [1, 0]}}
NLL = {"input": [[[["-1/2", "-3/4"]]], [[["-1/3", -1]]]], "layers": [{"type": "flatten"}],
       "loss": {"type": "nll", "target": [1, 0]}}


@pytest.mark.parametrize("reduction, divisor", [("mean", 2), ("sum", 1)])
def test_bce_by_hand(tmp_path, reduction, divisor):
    doc = {**BCE, "loss": {**BCE["loss"], "reduction": reduction}}
    out = result_of(tmp_path, doc)
    assert close(out["loss"], -(math.log(0.5) + math.log(0.75)) / divisor)
    # (y - t)/(y(1 - y)): -0.5/0.25 = -2 and 0.25/0.1875 = 4/3
    assert close(out["flatten_1"]["delta_out"], [-2 / divisor, 4 / 3 / divisor])


def test_bce_with_logits_by_hand(tmp_path):
    doc = {"input": [[0, 0], [0, 0]], "layers": [{"type": "flatten"}],
           "loss": {"type": "bce_with_logits", "target": [1, 0, 0.5, 1]}}
    out = result_of(tmp_path, doc)
    assert close(out["loss"], math.log(2))  # every σ(0) = 1/2
    assert close(out["flatten_1"]["delta_out"], [-0.125, 0.125, 0, -0.125])  # (σ - t)/4


@pytest.mark.parametrize("reduction, divisor", [("mean", 2), ("sum", 1)])
def test_bce_with_logits_takes_a_target_outside_0_1_as_torch_does(tmp_path, reduction,
                                                                   divisor):
    # the contract puts [0, 1] on bce's target only; torch's binary_cross_entropy_with_logits
    # takes any real target: max(z, 0) − z·t + log(1 + e^−|z|), gradient σ(z) − t
    doc = {"input": [[0.0, 0.0]], "layers": [{"type": "flatten"}],
           "loss": {"type": "bce_with_logits", "target": [1.5, -0.5],
                    "reduction": reduction}}
    out = result_of(tmp_path, doc)
    # z = 0: log 2 each, whatever t; σ(0) − t = 0.5 − 1.5 and 0.5 + 0.5
    assert close(out["loss"], 2 * math.log(2) / divisor)
    assert close(out["flatten_1"]["delta_out"], [-1 / divisor, 1 / divisor])
    doc["input"] = [[2.0, -3.0]]
    out = result_of(tmp_path, doc)
    expected = sum(max(z, 0) - z * t + math.log1p(math.exp(-abs(z)))
                   for z, t in ((2.0, 1.5), (-3.0, -0.5))) / divisor
    assert close(out["loss"], expected)
    assert close(out["flatten_1"]["delta_out"],
                 [(1 / (1 + math.exp(-z)) - t) / divisor for z, t in ((2.0, 1.5), (-3.0, -0.5))])


def test_a_bce_with_logits_target_outside_0_1_reads_without_two_signs_and_in_the_schema(
        tmp_path):
    doc = {"input": [[0.0, 0.0]], "layers": [{"type": "flatten"}],
           "loss": {"type": "bce_with_logits", "target": [1.5, -0.5]}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    text = invoke("explain", path, "loss", "-f", "text").output
    # 1 − t = −0.5 and t = −0.5 follow an operator: in brackets, as every negative operand
    assert "+ (-0.5)·log 0.5]" in text and "-[(-0.5)·log 0.5 + 1.5·log 0.5]" in text, text
    assert "+ -" not in text and "[-0.5" not in text
    schema = json.loads(invoke("schema").output)["$defs"]
    assert "[0, 1]" in schema["loss_bce"]["properties"]["target"]["description"]
    assert "any real" in schema["loss_bce_with_logits"]["properties"]["target"]["description"]


def test_nll_by_hand_exact_and_float(tmp_path):
    exact = result_of(tmp_path, NLL, "--exact")
    assert exact["loss"] == "13/24"  # (3/4 + 1/3)/2
    assert exact["flatten_1"]["delta_out"] == [["0", "-1/2"], ["-1/2", "0"]]
    floats = result_of(tmp_path, NLL)
    assert close(floats["loss"], 13 / 24)
    assert close(floats["flatten_1"]["delta_out"], [[0, -0.5], [-0.5, 0]])


def test_not_rational_families_refuse_exact(tmp_path):
    for doc in (BCE, SOFTMAX, BN1D_TWO):
        path = tmp_path / "problem.json"
        path.write_text(json.dumps(doc))
        result = invoke("backward", path, "--exact")
        assert result.exit_code == 2, result.output
        assert "not rational" in result.output or "uses exp and log" in result.output


# --------------------------------------------------------------------------- every format, the sample

def test_the_sample_is_listed_and_runs_in_every_format(tmp_path):
    assert "dropout-classifier" in invoke("samples").output
    for command in ("backward", "forward"):
        for fmt in ("table", "json", "csv", "latex", "markdown"):
            result = invoke(command, SAMPLE, "--format", fmt)
            assert result.exit_code == 0 and result.stdout.strip(), (command, fmt, result.output)
    result = invoke("backward", SAMPLE, "--format", "npz", "-o", tmp_path / "r.npz")
    assert result.exit_code == 0, result.output
    assert "dropout_1.delta_in" in np.load(tmp_path / "r.npz").files


@pytest.mark.parametrize("doc", [BN1D_FOUR, BCE, NLL], ids=["batchnorm1d", "bce", "nll"])
@pytest.mark.parametrize("fmt", ["table", "csv", "latex", "markdown"])
def test_every_format_runs(tmp_path, doc, fmt):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(doc))
    result = invoke("backward", path, "--format", fmt)
    assert result.exit_code == 0 and result.stdout.strip(), result.output


# --------------------------------------------------------------------------- explain, --show-steps

def test_explain_batchnorm_shows_the_three_paths_and_the_statistics():
    trace = run(problem_of(BN1D_FOUR))
    explanation = explain(trace, "batchnorm1d_1.delta_in[3,1]")
    assert close(explanation.total, 3)
    assert close([t.value for t in explanation.terms], [6, -1.5, -1.5])
    assert [t.note for t in explanation.terms] == ["directly, through x̂", "through σ²",
                                                   "through μ"]
    notes = " ".join(explanation.notes)
    assert "μ[1] = 1" in notes and "σ²[1] = 1" in notes and "not M - 1" in notes
    for path, value in (("batchnorm1d_1.grads.gamma[0]", -1), ("batchnorm1d_1.grads.beta[1]", 2),
                        ("batchnorm1d_1.output[3,1]", 2)):
        assert close(explain(trace, path).total, value), path
    result = invoke("explain", ROOT / "tests" / "v11_problems" / "bn2d_train.json",
                    "batchnorm2d_1.delta_in[1,1,0,1]")
    assert result.exit_code == 0 and "through μ" in result.output and "σ²" in result.output


def test_explain_dropout_shows_the_mask_and_the_scale():
    trace = run(problem_of(DROPOUT, exact=True))
    kept = explain(trace, "dropout_1.delta_in[3]")
    assert kept.total == Fraction(2, 3)
    assert [f.symbol for f in kept.terms[0].factors] == ["δ[3]", "m[3]", "1/(1 - p)"]
    dropped = explain(trace, "dropout_1.output[1]")
    assert dropped.total == 0 and dropped.zero_reasons == {"m = 0: the unit is dropped": 1}


def test_explain_softmax_sums_the_whole_jacobian_row():
    trace = run(problem_of({**SOFTMAX, "input": [[0, 1, 2]], "delta": [1, -1, 0.5]}))
    explanation = explain(trace, "softmax_1.delta_in[1]")
    assert len(explanation.terms) == 3  # the diagonal and both off-diagonal entries
    assert close(explanation.total, trace.layers[1].delta_in[0, 1])
    assert [t.note for t in explanation.terms] == [None, "the diagonal", None]
    log_trace = run(problem_of({**SOFTMAX, "layers": [{"type": "flatten"},
                                                      {"type": "log_softmax"}]}))
    assert close(explain(log_trace, "log_softmax_1.delta_in[0]").total, 0.5)
    assert close(explain(log_trace, "log_softmax_1.output[0]").total, -math.log(2))


def test_explain_the_losses():
    nll = run(problem_of(NLL, exact=True))
    assert explain(nll, "loss").total == Fraction(13, 24)
    assert explain(nll, "flatten_1.delta_out[0,1]").total == Fraction(-1, 2)
    assert explain(nll, "flatten_1.delta_out[0,0]").total == 0
    bce = run(problem_of(BCE))
    assert close(explain(bce, "loss").total, bce.loss)
    assert close(explain(bce, "flatten_1.delta_out[1]").total, 2 / 3)
    logits = run(problem_of({**BCE, "loss": {"type": "bce_with_logits", "target": [1, 0],
                                             "reduction": "sum"}}))
    assert close(explain(logits, "loss").total, logits.loss)
    assert close(explain(logits, "flatten_1.delta_out[0]").total, 1 / (1 + math.exp(-0.5)) - 1)


def test_show_steps_batchnorm_and_dropout(tmp_path):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(BN1D_FOUR))
    output = invoke("backward", path, "--show-steps").output
    for caption in ("μ: the mean of each feature over N (M = 4)", "σ²: the biased variance",
                    "x̂ = (o - μ)/√(σ² + ε)", "δ_in = γ/√(σ² + ε)·(δ - Σδ/M - x̂·Σ(δ·x̂)/M)"):
        assert caption in output, caption
    output = invoke("backward", SAMPLE, "--show-steps").output
    for caption in ("mask: 1 keeps a unit, 0 drops it", "scale 1/(1 - p) = 1/(1 - 0.5): 2",
                    "Jacobian"):
        assert caption in output, caption


@pytest.mark.parametrize("doc, exact", [(BN1D_FOUR, False), (DROPOUT, True), (DROPOUT, False),
                                        (SOFTMAX, False)])
def test_textbook_route_ends_at_the_engine_answer(doc, exact):
    trace = run(problem_of(doc, exact=exact))
    layer = trace.layers[1]
    textbook = layer_textbook(layer, trace.layout)
    assert np.allclose(textbook.delta_in.astype(float), layer.delta_in.astype(float),
                       rtol=1e-12, atol=1e-12)
    for key, grad in textbook.grads.items():
        assert np.allclose(grad, layer.grads[key], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- gradcheck

GRADCHECK = {
    "batchnorm2d train": {
        "input": [[[[0.3, -1.2, 0.5], [1.1, 0.2, -0.4]]], [[[0.9, 0.1, -0.7], [0.6, -0.3, 1.4]]]],
        "layers": [{"type": "conv2d", "kernel": [[[[0.5, -0.2]]], [[[0.3, 0.8]]]]},
                   {"type": "batchnorm2d", "gamma": [1.5, -0.5], "beta": [0.1, 0.2]},
                   {"type": "flatten"}, {"type": "sigmoid"}],
        "loss": {"type": "bce", "target": [[1, 0, 1, 0, 0.5, 1, 0, 1],
                                           [0, 0, 1, 1, 0.25, 1, 0, 0]]}},
    "batchnorm1d eval, dropout, log_softmax, nll": {
        "input": [[[[0.3, -1.2, 0.5]]], [[[0.9, 0.1, -0.7]]]],
        "layers": [{"type": "flatten"},
                   {"type": "batchnorm1d", "mode": "eval", "running_mean": [0, 0.5, -0.5],
                    "running_var": [1, 2, 0.5], "gamma": [1, 2, 3]},
                   {"type": "dropout", "p": 0.25, "mask": [[1, 0, 1], [1, 1, 0]]},
                   {"type": "dense", "weights": [[0.5, -0.5, 1], [0.2, 0.3, -0.1]]},
                   {"type": "log_softmax"}],
        "loss": {"type": "nll", "target": [1, 0]}},
    "softmax, bce_with_logits": {
        "input": [[0.3, -1.2, 0.5]],
        "layers": [{"type": "flatten"}, {"type": "softmax"}],
        "loss": {"type": "bce_with_logits", "target": [1, 0, 0.5], "reduction": "sum"}},
}


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck_passes(name):
    report = gradcheck(problem_of(GRADCHECK[name]))
    assert report.ok


# --------------------------------------------------------------------------- check's slips

def _check(tmp_path, doc, answers: dict, decimals: int = 6):
    return check_file(run(problem_of(doc)), str(write_answers(tmp_path, answers,
                                                              decimals=decimals)))


def test_slip_batchnorm_unbiased_variance(tmp_path):
    x = np.array([[-1, 0], [-1, 2], [1, 0], [1, 2]], dtype=float)
    unbiased = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1))
    output = unbiased * [2, 3] + [0.5, -1]
    result = _check(tmp_path, BN1D_FOUR, {"batchnorm1d_1.output": output})
    assert "batchnorm_unbiased_variance" in diagnosed(result, "batchnorm1d_1.output")


def test_slip_batchnorm_without_the_paths_through_the_statistics(tmp_path):
    # γ/√σ²·δ only, as if μ and σ² were constants
    result = _check(tmp_path, BN1D_FOUR,
                    {"batchnorm1d_1.delta_in": [[2, 0], [0, 0], [0, 0], [0, 6]]})
    assert "batchnorm_without_stat_paths" in diagnosed(result, "batchnorm1d_1.delta_in")


def test_slip_batchnorm_parameter_gradients_averaged_is_named_before_a_loss_s(tmp_path):
    # γ's gradient ÷ M (np.mean for the sum over a channel's values) was first named "MSE
    # averaged over the elements instead of summed" where the output has M elements per
    # channel; the batch norm's own words come first now
    from cnngrad.teach.diagnose import SLIPS

    doc = {"input": [[[[1, 2], [0, 3]]], [[[2, 0], [1, 1]]]],
           "layers": [{"type": "batchnorm2d", "gamma": [2], "beta": [0.5]}, {"type": "flatten"}],
           "loss": {"type": "mse", "target": [[1, 0, 0, 1], [0, 1, 1, 0]]}}
    trace = run(problem_of(doc))
    gamma = trace.layers[0].grads["gamma"] / 8  # M = 2·2·2 values in the channel
    result = check_file(trace, str(write_answers(tmp_path, {"batchnorm2d_1.grads.gamma":
                                                            gamma})))
    (check,) = [c for c in result.tensors if c.path == "batchnorm2d_1.grads.gamma"]
    named = [d.slip for d in check.diagnoses]
    assert named and named[0] == "batchnorm_parameters_averaged", named
    assert list(SLIPS).index("batchnorm_parameters_averaged") < list(SLIPS).index(
        "mse_mean_not_sum")


@pytest.mark.parametrize("slip, bracket", [
    # dx = γ/σ·(δ − Σδ − x̂·Σ(δ·x̂)): the mean over the batch forgotten in both sums
    ("batchnorm_sums_not_averaged",
     lambda delta, x_hat: delta - delta.sum(axis=0) - x_hat * (delta * x_hat).sum(axis=0)),
    # dx = γ/σ·(δ − x̂·Σ(δ·x̂)/M): the − Σδ/M term left out, the variance's path kept (verify
    # named it, check found "no common slip")
    ("batchnorm_without_mean_path",
     lambda delta, x_hat: delta - x_hat * (delta * x_hat).mean(axis=0)),
])
def test_slip_batchnorm_input_delta(tmp_path, slip, bracket):
    x = np.array([[-1, 0], [-1, 2], [1, 0], [1, 2]], dtype=float)
    delta = np.array([[1, 0], [0, 2], [0, 0], [3, 1]], dtype=float)
    doc = {**BN1D_FOUR, "delta": delta.tolist()}
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0))  # eps 0
    gamma = np.array([2.0, 3.0])
    wrong = gamma / np.sqrt(x.var(axis=0)) * bracket(delta, x_hat)
    result = _check(tmp_path, doc, {"batchnorm1d_1.delta_in": wrong})
    assert slip in diagnosed(result, "batchnorm1d_1.delta_in")


def test_slip_dropout_without_the_scale(tmp_path):
    result = _check(tmp_path, DROPOUT, {"dropout_1.delta_in": [0.1, 0, 0.3, 1 / 3]})
    assert "dropout_without_scale" in diagnosed(result, "dropout_1.delta_in")
    forward = _check(tmp_path, DROPOUT, {"dropout_1.output": [1, 0, 3, 4]})
    assert "dropout_never_scaled" in diagnosed(forward, "dropout_1.output")


def test_slip_softmax_jacobian_diagonal(tmp_path):
    # δ_j·y_j(1 - y_j) only: 1·0.25 and 0
    result = _check(tmp_path, SOFTMAX, {"softmax_1.delta_in": [0.25, 0]})
    assert diagnosed(result, "softmax_1.delta_in") == {"softmax_jacobian_diagonal"}


def test_slip_bce_without_the_mean(tmp_path):
    summed = -(math.log(0.5) + math.log(0.75))
    result = _check(tmp_path, BCE, {"loss": summed, "flatten_1.delta_out": [-2, 4 / 3]})
    assert "bce_sum_not_mean" in diagnosed(result, "loss")
    assert "bce_sum_not_mean" in diagnosed(result, "flatten_1.delta_out")
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(BCE))
    output = invoke("check", path, tmp_path / "answers.json").output
    assert "summed instead of averaged" in output


# --------------------------------------------------------------------------- PyTorch

TORCH_CASES = {
    "batchnorm1d eval, softmax, bce": {
        "input": [[[[0.3, -1.2, 0.5]]], [[[0.9, 0.1, -0.7]]]],
        "layers": [{"type": "flatten"},
                   {"type": "batchnorm1d", "mode": "eval", "eps": 0.01,
                    "running_mean": [0.1, 0.5, -0.5], "running_var": [1, 2, 0.5],
                    "beta": [0.1, 0, -0.2]},
                   {"type": "softmax"}],
        "loss": {"type": "bce", "target": [[1, 0, 0], [0.2, 0.3, 0.5]], "reduction": "sum"}},
    "batchnorm2d eval on a 1-D map, nhwc": {
        "layout": "nhwc", "input": [[0.3, -1.2], [0.5, 0.9], [0.1, -0.7]],  # L×C
        "layers": [{"type": "conv1d",  # k×C_in×F
                    "kernel": [[[0.5, -0.2], [0.3, 0.8]], [[0.1, 0.4], [-0.6, 0.2]]]},
                   {"type": "batchnorm2d", "gamma": [1.5, -0.5], "mode": "eval",
                    "running_mean": [0.2, -0.1], "running_var": [0.5, 1.5]}],
        "delta": [[1, -0.5], [0.25, 2]]},
    "dropout on a batched map, log_softmax, nll": {
        "input": [[[[0.3, -1.2], [0.5, 0.9]]], [[[0.1, -0.7], [1.1, -0.4]]]],
        "layers": [{"type": "dropout", "p": 0.3,
                    "mask": [[[[1, 0], [1, 1]]], [[[0, 1], [1, 0]]]]},
                   {"type": "flatten"}, {"type": "log_softmax"}],
        "loss": {"type": "nll", "target": [3, 0]}},
    "log_softmax unbatched, nll": {
        "input": [[0.3, -1.2, 0.5]], "layers": [{"type": "flatten"}, {"type": "log_softmax"}],
        "loss": {"type": "nll", "target": 2}},
    "bce_with_logits on a map": {
        "input": [[[[0.3, -1.2], [0.5, 0.9]], [[0.1, -0.7], [1.1, -0.4]]]],
        "layers": [{"type": "batchnorm2d", "gamma": [2, 0.5], "beta": [0, 1], "eps": 0.001}],
        "loss": {"type": "bce_with_logits",
                 "target": [[[[1, 0], [0.5, 1]], [[0, 0], [1, 0.25]]]]}},
}


@pytest.mark.parametrize("name", TORCH_CASES)
def test_against_pytorch(tmp_path, name):
    pytest.importorskip("torch")
    import torch_oracle

    path = tmp_path / "problem.json"
    path.write_text(json.dumps(TORCH_CASES[name]))
    result = invoke("backward", path, "--format", "json")
    assert result.exit_code == 0, result.output
    differences = torch_oracle.compare(json.loads(result.stdout), torch_oracle.reference(path),
                                       rtol=1e-9, atol=1e-12)
    assert not differences, "\n".join(differences)


# --------------------------------------------------------------------------- loss after a layer

#: a dense layer of 3 logits for one sample, then the layer under test
_LOGITS = {"input": [0.2, -0.4], "layers": [
    {"type": "dense", "weights": [[0.5, -1.0], [1.5, 0.25], [-0.5, 0.75]], "bias": [0.1, 0, -0.1]}]}


@pytest.mark.parametrize("last, loss, note", [
    # torch's cross_entropy applies log_softmax itself: a softmax layer before it is applied
    # twice, silently (E 1.2750 against 1.7947 without the layer)
    ("softmax", {"type": "cross_entropy", "target": 2},
     "note: cross_entropy applies its own softmax to what it reads, and softmax_1 (softmax) "
     "gives probabilities already: E and every gradient are those of a softmax of "
     "probabilities, as PyTorch computes them; drop softmax_1: cross_entropy is the softmax "
     "and the loss in one"),
    ("softmax", {"type": "nll", "target": 2},
     "note: nll reads log-probabilities, and softmax_1 (softmax) gives probabilities: E is "
     "minus the mean probability of the target class, not a cross-entropy, as PyTorch computes "
     "it; a log-softmax layer before nll gives its log-probabilities"),
    ("sigmoid", {"type": "bce_with_logits", "target": [1, 0, 1]},
     "note: bce_with_logits applies its own sigmoid to what it reads, and sigmoid_1 (sigmoid) "
     "gives probabilities already: E and every gradient are those of a sigmoid of "
     "probabilities, as PyTorch computes them; drop sigmoid_1: bce_with_logits is the sigmoid "
     "and the loss in one"),
    # the pairs meant: no note (log_softmax before cross_entropy changes nothing: a softmax
    # of log-probabilities is the probabilities)
    ("log_softmax", {"type": "nll", "target": 2}, None),
    ("log_softmax", {"type": "cross_entropy", "target": 2}, None),
    ("sigmoid", {"type": "bce", "target": [1, 0, 1]}, None),
    ("relu", {"type": "cross_entropy", "target": 2}, None),
    ("softmax", {"type": "mse", "target": [0, 0, 1]}, None),
    # a sigmoid is not cross_entropy's softmax: what E is, without the advice to drop it
    ("sigmoid", {"type": "cross_entropy", "target": 2},
     "note: cross_entropy applies its own softmax to what it reads, and sigmoid_1 (sigmoid) "
     "gives probabilities already: E and every gradient are those of a softmax of "
     "probabilities, as PyTorch computes them"),
])
def test_a_loss_after_a_layer_it_does_not_read_says_what_e_is(tmp_path, last, loss, note):
    doc = dict(_LOGITS, layers=_LOGITS["layers"] + [{"type": last}], loss=loss)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    for command in ("backward", "forward", "gradcheck"):
        result = invoke(command, str(path))
        assert result.exit_code == 0, result.output
        assert result.stderr == ("" if note is None else note + "\n")


def test_softmax_before_cross_entropy_computes_as_pytorch_does(tmp_path):
    # the note says what E is; the numbers stay PyTorch's: cross_entropy(softmax(z))
    doc = dict(_LOGITS, layers=_LOGITS["layers"] + [{"type": "softmax"}],
               loss={"type": "cross_entropy", "target": 2})
    trace = run(build_problem(doc, file="p.json", base_dir=tmp_path))
    z = np.array([0.5 * 0.2 + 1.0 * 0.4 + 0.1, 1.5 * 0.2 - 0.25 * 0.4, -0.1 - 0.3 - 0.1])
    p = np.exp(z) / np.exp(z).sum()
    assert float(trace.loss) == pytest.approx(-np.log(np.exp(p[2]) / np.exp(p).sum()), rel=1e-12)
    assert float(trace.loss) == pytest.approx(1.2749910136, abs=1e-10)
    assert -np.log(p[2]) == pytest.approx(1.7947414739, abs=1e-10)  # without the softmax layer


@pytest.mark.parametrize("batched", [False, True])
def test_slip_cross_entropy_target_not_subtracted(tmp_path, batched):
    # logits 0, ln 3 for class 0: p = (1/4, 3/4), so δ = p − t = (−3/4, 3/4), the slip p
    # (over a batch of two equal samples, each halved: p/2)
    z = [0, math.log(3)]
    # N vectors are written N×1×1×K and flattened
    doc = {"input": [[[z]], [[z]]] if batched else z,
           "layers": ([{"type": "flatten"}] if batched else [])
           + [{"type": "dense", "weights": [[1, 0], [0, 1]]}],
           "loss": {"type": "cross_entropy", "target": [0, 0] if batched else 0}}
    slipped = [[1 / 8, 3 / 8], [1 / 8, 3 / 8]] if batched else [1 / 4, 3 / 4]
    right = [[-3 / 8, 3 / 8], [-3 / 8, 3 / 8]] if batched else [-3 / 4, 3 / 4]
    result = _check(tmp_path, doc, {"dense_1.delta_out": slipped, "dense_1.delta_in": right})
    assert diagnosed(result, "dense_1.delta_out") == {"target_not_subtracted"}
    (checked,) = [c for c in result.tensors if c.path == "dense_1.delta_in"]
    assert checked.all_right
