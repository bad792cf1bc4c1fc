"""The whole engine: problem → forward → backward, checked by hand, by finite differences and
by the contract's shape rules."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from cnngrad.teach.gradcheck import compare_all
from cnngrad.network import run
from cnngrad.problem import build_problem, load_problem

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

O = [[0.51, 0.9, 0.88, 0.84, 0.05], [0.4, 0.62, 0.22, 0.59, 0.1], [0.11, 0.2, 0.74, 0.33, 0.14],
     [0.47, 0.01, 0.85, 0.7, 0.09], [0.76, 0.19, 0.72, 0.17, 0.57]]
W = [[-0.13, 0.15], [-0.51, 0.62]]
D = [[0, 0, 0.0686, 0], [0, 0.0364, 0, 0], [0, 0.0467, 0, 0], [0, 0, 0, -0.0681]]


def problem_of(doc: dict, exact: bool = False):
    text = json.dumps(doc)
    from cnngrad.tensorio import load_json_document

    return build_problem(load_json_document(text.encode(), "t.json"), file="t.json",
                         base_dir=Path("."), exact=exact)


def test_worked_example_kernel_gradient():
    trace = run(load_problem(str(SAMPLES / "stackexchange.json")))
    (conv,) = trace.layers
    np.testing.assert_allclose(conv.grads["kernel"], [[0.044606, 0.094061],
                                                      [0.011262, 0.068288]], atol=5e-7)
    assert conv.grads["kernel"].shape == (2, 2)
    assert trace.loss is None


def test_worked_example_input_delta_is_full_convolution_with_rotated_kernel():
    trace = run(load_problem(str(SAMPLES / "stackexchange.json")))
    delta_in = trace.shown(trace.layers[0].delta_in)
    # full convolution of d with the kernel rotated 180°, written out as a loop
    d, w = np.array(D), np.array(W)
    expected = np.zeros((5, 5))
    for i in range(4):
        for j in range(4):
            expected[i:i + 2, j:j + 2] += d[i, j] * w
    np.testing.assert_allclose(delta_in, expected, atol=1e-15)
    # one cell by hand: δ_in[0,2] = d[0,2]·w[0,0] + d[0,1]·w[0,1] = 0.0686 × −0.13
    assert delta_in[0, 2] == pytest.approx(0.0686 * -0.13)


def test_worked_example_from_csv_matches_inline():
    inline = run(load_problem(str(SAMPLES / "stackexchange.json")))
    from_csv = run(load_problem(str(SAMPLES / "stackexchange-csv.json")))
    np.testing.assert_array_equal(inline.layers[0].grads["kernel"],
                                  from_csv.layers[0].grads["kernel"])


def test_whole_network_sample_forward_by_hand():
    trace = run(load_problem(str(SAMPLES / "stackexchange-network.json")))
    conv, pool, flat, dense, sig = trace.layers
    # x[0,0] = −0.13·0.51 + 0.15·0.9 − 0.51·0.4 + 0.62·0.62
    assert trace.shown(conv.output)[0, 0] == pytest.approx(0.2491)
    assert trace.shown(pool.output).shape == (2, 2)
    assert trace.shown(flat.output).shape == (4,)
    y = trace.shown(sig.output)
    assert trace.loss == pytest.approx(0.5 * ((1 - y[0]) ** 2 + (0 - y[1]) ** 2))
    # the delta entering the sigmoid from ½Σ(t − y)² is (y − t)
    np.testing.assert_allclose(trace.shown(sig.delta_out), y - np.array([1, 0]))


# pool-ties.json is a kink by design (tied maxima: the derivative is not unique there)
@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")
                                          if p.name != "pool-ties.json"))
def test_every_smooth_sample_agrees_with_finite_differences(sample):
    problem = load_problem(str(SAMPLES / sample))
    for comparison in compare_all(problem):
        np.testing.assert_allclose(comparison.analytic, comparison.numeric, rtol=1e-5,
                                   atol=1e-8, err_msg=f"{sample}: {comparison.target}")


# --------------------------------------------------------------------------- shape rules


def conv_doc(input_, kernel, **extra):
    x = np.asarray(input_)
    out = dict(input=x.tolist(), kernel=np.asarray(kernel).tolist(), **extra)
    return out


@pytest.mark.parametrize("input_shape, kernel_shape, bias, out_shape, bias_grad_shape", [
    ((5, 5), (2, 2), None, (4, 4), None),
    ((5, 5), (2, 2), 0.5, (4, 4), ()),
    ((5, 5), (3, 2, 2), [0.1, 0.2, 0.3], (3, 4, 4), (3,)),          # F one-channel filters
    ((2, 5, 5), (2, 2, 2), [0.1], (1, 4, 4), (1,)),                # one filter over 2 channels
    ((2, 5, 5), (3, 2, 2, 2), None, (3, 4, 4), None),
    ((1, 2, 5, 5), (3, 2, 2, 2), [1, 2, 3], (1, 3, 4, 4), (3,)),
    ((5, 5), (2, 2), np.ones((4, 4)).tolist(), (4, 4), (4, 4)),     # untied
    ((1, 5, 5), (2, 1, 2, 2), np.ones((2, 4, 4)).tolist(), (2, 4, 4), (2, 4, 4)),
])
def test_result_shapes_follow_the_input(input_shape, kernel_shape, bias, out_shape,
                                        bias_grad_shape):
    rng = np.random.default_rng(0)
    doc = conv_doc(rng.normal(size=input_shape), rng.normal(size=kernel_shape),
                   delta=rng.normal(size=out_shape).tolist())
    if bias is not None:
        doc["bias"] = bias
    trace = run(problem_of(doc))
    (conv,) = trace.layers
    assert trace.shown(conv.output).shape == out_shape
    assert trace.shown(conv.delta_in).shape == input_shape
    assert conv.grads["kernel"].shape == kernel_shape
    if bias_grad_shape is None:
        assert "bias" not in conv.grads
    else:
        assert np.shape(conv.grads["bias"]) == bias_grad_shape


def test_bias_gradients_by_kind():
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(5, 5)), rng.normal(size=(2, 2))
    d = rng.normal(size=(4, 4))
    scalar = run(problem_of(conv_doc(x, k, bias=1.5, delta=d.tolist())))
    untied = run(problem_of(conv_doc(x, k, bias=np.zeros((4, 4)).tolist(), delta=d.tolist())))
    assert float(scalar.layers[0].grads["bias"]) == pytest.approx(d.sum())
    np.testing.assert_allclose(untied.layers[0].grads["bias"], d)
    # the bias shifts every output by its value (scalar) or per position (untied)
    plain = run(problem_of(conv_doc(x, k, delta=d.tolist())))
    np.testing.assert_allclose(scalar.layers[0].output, plain.layers[0].output + 1.5)


def test_flip_kernel_reports_gradient_of_the_kernel_as_given():
    rng = np.random.default_rng(2)
    x, k, d = rng.normal(size=(6, 5)), rng.normal(size=(3, 2)), rng.normal(size=(4, 4))
    flipped = run(problem_of(conv_doc(x, k, flip_kernel=True, delta=d.tolist())))
    rotated = run(problem_of(conv_doc(x, k[::-1, ::-1], delta=d.tolist())))
    np.testing.assert_allclose(flipped.layers[0].output, rotated.layers[0].output)
    np.testing.assert_allclose(flipped.layers[0].grads["kernel"],
                               rotated.layers[0].grads["kernel"][::-1, ::-1])


def test_vectors_show_batch_only_when_batched():
    rng = np.random.default_rng(3)
    layers = [{"type": "flatten"}, {"type": "dense", "weights": rng.normal(size=(3, 8)).tolist()}]
    single = run(problem_of({"input": rng.normal(size=(2, 2, 2)).tolist(), "layers": layers,
                             "delta": [1, 2, 3]}))
    batch = run(problem_of({"input": rng.normal(size=(4, 2, 2, 2)).tolist(), "layers": layers,
                            "delta": np.ones((4, 3)).tolist()}))
    assert single.shown(single.layers[-1].output).shape == (3,)
    assert batch.shown(batch.layers[-1].output).shape == (4, 3)
    assert batch.layers[-1].grads["weights"].shape == (3, 8)


def test_flatten_is_channel_major():
    x = np.arange(2 * 2 * 3).reshape(2, 2, 3)
    trace = run(problem_of({"input": x.tolist(), "layers": [{"type": "flatten"}],
                            "delta": list(range(12))}))
    np.testing.assert_array_equal(trace.shown(trace.layers[0].output), np.arange(12))


# --------------------------------------------------------------------------- activations, losses


@pytest.mark.parametrize("kind, x, expected_derivative", [
    ("relu", [-1.0, 0.0, 2.0], [0, 0, 1]),                       # ReLU'(0) = 0
    ("leaky_relu", [-1.0, 0.0, 2.0], [0.01, 0.01, 1]),          # derivative at 0 is the slope
])
def test_activation_derivative_at_zero(kind, x, expected_derivative):
    doc = {"input": [x, x], "layers": [{"type": kind}], "delta": [[1, 1, 1], [1, 1, 1]]}
    trace = run(problem_of(doc))
    np.testing.assert_allclose(trace.shown(trace.layers[0].delta_in)[0], expected_derivative)


@pytest.mark.parametrize("reduction, factor", [("half_sum", 0.5), ("sum", 1.0), ("mean", 0.25)])
def test_mse_reductions(reduction, factor):
    doc = {"input": [[1.0, 2.0], [3.0, 4.0]], "layers": [{"type": "relu"}],
           "loss": {"type": "mse", "target": [[0, 0], [3, 3]], "reduction": reduction}}
    trace = run(problem_of(doc))
    assert trace.loss == pytest.approx(factor * (1 + 4 + 0 + 1))
    np.testing.assert_allclose(trace.shown(trace.layers[0].delta_out),
                               2 * factor * np.array([[1, 2], [0, 1]]))


def test_cross_entropy_class_index_equals_one_hot_probabilities():
    base = {"input": [[[1.0, -2.0], [0.5, 3.0]]], "layers": [{"type": "flatten"}]}
    by_index = run(problem_of({**base, "loss": {"type": "cross_entropy", "target": 3}}))
    by_probs = run(problem_of({**base, "loss": {"type": "cross_entropy",
                                                "target": [0, 0, 0, 1]}}))
    z = np.array([1.0, -2.0, 0.5, 3.0])
    p = np.exp(z) / np.exp(z).sum()
    assert by_index.loss == pytest.approx(-np.log(p[3]))
    assert by_probs.loss == pytest.approx(by_index.loss)
    np.testing.assert_allclose(by_index.shown(by_index.layers[0].delta_out), p - [0, 0, 0, 1])


def test_cross_entropy_batched_is_a_mean():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3, 1, 1, 4))
    trace = run(problem_of({"input": z.tolist(), "layers": [{"type": "flatten"}],
                            "loss": {"type": "cross_entropy", "target": [0, 3, 1]}}))
    logits = z.reshape(3, 4)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[[0, 1, 2], [0, 3, 1]]))
    assert trace.loss == pytest.approx(expected)


# --------------------------------------------------------------------------- random networks


def random_network(seed: int) -> dict:
    """A random smooth problem: every layer type and loss appears across seeds."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3))
    c = int(rng.integers(1, 4))
    h, w = int(rng.integers(6, 9)), int(rng.integers(6, 9))
    x = rng.normal(size=(n, c, h, w))
    groups = int(rng.choice([g for g in (1, 2, 3) if c % g == 0]))
    f = groups * int(rng.integers(1, 3))
    conv = {"type": "conv2d", "kernel": rng.normal(size=(f, c // groups, 2, 3)).tolist(),
            "bias": rng.normal(size=f).tolist(), "stride": [1, int(rng.integers(1, 3))],
            "padding": [int(v) for v in rng.integers(0, 2, size=4)],
            "dilation": int(rng.integers(1, 3)), "groups": groups,
            "padding_mode": str(rng.choice(["zeros", "reflect", "replicate", "circular"]))}
    act = str(rng.choice(["sigmoid", "tanh", "leaky_relu"]))
    pool = {"type": "avgpool2d", "size": 2, "stride": 1, "padding": 1,
            "count_include_pad": bool(rng.integers(2)), "ceil_mode": bool(rng.integers(2))}
    layers = [conv, {"type": act}, pool, {"type": "flatten"}]
    doc = {"input": x.tolist() if n > 1 or rng.integers(2) else x[0].tolist(), "layers": layers}
    k = _vector_length(doc)
    layers.append({"type": "dense", "weights": rng.normal(size=(3, k)).tolist(),
                   "bias": rng.normal(size=3).tolist()})
    batched = np.asarray(doc["input"]).ndim == 4
    if seed % 2:
        doc["loss"] = {"type": "cross_entropy",
                       "target": (rng.integers(0, 3, size=n).tolist() if batched
                                  else int(rng.integers(0, 3)))}
    else:
        shape = (n, 3) if batched else (3,)
        doc["loss"] = {"type": "mse", "target": rng.normal(size=shape).tolist(),
                       "reduction": str(rng.choice(["half_sum", "sum", "mean"]))}
    return doc


def _vector_length(doc: dict) -> int:
    from decimal import Decimal

    from cnngrad.problem import Layout, _Builder

    x = np.asarray(doc["input"])
    layers = json.loads(json.dumps(doc["layers"]), parse_float=Decimal)
    specs = _Builder("t.json", Path("."), False, 10**8).build_layers(
        layers, "layers", (1,) * (4 - x.ndim) + x.shape, Layout(x.ndim))
    return specs[-1].out_shape[-1]


@pytest.mark.parametrize("seed", range(12))
def test_random_smooth_networks_agree_with_finite_differences(seed):
    problem = problem_of(random_network(seed))
    for comparison in compare_all(problem):
        np.testing.assert_allclose(comparison.analytic, comparison.numeric, rtol=1e-5,
                                   atol=1e-8, err_msg=f"seed {seed}: {comparison.target}")


# --------------------------------------------------------------------------- exact


def test_exact_mode_matches_float_mode_on_the_worked_example():
    conv_problem = load_problem(str(SAMPLES / "stackexchange.json"), exact=True)
    exact_conv = run(conv_problem)
    float_conv = run(load_problem(str(SAMPLES / "stackexchange.json")))
    grad = exact_conv.layers[0].grads["kernel"]
    assert grad.dtype == object and all(isinstance(v, Fraction) for v in grad.flat)
    # dE/dw[0,0] = 0.0686·0.88 + 0.0364·0.62 + 0.0467·0.2 − 0.0681·0.7 = 0.044606, exactly
    assert grad[0, 0] == (Fraction("0.0686") * Fraction("0.88") + Fraction("0.0364")
                          * Fraction("0.62") + Fraction("0.0467") * Fraction("0.2")
                          - Fraction("0.0681") * Fraction("0.7"))
    np.testing.assert_allclose(grad.astype(float), float_conv.layers[0].grads["kernel"],
                               rtol=1e-14)


def test_ceil_mode_window_larger_than_the_input_gives_one_output_as_in_pytorch():
    # a 2×3 input under a 3×3 window: no output without ceil_mode, one with it (the window
    # hangs over the bottom edge), as torch.nn.functional.max_pool2d/avg_pool2d do
    doc = {"input": [[1, 2, 3], [4, 5, 6]],
           "layers": [{"type": "maxpool2d", "size": 3, "ceil_mode": True}], "delta": [[2]]}
    trace = run(problem_of(doc))
    assert trace.shown(trace.layers[0].output).tolist() == [[6]]
    assert trace.shown(trace.layers[0].delta_in).tolist() == [[0, 0, 0], [0, 0, 2]]
    avg = run(problem_of({**doc, "layers": [{"type": "avgpool2d", "size": 3, "ceil_mode": True}]}))
    # the divisor is the part of the window inside the (unpadded) input: 2×3 = 6 cells
    assert trace.shown(avg.layers[0].output).tolist() == [[21 / 6]]
    from cnngrad.errors import ShapeError

    with pytest.raises(ShapeError, match="larger than the padded input"):
        problem_of({**doc, "layers": [{"type": "maxpool2d", "size": 3}]})
