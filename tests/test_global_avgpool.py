"""global_avgpool: the kernel against its naive twin, a hand-computed case, finite
differences, explain, PyTorch."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cnngrad
from cnngrad.cli import app
from cnngrad.errors import ProblemError, ShapeError
from cnngrad.layers.global_pool import (global_avgpool_backward, global_avgpool_backward_naive,
                                        global_avgpool_forward, global_avgpool_forward_naive)
from cnngrad.network import run
from cnngrad.problem import build_problem
from cnngrad.teach.explain import explain
from cnngrad.teach.gradcheck import compare_all

HERE = Path(__file__).resolve().parent

# two channels of 2×2: means 5/2 and 9/8; dense [1, -1] gives 11/8; E = ½(11/8 − 1)²
DOC = {"input": [[[1, 2], [3, 4]], [[0, "1/2"], [-1, 5]]],
       "layers": [{"type": "global_avgpool"}, {"type": "dense", "weights": [[1, -1]]}],
       "loss": {"type": "mse", "target": [1]}}


def _problem(doc=DOC, exact=False):
    return build_problem(doc, file="t.json", base_dir=HERE, exact=exact)


def test_hand_computed_case_exact():
    trace = run(_problem(exact=True))
    pool = trace.layers[0]
    assert list(trace.shown(pool.output)) == [Fraction(5, 2), Fraction(9, 8)]
    assert trace.loss == Fraction(1, 2) * Fraction(3, 8) ** 2
    # δ = y − t = 3/8 through dense [1, −1]: (3/8, −3/8), each cell a quarter of it
    expected = np.array([[[Fraction(3, 32)] * 2] * 2, [[Fraction(-3, 32)] * 2] * 2], dtype=object)
    assert (trace.shown(pool.delta_in) == expected).all()
    assert pool.grads == {}


def test_shapes_follow_the_contract():
    batched = {**DOC, "input": [DOC["input"], DOC["input"], DOC["input"]],
               "loss": {"type": "mse", "target": [[1], [1], [1]]}}
    trace = run(_problem(batched))
    assert trace.shown(trace.layers[0].output).shape == (3, 2)  # N×C
    assert trace.shown(trace.layers[0].delta_in).shape == (3, 2, 2, 2)
    single = {"input": [[1, 2], [3, 4]], "layers": [{"type": "global_avgpool"}], "delta": [1]}
    trace = run(_problem(single))
    assert trace.shown(trace.layers[0].output).tolist() == [2.5]  # one channel → C = 1
    assert trace.shown(trace.layers[0].delta_in).tolist() == [[0.25, 0.25], [0.25, 0.25]]


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 4, 5), (3, 2, 7), (1, 4, 1, 6)])
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_matches_its_naive_twin(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    delta = rng.standard_normal(shape[:2])
    np.testing.assert_allclose(global_avgpool_forward(x), global_avgpool_forward_naive(x),
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(global_avgpool_backward(shape, delta),
                               global_avgpool_backward_naive(shape, delta), rtol=1e-13,
                               atol=1e-15)


def test_kernel_is_exact_on_fractions():
    x = np.array([[[Fraction(1, 3), Fraction(1, 6), 1]]], dtype=object)  # (1, 1, 3): a 1-D map
    assert global_avgpool_forward(x)[0, 0] == Fraction(1, 2)
    delta = np.array([[Fraction(3, 5)]], dtype=object)
    assert global_avgpool_backward(x.shape, delta).tolist() == [[[Fraction(1, 5)] * 3]]
    assert (global_avgpool_backward(x.shape, delta)
            == global_avgpool_backward_naive(x.shape, delta)).all()


def test_int_zeros_of_an_exact_array_stay_exact():
    # exact arrays hold int 0s (an nll delta's other classes): int / int would be a float 0.0
    delta = np.array([[0, Fraction(-1)]], dtype=object)
    for backward in (global_avgpool_backward, global_avgpool_backward_naive):
        dx = backward((1, 2, 2, 2), delta)
        assert all(isinstance(v, (Fraction, int)) for v in dx.flat), dx
        assert dx.tolist() == [[[[0, 0]] * 2, [[Fraction(-1, 4)] * 2] * 2]]
    x = np.zeros((1, 1, 2, 2), dtype=object)
    for forward in (global_avgpool_forward, global_avgpool_forward_naive):
        assert not isinstance(forward(x)[0, 0], float)


def test_exact_json_after_an_nll_loss_is_fractions_only(tmp_path):
    doc = {"input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
           "layers": [{"type": "global_avgpool"}], "loss": {"type": "nll", "target": 1}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["backward", str(path), "--exact", "--format", "json"])
    assert result.exit_code == 0, result.output
    layer = json.loads(result.stdout)["layers"][0]
    assert layer["delta_in"] == [[["0", "0"], ["0", "0"]], [["-1/4", "-1/4"], ["-1/4", "-1/4"]]]


def test_library_names():
    assert cnngrad.global_avgpool_forward is global_avgpool_forward
    assert cnngrad.global_avgpool_backward is global_avgpool_backward


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finite_differences(seed):
    rng = np.random.default_rng(seed)
    doc = {"input": rng.standard_normal((2, 3, 4, 3)).round(3).tolist(),
           "layers": [{"type": "conv2d", "kernel": rng.standard_normal((2, 3, 2, 2)).round(3)
                       .tolist(), "bias": [0.1, -0.2]},
                      {"type": "global_avgpool"},
                      {"type": "dense", "weights": rng.standard_normal((3, 2)).round(3).tolist(),
                       "bias": [0, 0.1, -0.1]}],
           "loss": {"type": "cross_entropy", "target": [2, 0]}}
    for comparison in compare_all(_problem(doc)):
        np.testing.assert_allclose(comparison.analytic, comparison.numeric, rtol=1e-5,
                                   atol=1e-8, err_msg=comparison.target)


@pytest.mark.parametrize("path", ["global_avgpool_1.output[0]", "global_avgpool_1.output[1]",
                                  "global_avgpool_1.delta_in[1,1,0]",
                                  "global_avgpool_1.delta_in[0,0,1]"])
def test_explain_adds_up_to_the_engine(path):
    trace = run(_problem(exact=True))
    explanation = explain(trace, path)
    name, index = path.split("[")
    engine = trace.tensor(name)[tuple(int(i) for i in index.rstrip("]").split(","))]
    assert explanation.total == engine


def test_a_vector_input_is_an_error_naming_the_layer():
    doc = {**DOC, "layers": [{"type": "flatten"}, {"type": "global_avgpool"}]}
    with pytest.raises(ShapeError, match="global_avgpool needs a feature map") as error:
        _problem(doc)
    assert error.value.where == "layers[1]"


def test_it_has_no_fields():
    doc = {**DOC, "layers": [{"type": "global_avgpool", "size": 2}, DOC["layers"][1]]}
    with pytest.raises(ProblemError, match="unknown key 'size' in a global_avgpool layer"):
        _problem(doc)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 4))
    delta = rng.standard_normal((2, 3))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1).flatten(1)
    yt.backward(torch.tensor(delta, dtype=torch.float64))
    np.testing.assert_allclose(global_avgpool_forward(x), yt.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(global_avgpool_backward(x.shape, delta), xt.grad.numpy(),
                               rtol=1e-13)
