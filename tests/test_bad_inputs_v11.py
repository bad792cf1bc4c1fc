"""Malformed contract v1.1 problems: each exits 2 with one line ``error: <file>: <where>:
<what>`` (and at most a hint line), never a traceback.

The cases are grouped by feature, one parametrize list each; the checks are those of
tests/test_bad_inputs.py (:func:`check_error_output`)."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from test_bad_inputs import Bad, check_error_output, write_problem

runner = CliRunner()


def _run_bad(case: Bad, fmt: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, case.doc)
    args = ["backward", "bad.json", *case.args] + (["--format", "json"] if fmt == "json" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception), result.output  # SystemExit(2) only
    check_error_output(result.output, case)


def _with(doc: dict, *, layer: int | None = None, loss: dict | None = None, **top) -> dict:
    """A copy of ``doc`` with keys of the document (``top``), of one layer (``layer`` and
    ``top`` then names its keys) or of the loss changed; a value None removes the key."""
    out = copy.deepcopy(doc)
    if layer is not None:
        out["layers"][layer], top = {**out["layers"][layer], **top}, {}
    if loss is not None:
        out["loss"] = {**out["loss"], **loss}
    out.update(top)
    for part in (out, out["layers"][layer] if layer is not None else {}, out.get("loss", {})):
        for key in [k for k, v in part.items() if v is None]:
            del part[key]
    return out


# ------------------------------------------- batchnorm2d, batchnorm1d, dropout, softmax, losses

#: 2 samples, 2 channels, 2×2 maps
MAP = [[[[1, 2], [3, 4]], [[0, 1], [1, 0]]], [[[2, 2], [0, 1]], [[1, 3], [2, 2]]]]
BN2D = {"input": MAP, "layers": [{"type": "batchnorm2d", "gamma": [1, 2], "beta": [0, 1]}],
        "delta": MAP}
BN1D = {"input": MAP, "layers": [{"type": "flatten"}, {"type": "batchnorm1d"}],
        "delta": [[1] * 8, [0] * 8]}
DROPOUT = {"input": [[1, -2], [3, 4]],
           "layers": [{"type": "flatten"}, {"type": "dropout", "p": 0.5, "mask": [1, 0, 1, 1]}],
           "delta": [1, 2, 3, 4]}
BCE = {"input": [[0.5, 0.25], [1, 0]], "layers": [{"type": "flatten"}],
       "loss": {"type": "bce", "target": [1, 0, 1, 0]}}
NLL = {"input": [[[[-1, -2]]], [[[-0.5, -3]]]], "layers": [{"type": "flatten"}],
       "loss": {"type": "nll", "target": [1, 0]}}
EVAL = {"mode": "eval", "running_mean": [0, 1], "running_var": [1, 2]}


def bad(id: str, doc, where, what, **kw):
    return pytest.param(Bad(doc, where, what, **kw), id=id)


FAMILY_B_CASES = [
    # batch norm
    bad("bn-gamma-length", _with(BN2D, layer=0, gamma=[1, 2, 3]), "layers[0].gamma",
        "expected a vector of 2 (one per channel), got shape 3"),
    bad("bn-gamma-number", _with(BN2D, layer=0, gamma=2), "layers[0].gamma",
        "got a number"),
    bad("bn-beta-matrix", _with(BN2D, layer=0, beta=[[0, 1]]), "layers[0].beta",
        "expected a vector of 2"),
    bad("bn-mode-typo", _with(BN2D, layer=0, mode="training"), "layers[0].mode",
        "unknown mode 'training'", hint="did you mean 'train'"),
    bad("bn-mode-not-string", _with(BN2D, layer=0, mode=True), "layers[0].mode",
        "unknown mode", hint="train, eval"),
    bad("bn-eval-no-running", _with(BN2D, layer=0, mode="eval"), "layers[0]",
        "\"mode\": \"eval\" needs running_mean and running_var"),
    bad("bn-eval-no-var", _with(BN2D, layer=0, mode="eval", running_mean=[0, 1]),
        "layers[0]", "needs running_var"),
    bad("bn-train-with-running", _with(BN2D, layer=0, running_mean=[0, 1]),
        "layers[0].running_mean", "used only with \"mode\": \"eval\""),
    bad("bn-running-var-negative", _with(BN2D, layer=0, **{**EVAL, "running_var": [1, -2]}),
        "layers[0].running_var[1]", "a variance cannot be negative"),
    bad("bn-running-var-zero-eps-zero",
        _with(BN2D, layer=0, **{**EVAL, "running_var": [0, 1]}, eps=0),
        "layers[0].running_var[0]", "divides by zero", hint="eps > 0"),
    bad("bn-running-mean-length", _with(BN2D, layer=0, **{**EVAL, "running_mean": [0]}),
        "layers[0].running_mean", "expected a vector of 2"),
    bad("bn-eps-negative", _with(BN2D, layer=0, eps=-1e-5), "layers[0].eps", "eps must be ≥ 0"),
    bad("bn-eps-text", _with(BN2D, layer=0, eps="small"), "layers[0].eps", "not a number"),
    bad("bn-eps-list", _with(BN2D, layer=0, eps=[1e-5]), "layers[0].eps", "expected a number"),
    bad("bn-unknown-key", _with(BN2D, layer=0, momentum=0.1), "layers[0].momentum",
        "unknown key 'momentum'"),
    bad("bn2d-on-vector", {**BN1D, "layers": [{"type": "flatten"}, {"type": "batchnorm2d"}]},
        "layers[1]", "batchnorm2d needs a feature map", hint="batchnorm1d"),
    bad("bn1d-on-map", {**BN2D, "layers": [{"type": "batchnorm1d"}]}, "layers[0]",
        "batchnorm1d normalises vectors", hint="batchnorm2d"),
    bad("bn2d-one-value-per-channel", {"input": [[5]], "layers": [{"type": "batchnorm2d"}],
                                       "delta": [[1]]},
        "layers[0]", "single value per channel", hint="eval"),
    bad("bn1d-batch-of-one", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "flatten"}, {"type": "batchnorm1d"}], "delta": [1, 2, 3, 4]},
        "layers[1]", "single value per feature"),
    bad("bn-constant-channel-eps-zero",
        _with(BN2D, input=[[[[1, 1], [1, 1]], [[0, 1], [1, 0]]]], delta=MAP[:1],
              layers=[{"type": "batchnorm2d", "eps": 0}]),
        "layers[0]", "channel 0 of batchnorm2d_1's input is constant", hint="eps > 0"),
    # dropout
    bad("dropout-no-p", _with(DROPOUT, layer=1, p=None), "layers[1]",
        "dropout layer has no 'p'"),
    bad("dropout-no-mask", _with(DROPOUT, layer=1, mask=None), "layers[1]",
        "dropout layer has no 'mask'"),
    bad("dropout-p-one", _with(DROPOUT, layer=1, p=1), "layers[1].p", "p must be in [0, 1)"),
    bad("dropout-p-negative", _with(DROPOUT, layer=1, p=-0.25), "layers[1].p",
        "p must be in [0, 1)"),
    bad("dropout-p-text", _with(DROPOUT, layer=1, p="half"), "layers[1].p", "not a number"),
    bad("dropout-p-list", _with(DROPOUT, layer=1, p=[0.5]), "layers[1].p",
        "expected a number"),
    bad("dropout-mask-shape", _with(DROPOUT, layer=1, mask=[[1, 0], [1, 1]]),
        "layers[1].mask", "expected shape 4 (the shape of the layer's input), got 2×2"),
    bad("dropout-mask-value", _with(DROPOUT, layer=1, mask=[1, 0.5, 1, 1]), "layers[1].mask[1]",
        "a mask holds 0s and 1s"),
    bad("dropout-mask-two", _with(DROPOUT, layer=1, mask=[1, 0, 2, 1]), "layers[1].mask[2]",
        "got 2"),
    bad("dropout-mask-nchw-under-nhwc",
        {"layout": "nhwc", "input": [[[1, 2, 3], [4, 5, 6]], [[1, 2, 3], [4, 5, 6]]],
         "layers": [{"type": "dropout", "p": 0.5,
                     "mask": [[[1, 0], [1, 1]], [[0, 0], [1, 1]], [[1, 1], [1, 0]]]}],
         "delta": [[[1, 2, 3], [4, 5, 6]], [[1, 2, 3], [4, 5, 6]]]},
        "layers[0].mask", "expected shape 2×2×3"),
    # softmax, log_softmax
    bad("softmax-on-map", {**BN2D, "layers": [{"type": "softmax"}]}, "layers[0]",
        "softmax works over the last axis of a vector", hint="add a flatten layer"),
    bad("log-softmax-on-map", {**BN2D, "layers": [{"type": "log_softmax"}]}, "layers[0]",
        "log_softmax works over the last axis of a vector", hint="add a flatten layer"),
    bad("softmax-unknown-key", _with(BN1D, layers=[{"type": "flatten"},
                                                  {"type": "softmax", "dim": 0}]),
        "layers[1].dim", "unknown key 'dim'"),
    # bce, bce_with_logits
    bad("bce-target-above-one", _with(BCE, loss={"target": [1, 0, 1.5, 0]}), "loss.target[2]",
        "a bce target lies in [0, 1]"),
    bad("bce-target-negative", _with(BCE, loss={"target": [1, 0, 1, -1]}), "loss.target[3]",
        "lies in [0, 1]"),
    bad("bce-target-shape", _with(BCE, loss={"target": [1, 0]}), "loss.target",
        "expected shape 4 (the output of flatten_1), got 2"),
    bad("bce-reduction", _with(BCE, loss={"reduction": "half_sum"}), "loss.reduction",
        "unknown reduction 'half_sum'", hint="mean, sum"),
    bad("bce-output-above-one", _with(BCE, input=[[0.5, 2], [1, 0]]), "loss",
        "bce needs probabilities in [0, 1], but flatten_1.output[1] is 2",
        hint="bce_with_logits"),
    bad("bce-no-target", _with(BCE, loss={"target": None}), "loss", "bce loss has no 'target'"),
    bad("bce-logits-target", _with(BCE, loss={"type": "bce_with_logits",
                                              "target": [1, 0, 2, 0]}),
        "loss.target[2]", "a bce_with_logits target lies in [0, 1]"),
    bad("bce-logits-reduction-none", _with(BCE, loss={"type": "bce_with_logits",
                                                      "reduction": "none"}),
        "loss.reduction", "unknown reduction 'none'"),
    # nll
    bad("nll-class-out-of-range", _with(NLL, loss={"target": [1, 2]}), "loss.target[1]",
        "class index 2 out of range: the output has 2 classes"),
    bad("nll-class-negative", _with(NLL, loss={"target": [-1, 0]}), "loss.target[0]",
        "out of range"),
    bad("nll-class-fraction", _with(NLL, loss={"target": [0.5, 0]}), "loss.target[0]",
        "not a whole number"),
    bad("nll-probabilities", _with(NLL, loss={"target": [[0, 1], [1, 0]]}), "loss.target",
        "expected 2 class indices, one per sample, got shape 2×2", hint="cross_entropy"),
    bad("nll-unbatched-list", _with(NLL, input=[[-1, -2]], loss={"target": [1]}),
        "loss.target", "expected a class index (0 to 1), got shape 1"),
    bad("nll-on-map", _with(NLL, layers=[{"type": "relu"}]), "loss",
        "nll needs a vector of log-probabilities", hint="flatten"),
    bad("nll-reduction", _with(NLL, loss={"reduction": "sum"}), "loss.reduction",
        "unknown key 'reduction'"),
]


@pytest.mark.parametrize("number", range(len(FAMILY_B_CASES)),
                         ids=[case.id for case in FAMILY_B_CASES])
def test_family_b_bad_input(number, tmp_path, monkeypatch):
    # the table and the json reports alternate (each fails the same way: test_bad_inputs)
    (case,) = FAMILY_B_CASES[number].values
    _run_bad(case, "json" if number % 2 else "table", tmp_path, monkeypatch)
