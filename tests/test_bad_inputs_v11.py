"""Malformed contract v1.1 problems: each exits 2 with one line ``error: <file>: <where>:
<what>`` (its hint, if any, on the same line), never a traceback.

The cases are grouped by feature, one parametrize list each; the checks are those of
tests/test_bad_inputs.py (:func:`check_error_output`)."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
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
        out["loss"] = {**out.get("loss", {}), **loss}
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
#: 4 vectors of 2 written as a matrix (an input so written is one 4×2 map)
BN1D_ROWS = [[1, 2], [3, 6], [5, 4], [7, 0]]
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
        "unknown mode", hint="allowed: eval, train"),  # sorted, as for a misspelt word
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
    # "eta" is a learning rate's name, but in a batch norm a slip of "beta"
    bad("bn-eta-for-beta", _with(BN2D, layer=0, eta=[0.5]), "layers[0].eta",
        "unknown key 'eta'", hint="did you mean 'beta'?"),
    bad("bn2d-on-vector", {**BN1D, "layers": [{"type": "flatten"}, {"type": "batchnorm2d"}]},
        "layers[1]", "batchnorm2d needs a feature map", hint="batchnorm1d"),
    bad("bn1d-on-map", {**BN2D, "layers": [{"type": "batchnorm1d"}]}, "layers[0]",
        "batchnorm1d normalises vectors", hint="batchnorm2d"),
    # N×K meant as N vectors is one H×W map: batchnorm2d alone would normalise all 8 numbers
    # as one channel, so the hint says how to write the vectors
    bad("bn1d-on-2d-input", {"input": BN1D_ROWS, "layers": [{"type": "batchnorm1d"}],
                             "delta": BN1D_ROWS},
        "layers[0]", "batchnorm1d normalises vectors", hint="a 2-D input is one 4×2 map, not 4 "
        "vectors: write 4 vectors of 2 as 4×1×1×2 and put {\"type\": \"flatten\"} before the "
        "batchnorm1d"),
    # one vector as a 1×K matrix: the N×1×1×K form would fail train mode's batch of N ≥ 2
    bad("bn1d-on-2d-input-of-one-row", {"input": [[1, 2, 3]], "layers": [
        {"type": "batchnorm1d"}], "delta": [[1, 0, 0]]},
        "layers[0]", "batchnorm1d normalises vectors", hint="a 2-D input is one 1×3 map, not a "
        "vector: give one vector of 3 as a list of 3 numbers, with \"mode\": \"eval\" and its "
        "running_mean and running_var (\"train\" needs a batch of N ≥ 2 vectors"),
    bad("bn2d-one-value-per-channel", {"input": [[5]], "layers": [{"type": "batchnorm2d"}],
                                       "delta": [[1]]},
        "layers[0]", "single value per channel", hint="eval"),
    bad("bn1d-batch-of-one", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "flatten"}, {"type": "batchnorm1d"}], "delta": [1, 2, 3, 4]},
        "layers[1]", "single value per feature (its input is 4): the batch mean and variance "
                     "need a batch of N ≥ 2 (N vectors of K are an input N×1×1×K, then a "
                     "flatten layer)"),
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
        "softmax works over the last axis of a vector (K or N×K), but its input is a feature "
        "map of 2×2×2×2: add a flatten layer before it"),
    bad("log-softmax-on-map", {**BN2D, "layers": [{"type": "log_softmax"}]}, "layers[0]",
        "log_softmax works over the last axis of a vector", hint=None),
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
        "unknown reduction 'half_sum' for bce (half_sum is mse's ½ Σ)", hint="allowed: mean, sum"),
    bad("bce-output-above-one", _with(BCE, input=[[0.5, 2], [1, 0]]), "loss",
        "bce needs probabilities in [0, 1], but flatten_1.output[1] is 2",
        hint="bce_with_logits"),
    # 0.33 + 0.56 + 0.11 is 1.0000000000000002 in floats (refused, as torch does): every
    # digit, never "is 1"
    bad("bce-output-past-one-by-rounding", {"input": [[0.33, 0.56, 0.11]], "layers": [
        {"type": "conv2d", "kernel": [[1, 1, 1]]}], "loss": {"type": "bce", "target": [[0.5]]}},
        "loss", "bce needs probabilities in [0, 1], but conv2d_1.output[0,0] is "
        "1.0000000000000002, just past 1", hint="bce_with_logits"),
    # the cell counted as the report counts it
    bad("bce-output-above-one-one-based", _with(BCE, input=[[0.5, 2], [1, 0]]), "loss",
        "bce needs probabilities in [0, 1], but flatten_1.output[2] is 2",
        hint="bce_with_logits", args=("--one-based",)),
    bad("bce-no-target", _with(BCE, loss={"target": None}), "loss", "bce loss has no 'target'"),
    bad("bce-logits-reduction-none", _with(BCE, loss={"type": "bce_with_logits",
                                                      "reduction": "none"}),
        "loss.reduction", "unknown reduction 'none'"),
    # nll
    bad("nll-class-out-of-range", _with(NLL, loss={"target": [1, 2]}), "loss.target[1]",
        "class index 2 out of range: the output has 2 classes"),
    bad("nll-class-negative", _with(NLL, loss={"target": [-1, 0]}), "loss.target[0]",
        "out of range"),
    # PyTorch's ignore_index: said to be no index of cnngrad's
    bad("nll-ignore-index", _with(NLL, loss={"target": [-100, 0]}), "loss.target[0]",
        "class index -100 out of range: the output has 2 classes",
        hint="PyTorch's default ignore_index, -100, leaves a sample out of its loss; cnngrad "
             "has no ignore_index, so every sample counts: give each its class (or leave the "
             "sample out of the batch)"),
    # a batch of one: leaving its sample out would leave none
    bad("nll-ignore-index-batch-of-one", _with(NLL, input=[[[[-1, -2]]]],
                                               loss={"target": [-100]}), "loss.target[0]",
        "class index -100 out of range",
        hint="PyTorch's default ignore_index, -100, leaves a sample out of its loss; cnngrad "
             "has no ignore_index: give the sample's class"),
    # a huge index is named as written, not in its 301 digits
    bad("nll-class-huge", _with(NLL, loss={"target": [1e300, 0]}), "loss.target[0]",
        "class index 1e+300 out of range: the output has 2 classes"),
    # past 28 digits too, every digit is kept (not rounded to decimal's default precision)
    bad("nll-class-huge-digits",
        _with(NLL, loss={"target": [123456789012345678901234567891234 * 10**7, 0]}),
        "loss.target[0]", "class index 1.23456789012345678901234567891234e+39 out of range"),
    bad("nll-class-fraction", _with(NLL, loss={"target": [0.5, 0]}), "loss.target[0]",
        "not a whole number"),
    bad("nll-probabilities", _with(NLL, loss={"target": [[0, 1], [1, 0]]}), "loss.target",
        "expected 2 class indices, one per sample, got shape 2×2", hint="cross_entropy"),
    bad("nll-unbatched-list", _with(NLL, input=[[-1, -2]], loss={"target": [1]}),
        "loss.target", "expected a class index (0 to 1), got shape 1"),
    bad("nll-on-map", _with(NLL, layers=[{"type": "relu"}]), "loss",
        "add a flatten layer before the loss", hint="log_softmax → nll"),
    bad("nll-reduction", _with(NLL, loss={"reduction": "sum"}), "loss.reduction",
        "unknown key 'reduction'"),
]


@pytest.mark.parametrize("number", range(len(FAMILY_B_CASES)),
                         ids=[case.id for case in FAMILY_B_CASES])
def test_family_b_bad_input(number, tmp_path, monkeypatch):
    # the table and the json reports alternate (each fails the same way: test_bad_inputs)
    (case,) = FAMILY_B_CASES[number].values
    _run_bad(case, "json" if number % 2 else "table", tmp_path, monkeypatch)


# ------------------------------------------- conv1d, maxpool1d, avgpool1d, conv_transpose2d, upsample

#: a 2-channel signal of 6 under one 2-tap filter
SIGNAL = {"input": [[1, 2, 3, 4, 5, 6], [0, 1, 0, 1, 0, 1]],
          "layers": [{"type": "conv1d", "kernel": [[[1, 0], [0, 1]]]}],
          "delta": [[1, 1, 1, 1, 1]]}
TWO_FILTERS = [[[1, 0], [0, 1]], [[1, 1], [1, 1]]]
POOL1D = {"input": [1, 3, 2, 5, 4, 0], "layers": [{"type": "maxpool1d", "size": 2}],
          "delta": [1, 1, 1]}
TRANSPOSED = {"input": [[1, 2], [3, 4]],
              "layers": [{"type": "conv_transpose2d", "kernel": [[1, 0], [0, 1]], "stride": 2}],
              "delta": [[1] * 4] * 4}
TWO_OUT = [[[1, 0], [0, 1]], [[1, 1], [1, 1]]]
UPSAMPLE = {"input": [[1, 2], [3, 4]], "layers": [{"type": "upsample", "scale": 2}],
            "delta": [[1] * 4] * 4}
ONE_D_FIRST = {"input": [1, 2, 3], "layers": [{"type": "maxpool1d", "size": 1}]}

FAMILY_A_CASES = [
    # conv1d
    bad("conv1d-no-kernel", _with(SIGNAL, layer=0, kernel=None), "layers[0]",
        "conv1d layer has no 'kernel'"),
    bad("conv1d-1d-kernel-two-channels", _with(SIGNAL, layer=0, kernel=[1, 2]),
        "layers[0].kernel", "a 1-D kernel is one filter over one channel, but the input has 2",
        hint="2×k (one filter)"),
    bad("conv1d-2d-kernel-rows", _with(SIGNAL, layer=0, kernel=[[1, 2], [3, 4], [5, 6]]),
        "layers[0].kernel", "must be 2×k (one filter), got 3×2", hint="F×(C_in/groups)×k"),
    bad("conv1d-3d-kernel-channels", _with(SIGNAL, layer=0, kernel=[[[1, 0]], [[0, 1]]]),
        "layers[0].kernel", "kernel has 1 channel per filter, expected 2",
        hint="expected shape F×2×k"),
    bad("conv1d-kernel-rank-4", _with(SIGNAL, layer=0, kernel=[[[[1]]]]), "layers[0].kernel",
        "rank"),
    bad("conv1d-padding-full", _with(SIGNAL, layer=0, padding="full"), "layers[0].padding",
        "unknown padding 'full'", hint="same, valid"),
    bad("conv1d-padding-three", _with(SIGNAL, layer=0, padding=[1, 2, 3]),
        "layers[0].padding", "[left, right], \"valid\" or \"same\"; got a list of 3"),
    bad("conv1d-padding-negative", _with(SIGNAL, layer=0, padding=[1, -1]),
        "layers[0].padding[1]", "expected an integer ≥ 0"),
    bad("conv1d-stride-pair", _with(SIGNAL, layer=0, stride=[1, 2]), "layers[0].stride",
        "stride is one integer ≥ 1, got a list of 2"),
    bad("conv1d-dilation-zero", _with(SIGNAL, layer=0, dilation=0), "layers[0].dilation",
        "expected an integer ≥ 1, got 0"),
    bad("conv1d-groups", _with(SIGNAL, layer=0, groups=3), "layers[0].groups",
        "groups=3 does not divide the 2 input channels", hint="groups divides them: 1 or 2"),
    bad("conv1d-bias-length", _with(SIGNAL, layer=0, bias=[1, 2, 3]), "layers[0].bias",
        "bias of shape 3 does not fit 1 filter(s) with output length 5",
        hint="1×5 (untied, F×L′)"),
    bad("conv1d-bias-number-two-filters", _with(SIGNAL, layer=0, kernel=TWO_FILTERS, bias=0.5),
        "layers[0].bias", "a single-number bias needs one filter, this layer has 2",
        hint="a vector of 2"),
    bad("conv1d-untied-bias-nchw-under-nhwc",
        {"layout": "nhwc", "input": [[1, 0], [2, 1], [3, -1]],
         "layers": [{"type": "conv1d", "kernel": [[[1], [0]], [[0], [1]]], "bias": [[0, 1]]}],
         "delta": [[1], [1]]},
        "layers[0].bias", "bias of shape 1×2 does not fit", hint="2×1 (untied, L′×F)"),
    bad("conv1d-kernel-too-long", _with(SIGNAL, layer=0, kernel=[[[1] * 8, [1] * 8]]),
        "layers[0].kernel", "the kernel spans 8, longer than the padded input 6",
        hint='at most 6 long here, or "padding": 1 (each side) for this one'),
    bad("conv1d-dilated-kernel-too-long", _with(SIGNAL, layer=0, dilation=3,
                                                         kernel=[[[1, 0, 1], [0, 1, 0]]]),
        "layers[0].kernel", "the kernel spans 7 (with dilation), longer than the padded input 6",
        hint='at most 2 long at this dilation here, or "padding": 1 (each side)'),
    bad("conv1d-reflect-too-wide", _with(SIGNAL, layer=0, padding=6, padding_mode="reflect"),
        "layers[0].padding", "reflect padding of 6 (left) must be smaller than the input length"),
    bad("conv1d-reflect-too-wide-right", _with(SIGNAL, layer=0, padding=[0, 6],
                                              padding_mode="reflect"),
        "layers[0].padding[1]", "reflect padding of 6 (right) must be smaller than the input"),
    bad("conv1d-padding-mode", _with(SIGNAL, layer=0, padding_mode="zero"),
        "layers[0].padding_mode", "unknown padding mode 'zero'", hint="zeros"),
    bad("conv1d-flip-text", _with(SIGNAL, layer=0, flip_kernel="yes"), "layers[0].flip_kernel",
        "expected true or false"),
    bad("conv1d-output-padding", _with(SIGNAL, layer=0, output_padding=1),
        "layers[0].output_padding", "unknown key 'output_padding' in a conv1d layer"),
    bad("conv1d-on-vector", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "flatten"}, {"type": "conv1d", "kernel": [1]}], "delta": [1, 1, 1, 1]},
        "layers[1]", "conv1d needs a feature map", hint="before the flatten layer"),
    bad("conv1d-after-conv2d", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "conv2d", "kernel": [[1]]}, {"type": "conv1d", "kernel": [1]}],
        "delta": [[1, 1], [1, 1]]},
        "layers[1].type", "conv1d works on 1-D maps", hint="cannot be mixed"),
    # maxpool1d, avgpool1d
    bad("maxpool1d-no-size", _with(POOL1D, layer=0, size=None), "layers[0]",
        "maxpool1d layer has no 'size'"),
    bad("maxpool1d-size-pair", _with(POOL1D, layer=0, size=[1, 2]), "layers[0].size",
        "a 1-D pool's size is one integer, got a list of 2"),
    bad("maxpool1d-stride-zero", _with(POOL1D, layer=0, stride=0), "layers[0].stride",
        "expected an integer ≥ 1, got 0"),
    bad("maxpool1d-padding-over-half", _with(POOL1D, layer=0, size=3, padding=2),
        "layers[0].padding", "padding 2 is more than half the window 3", hint="at most 1"),
    bad("maxpool1d-ties", _with(POOL1D, layer=0, ties="last"), "layers[0].ties",
        "unknown tie rule 'last'", hint="all, first, split"),
    bad("maxpool1d-window-too-long", _with(POOL1D, layer=0, size=7), "layers[0].size",
        "the window 7 is longer than the padded input 6"),
    bad("avgpool1d-count-include-pad-text",
        {**POOL1D, "layers": [{"type": "avgpool1d", "size": 2, "count_include_pad": "no"}]},
        "layers[0].count_include_pad", "expected true or false"),
    bad("avgpool1d-ties", {**POOL1D, "layers": [{"type": "avgpool1d", "size": 2,
                                                 "ties": "first"}]},
        "layers[0].ties", "unknown key 'ties' in an avgpool1d layer"),
    bad("maxpool1d-after-maxpool2d", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "maxpool2d", "size": 1}, {"type": "maxpool1d", "size": 1}],
        "delta": [[1, 1], [1, 1]]},
        "layers[1].type", "maxpool1d works on 1-D maps"),
    # conv_transpose2d
    bad("convT-no-kernel", _with(TRANSPOSED, layer=0, kernel=None), "layers[0]",
        "conv_transpose2d layer has no 'kernel'"),
    bad("convT-output-padding-stride", _with(TRANSPOSED, layer=0, output_padding=2),
        "layers[0].output_padding",
        "output_padding 2 must be smaller than the stride 2 or the dilation 1",
        hint="allowed: 0…1"),
    bad("convT-output-padding-column", _with(TRANSPOSED, layer=0, output_padding=[0, 2]),
        "layers[0].output_padding[1]", "(along the columns)"),
    bad("convT-output-padding-stride-one", _with(TRANSPOSED, layer=0, stride=1,
                                                 output_padding=1),
        "layers[0].output_padding", "must be smaller than the stride 1 or the dilation 1"),
    bad("convT-2d-kernel-two-channels",
        {**TRANSPOSED, "input": [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]},
        "layers[0].kernel", "a 2-D kernel is one channel in and one out, but the input has 2",
        hint="2×k1×k2 (one output channel)"),
    bad("convT-3d-kernel-channels",
        _with({**TRANSPOSED, "input": [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]}, layer=0,
              kernel=[[[1]], [[2]], [[3]]]),
        "layers[0].kernel", "a 3-D kernel over a 2-channel input must be 2×k1×k2"),
    bad("convT-4d-kernel-in-channels", _with(TRANSPOSED, layer=0, kernel=[[[[1]]], [[[2]]]]),
        "layers[0].kernel", "kernel has 2 input channels, the input has 1",
        hint="C_in×(F/groups)×k1×k2"),
    bad("convT-nhwc-kernel-in-channels",
        {"layout": "nhwc", "input": [[[1, 2], [3, 4]], [[1, 2], [3, 4]]],
         "layers": [{"type": "conv_transpose2d", "kernel": [[[[1, 2, 3]]]]}],
         "delta": [[[1]]]},
        "layers[0].kernel", "kernel has 3 input channels, the input has 2",
        hint="k1×k2×(F/groups)×C_in"),
    bad("convT-bias-length", _with(TRANSPOSED, layer=0, kernel=TWO_OUT, bias=[1, 2, 3]),
        "layers[0].bias", "bias of shape 3 does not fit 2 output channel(s)",
        hint="a vector of 2"),
    bad("convT-bias-number-two-out", _with(TRANSPOSED, layer=0, kernel=TWO_OUT, bias=1),
        "layers[0].bias", "a single-number bias needs one output channel"),
    bad("convT-bias-matrix", _with(TRANSPOSED, layer=0, bias=[[1]]), "layers[0].bias",
        "rank 0 to 1"),
    bad("convT-padding-crops-all", _with(TRANSPOSED, layer=0, padding=3), "layers[0].padding",
        "crops the whole output"),
    bad("convT-padding-four-sides", _with(TRANSPOSED, layer=0, padding=[1, 1, 1, 1]),
        "layers[0].padding", "expected an integer or [rows, cols], got a list of 4"),
    bad("convT-groups", _with(TRANSPOSED, layer=0, groups=2), "layers[0].groups",
        re.compile("groups=2 does not divide the 1 input channel$"),
        hint="groups is 1 for one input channel"),
    bad("convT-flip-kernel", _with(TRANSPOSED, layer=0, flip_kernel=True),
        "layers[0].flip_kernel", "unknown key 'flip_kernel' in a conv_transpose2d layer"),
    bad("convT-on-1d", {**ONE_D_FIRST, "layers": ONE_D_FIRST["layers"] + [
        {"type": "conv_transpose2d", "kernel": [[1]]}], "delta": [1, 2, 3]},
        "layers[1].type", "conv_transpose2d works on 2-D maps"),
    bad("convT-delta-shape", _with(TRANSPOSED, delta=[[1] * 3] * 3), "delta",
        "expected shape 4×4"),
    # upsample
    bad("upsample-no-scale", _with(UPSAMPLE, layer=0, scale=None), "layers[0]",
        "upsample layer has no 'scale'"),
    bad("upsample-scale-zero", _with(UPSAMPLE, layer=0, scale=0), "layers[0].scale",
        "expected an integer ≥ 1, got 0"),
    bad("upsample-scale-fraction", _with(UPSAMPLE, layer=0, scale=1.5), "layers[0].scale",
        "expected an integer ≥ 1, got 1.5"),
    bad("upsample-scale-text", _with(UPSAMPLE, layer=0, scale="2"), "layers[0].scale",
        "expected an integer ≥ 1"),
    bad("upsample-scale-three", _with(UPSAMPLE, layer=0, scale=[1, 2, 3]), "layers[0].scale",
        "expected an integer or [rows, cols], got a list of 3"),
    bad("upsample-1d-scale-pair", {**ONE_D_FIRST, "layers": ONE_D_FIRST["layers"] + [
        {"type": "upsample", "scale": [2, 2]}], "delta": [1] * 6},
        "layers[1].scale", "a 1-D map has one axis: the scale is an integer"),
    bad("upsample-mode", _with(UPSAMPLE, layer=0, mode="bilinear"), "layers[0].mode",
        "unknown key 'mode' in an upsample layer"),
    bad("upsample-on-vector", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "flatten"}, {"type": "upsample", "scale": 2}], "delta": [1] * 8},
        "layers[1]", "upsample needs a feature map", hint="before the flatten layer"),
    bad("upsample-delta-shape", _with(UPSAMPLE, delta=[[1] * 2] * 2), "delta",
        "expected shape 4×4"),
]


@pytest.mark.parametrize("number", range(len(FAMILY_A_CASES)),
                         ids=[case.id for case in FAMILY_A_CASES])
def test_family_a_bad_input(number, tmp_path, monkeypatch):
    (case,) = FAMILY_A_CASES[number].values
    _run_bad(case, "json" if number % 2 else "table", tmp_path, monkeypatch)


# ------------------------------------------- layouts, graphs (add, concat), same padding, dense and CE

#: 3×3 maps with 3 channels, channels last
HWC = [[[1, 0, 2], [0, 1, 1], [2, 2, 0]], [[1, 1, 1], [0, 0, 1], [3, 1, 0]],
       [[0, 2, 1], [1, 0, 0], [1, 1, 1]]]
NHWC = {"layout": "nhwc", "input": HWC,
        "layers": [{"type": "conv2d", "kernel": [[[[1, 0]] * 3] * 2] * 2}],
        "delta": [[[1, 0], [0, 1]], [[1, 1], [0, 0]]]}
#: a residual block: conv → relu → add(relu, input)
RESIDUAL = {"input": [[1, -2, 0], [0, 3, 1], [2, 2, -1]],
            "layers": [{"type": "conv2d", "kernel": [[1]], "name": "c"},
                       {"type": "relu", "name": "r"},
                       {"type": "add", "inputs": ["r", "input"]}],
            "delta": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
VECTORS = {"input": [[1, 2], [3, 4]],
           "layers": [{"type": "flatten", "name": "f"},
                      {"type": "dense", "weights": [[1, 0, 0, 1]], "name": "d1"},
                      {"type": "dense", "weights": [[0, 1, 1, 0]], "input": "f", "name": "d2"},
                      {"type": "concat", "inputs": ["d1", "d2"]}],
           "delta": [1, -1]}
CE = {"input": [[1, 2], [3, 4]], "layers": [{"type": "flatten"}],
      "loss": {"type": "cross_entropy", "target": [0.25, 0.25, 0.25, 0.15]}}
CE_BATCH = {"input": [[[[1, 2]]], [[[3, 4]]]], "layers": [{"type": "flatten"}],
            "loss": {"type": "cross_entropy", "target": [[0.5, 0.5], [0.7, 0.2]]}}


def _layers(doc: dict, *layers) -> dict:
    return {**copy.deepcopy(doc), "layers": list(layers)}


CORE_CASES = [
    # layout
    bad("layout-upper", _with(NHWC, layout="NHWC"), "layout", "unknown layout 'NHWC'",
        hint="did you mean 'nhwc'"),
    bad("layout-number", _with(NHWC, layout=1), "layout", "unknown layout 1",
        hint="nchw, nhwc"),
    bad("nhwc-kernel-channels-first", _with(NHWC, layer=0, kernel=[[[1, 0], [0, 1]]] * 3),
        "layers[0].kernel", "must be k1×k2×3 (one filter), got 3×2×2"),
    bad("nhwc-hwio-wrong-channels", _with(NHWC, layer=0, kernel=[[[[1, 0]] * 2] * 2] * 2),
        "layers[0].kernel", "channels per filter, expected 3", hint="k1×k2×3×F (HWIO)"),
    bad("nhwc-untied-bias-channels-first", _with(NHWC, layer=0, bias=[[[0, 0], [0, 0]]] * 3),
        "layers[0].bias", "does not fit 2 filter(s)", hint="2×2×2 (untied)"),
    bad("nhwc-delta-channels-first", _with(NHWC, delta=[[[1, 0], [0, 1]]] * 2 + [[[0, 0]] * 2]),
        "delta", "expected shape 2×2×2"),
    bad("nhwc-mse-target-shape", _with(NHWC, delta=None, loss={"type": "mse", "target":
                                                                 [[1, 2], [3, 4]]}),
        "loss.target", "expected shape 2×2×2"),
    bad("one-d-input-to-2d-problem", _with(NHWC, input=[1, 2, 3], layout=None), "input",
        "rank"),
    bad("mixed-1d-and-2d-maps", {"input": [[1, 2, 3, 4, 5, 6]] * 2, "layers": [
        {"type": "conv1d", "kernel": [[1, 1]] * 2}, {"type": "maxpool2d", "size": 2}],
        "delta": [1, 1]}, "layers[1].type", "maxpool2d works on 2-D maps, but this "
        "problem's maps are 1-D", hint="cannot be mixed"),
    # graphs: what a layer reads
    bad("input-unknown-name", _with(RESIDUAL, layer=1, input="c2"), "layers[1].input",
        "unknown layer 'c2' (known here: input, c)", hint="did you mean 'c'"),
    bad("input-later-layer", _with(RESIDUAL, layer=1, input="add_1"), "layers[1].input",
        "'add_1' is listed after this layer", hint="comes after what it reads"),
    bad("input-itself", _with(RESIDUAL, layer=1, input="r"), "layers[1].input",
        "'r' is this layer itself"),
    bad("input-not-a-string", _with(RESIDUAL, layer=1, input=1), "layers[1].input",
        "expected a layer name or \"input\", got a number"),
    bad("layer-named-input", _with(RESIDUAL, layer=0, name="input"), "layers[0].name",
        "bad layer name 'input'", hint="not 'input' (the problem's input)"),
    bad("output-read-by-no-layer", _with(RESIDUAL, layer=2, inputs=["c", "input"]),
        "layers[1]", "the output of r is read by no layer", hint="or remove r"),
    bad("conv-with-inputs", _with(RESIDUAL, layer=0, inputs=["input"]), "layers[0].inputs",
        "unknown key 'inputs' in a conv2d layer", hint="'input'"),
    # add
    bad("add-no-inputs", _with(RESIDUAL, layer=2, inputs=None), "layers[2]",
        "add layer has no 'inputs'"),
    bad("add-with-input", _with(RESIDUAL, layer=2, inputs=None, input="r"), "layers[2].input",
        "name them in 'inputs'"),
    bad("add-one-input", _with(RESIDUAL, layer=2, inputs=["r"]), "layers[2].inputs",
        "add needs two or more inputs, got 1"),
    bad("add-inputs-string", _with(RESIDUAL, layer=2, inputs="r"), "layers[2].inputs",
        "expected a list of two or more layer names, got a string"),
    bad("add-unknown-input", _with(RESIDUAL, layer=2, inputs=["r", "relu_1"]),
        "layers[2].inputs[1]", "unknown layer 'relu_1'"),
    bad("add-shapes-differ", _layers(RESIDUAL, {"type": "conv2d", "kernel": [[1, 1]],
                                                "name": "c"},
                                     {"type": "relu", "name": "r"},
                                     {"type": "add", "inputs": ["r", "input"]}),
        "layers[2].inputs[1]", "add needs inputs of one shape: input gives 3×3, r gives 3×2"),
    # a 1-D map L and a vector L are both shown "3": the message says which is which
    bad("add-1d-map-and-vector-alike", {"input": [1, -2, 3], "layers": [
        {"type": "conv1d", "kernel": [1], "name": "c"}, {"type": "flatten", "name": "f"},
        {"type": "add", "inputs": ["c", "f"]}], "delta": [1, 1, 1]},
        "layers[2].inputs[1]", "add cannot add a vector (f, 3) to a feature map (c, 3)",
        hint="put a flatten layer after c"),
    bad("add-map-and-vector", _layers(RESIDUAL, {"type": "flatten", "name": "f"},
                                      {"type": "add", "inputs": ["f", "input"]}),
        "layers[1].inputs[1]", "add cannot add a feature map (input, 3×3) to a vector (f, 9)",
        hint="put a flatten layer after input"),
    # a flatten would not help: the sizes differ (the hint led to the next error)
    bad("add-map-and-shorter-vector", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "flatten", "name": "f"}, {"type": "dense", "name": "d",
                                           "weights": [[1, 0, 0, 1]]},
        {"type": "add", "inputs": ["d", "input"]}], "delta": [1]},
        "layers[2].inputs[1]", "add cannot add a feature map (input, 2×2) to a vector (d, 1)",
        hint="a flatten would give 4 values a sample, the vector has 1"),
    # concat
    bad("concat-map-and-vector", _layers(RESIDUAL, {"type": "flatten", "name": "f"},
                                         {"type": "concat", "inputs": ["f", "input"]}),
        "layers[1].inputs[1]", "concat cannot join a feature map (input, 3×3) with a vector",
        hint="add a flatten layer"),
    bad("concat-sizes-differ", _layers(RESIDUAL, {"type": "conv2d", "kernel": [[1, 1]],
                                                  "name": "c"},
                                       {"type": "concat", "inputs": ["c", "input"]}),
        "layers[1].inputs[1]", "every other axis must be equal: input gives 3×3, c gives 3×2"),
    bad("concat-delta-shape", _with(VECTORS, delta=[1]), "delta", "expected shape 2"),
    # dense number bias, cross-entropy probabilities
    bad("dense-bias-wrong-length", _with(VECTORS, layer=1, bias=[1, 2]), "layers[1].bias",
        "expected a vector of 1 or a number"),
    bad("dense-bias-matrix", _with(VECTORS, layer=1, bias=[[1]]), "layers[1].bias", "rank"),
    bad("ce-probabilities-not-1", CE, "loss.target", "the probabilities sum to 0.9, not 1",
        hint="class index"),
    bad("ce-probabilities-row", CE_BATCH, "loss.target[1]",
        "row 1's probabilities sum to 0.9, not 1"),
]


@pytest.mark.parametrize("number", range(len(CORE_CASES)), ids=[case.id for case in CORE_CASES])
def test_layout_and_graph_bad_input(number, tmp_path, monkeypatch):
    (case,) = CORE_CASES[number].values
    _run_bad(case, "json" if number % 2 else "table", tmp_path, monkeypatch)


# ------------------------------------------- an adversary's corpus: every field, every wrong type

ADVERSARY_CASES = [
    # cross_entropy probability targets: each a probability, each row a distribution
    bad("ce-probability-negative", _with(CE, loss={"target": [0.5, 0.5, 0.5, -0.5]}),
        "loss.target[3]", "a probability lies in [0, 1], got -0.5", hint="class index"),
    bad("ce-probability-above-one", _with(CE, loss={"target": [1.5, -0.5, 0, 0]}),
        "loss.target[0]", "a probability lies in [0, 1], got 1.5"),
    bad("ce-batch-probability-above-one", _with(CE_BATCH, loss={"target": [[0.5, 0.5],
                                                                           [1.5, -0.5]]}),
        "loss.target[1][0]", "a probability lies in [0, 1], got 1.5"),
    bad("ce-sum-just-over-one", _with(CE, loss={"target": [0.25, 0.25, 0.25, 0.25000001]}),
        "loss.target", "sum to 1.00000001, not 1"),
    bad("ce-batch-row-of-zeros", _with(CE_BATCH, loss={"target": [[0.5, 0.5], [0, 0]]}),
        "loss.target[1]", "row 1's probabilities sum to 0, not 1"),
    bad("ce-batch-number-target", _with(CE_BATCH, loss={"target": 1}), "loss.target",
        "expected 2 class indices or probabilities of shape 2×2, got a number"),
    bad("ce-index-fraction-text", _with(CE, loss={"target": "1/2"}), "loss.target",
        "class index 0.5 is not a whole number"),
    # the numbers as written decide, not their floats (0.99999999999999999 reads as 1.0)
    bad("ce-index-just-below-a-whole-number", _with(CE, loss={"target": "0.99999999999999999"}),
        "loss.target", "class index 0.99999999999999999 is not a whole number"),
    bad("nll-index-just-above-a-whole-number",
        _with(NLL, loss={"target": [1, "1.00000000000000001"]}), "loss.target[1]",
        "class index 1.00000000000000001 is not a whole number"),
    bad("ce-probability-just-above-one",
        _with(CE, loss={"target": ["1.00000000000000001", 0, 0, 0]}), "loss.target[0]",
        "a probability lies in [0, 1], got 1.00000000000000001"),
    bad("dropout-mask-just-below-one",
        _with(DROPOUT, layer=1, mask=[1, 0, "0.99999999999999999", 1]), "layers[1].mask[2]",
        "a mask holds 0s and 1s (0 drops a unit, 1 keeps it), got 0.99999999999999999"),
    bad("bce-target-just-above-one", _with(BCE, loss={"target": [1, 0, "1.00000000000000001", 0]}),
        "loss.target[2]", "a bce target lies in [0, 1] (a probability), got 1.00000000000000001"),
    bad("ce-sum-just-past-the-bound", _with(CE, loss={"target": [0.5, "0.5000000010000001", 0, 0]}),
        "loss.target", "the probabilities sum to 1.0000000010000001, not 1 (within 1e-9)"),
    bad("ce-label-smoothing", _with(CE, loss={"label_smoothing": 0.1}),
        "loss.label_smoothing", "unknown key 'label_smoothing' in a cross_entropy loss"),
    # nll
    bad("nll-number-for-a-batch", _with(NLL, loss={"target": 1}), "loss.target",
        "expected 2 class indices, one per sample, got a number"),
    bad("nll-batch-of-one-number", _with(NLL, input=[[[[-1, -2]]]], loss={"target": 0}),
        "loss.target", "expected a list of 1 class index (the batch has one sample), got a "
        "number"),
    bad("nll-one-class", {"input": [[1, 2, 3], [4, 5, 6]], "layers": [
        {"type": "conv1d", "kernel": [[1], [1]]}, {"type": "global_avgpool"},
        {"type": "log_softmax"}], "loss": {"type": "nll", "target": 1}},
        "loss.target", "class index 1 out of range: the output has 1 class (0 to 0)"),
    bad("ce-batch-of-one-number", _with(CE_BATCH, input=[[[[1, 2]]]], loss={"target": 0}),
        "loss.target", "expected a list of 1 class index or probabilities of shape 1×2"),
    bad("nll-target-bool", _with(NLL, loss={"target": [True, 0]}), "loss.target[0]",
        "true is not a number"),
    bad("nll-target-huge", _with(NLL, loss={"target": [1e300, 0]}), "loss.target[0]",
        "out of range"),
    bad("nll-weight", _with(NLL, loss={"weight": [1, 1]}), "loss.weight",
        "unknown key 'weight' in an nll loss"),
    bad("mse-weight", _with(BCE, loss={"type": "mse", "weight": [1, 1, 1, 1]}), "loss.weight",
        "unknown key 'weight' in an mse loss"),
    # bce
    bad("bce-target-null-element", _with(BCE, loss={"target": [1, None, 1, 0]}),
        "loss.target[1]", "null is not a number"),
    bad("bce-target-fraction-above-one", _with(BCE, loss={"target": [1, 0, "4/3", 0]}),
        "loss.target[2]", "lies in [0, 1]"),
    bad("bce-reduction-upper", _with(BCE, loss={"reduction": "Mean"}), "loss.reduction",
        "unknown reduction 'Mean'", hint="did you mean 'mean'"),
    bad("bce-output-negative", _with(BCE, input=[[0.5, -0.25], [1, 0]]), "loss",
        "flatten_1.output[1] is -0.25"),
    bad("bce-logits-pos-weight", _with(BCE, loss={"type": "bce_with_logits", "pos_weight": 2}),
        "loss.pos_weight", "unknown key 'pos_weight'"),
    # dropout
    bad("dropout-p-bool", _with(DROPOUT, layer=1, p=True), "layers[1].p", "true is not a number"),
    bad("dropout-p-fraction-one", _with(DROPOUT, layer=1, p="3/3"), "layers[1].p",
        "p must be in [0, 1)"),
    # p is checked as written: a p just below 1 whose float64 is 1 is named as written, and
    # one just above 1 is not shown as "1"
    bad("dropout-p-rounds-to-one", _with(DROPOUT, layer=1, p="0.99999999999999999999"),
        "layers[1].p", "p = 0.99999999999999999999 is below 1, but float64 rounds it to 1",
        hint="0.9999999999999999 is the largest p"),
    bad("dropout-p-just-above-one", _with(DROPOUT, layer=1, p="1.00000000000000000001"),
        "layers[1].p", "p must be in [0, 1) (the probability of dropping a unit), got "
        "1.00000000000000000001"),
    bad("dropout-p-nan", _with(DROPOUT, layer=1, p="nan"), "layers[1].p",
        "not a finite number"),
    bad("dropout-mask-bools", _with(DROPOUT, layer=1, mask=[True, False, True, True]),
        "layers[1].mask[0]", "true is not a number"),
    bad("dropout-mask-almost-one", _with(DROPOUT, layer=1, mask=[1, 0.9999999999999999, 1, 1]),
        "layers[1].mask[1]", "a mask holds 0s and 1s (0 drops a unit, 1 keeps it), got "
        "0.9999999999999999"),
    bad("dropout-mask-negative", _with(DROPOUT, layer=1, mask=[1, -1, 1, 1]),
        "layers[1].mask[1]", "got -1"),
    bad("dropout-mask-ragged", _with(DROPOUT, layer=1, mask=[[1, 0], [1]]), "layers[1].mask[1]",
        "row has 1 element, expected 2"),
    bad("dropout-mask-unbatched-for-batch",
        {"input": [[[[1, 2]]], [[[3, 4]]]],
         "layers": [{"type": "flatten"}, {"type": "dropout", "p": 0.5, "mask": [1, 0]}],
         "delta": [[1, 1], [1, 1]]},
        "layers[1].mask", "expected shape 2×2 (the shape of the layer's input), got 2"),
    bad("dropout-rate", _with(DROPOUT, layer=1, rate=0.5), "layers[1].rate",
        "unknown key 'rate' in a dropout layer"),
    # batch norm
    bad("bn-gamma-bool", _with(BN2D, layer=0, gamma=True), "layers[0].gamma", "got true"),
    bad("bn-gamma-null-element", _with(BN2D, layer=0, gamma=[1, None]), "layers[0].gamma[1]",
        "null is not a number"),
    bad("bn-eps-null", _with(BN2D, layer=0, eps=None) | {"layers": [{"type": "batchnorm2d",
                                                                       "eps": None}]},
        "layers[0].eps", "null is not a number"),
    bad("bn-mode-trailing-space", _with(BN2D, layer=0, **{**EVAL, "mode": "eval "}),
        "layers[0].mode", "unknown mode 'eval '", hint="did you mean 'eval'"),
    bad("bn-train-with-running-var", _with(BN2D, layer=0, running_var=[1, 1]),
        "layers[0].running_var", "used only with \"mode\": \"eval\""),
    bad("bn-running-var-negative-fraction",
        _with(BN2D, layer=0, **{**EVAL, "running_var": [1, "-1/3"]}),
        "layers[0].running_var[1]", "a variance cannot be negative"),
    bad("bn1d-on-1d-map", {"input": [[[1, 2, 3]], [[4, 5, 6]]],
                           "layers": [{"type": "maxpool1d", "size": 1}, {"type": "batchnorm1d"}],
                           "delta": [[[1, 1, 1]], [[1, 1, 1]]]},
        "layers[1]", "batchnorm1d normalises vectors", hint="batchnorm2d"),
    bad("bn1d-unbatched-train", {"input": [[1, 2, 3]],
                                 "layers": [{"type": "flatten"}, {"type": "batchnorm1d"}],
                                 "delta": [1, 1, 1]},
        "layers[1]", "single value per feature", hint="eval"),
    bad("bn2d-one-pixel-maps-unbatched", {"input": [[[1]], [[2]]],
                                          "layers": [{"type": "batchnorm2d"}],
                                          "delta": [[[1]], [[1]]]},
        "layers[0]", "single value per channel"),
    bad("bn-nhwc-1d-gamma-length", {"layout": "nhwc", "input": [[1, 0], [2, 1], [3, -1]],
                                    "layers": [{"type": "batchnorm2d", "gamma": [1, 1, 1]}],
                                    "delta": [[1, 1], [1, 1], [1, 1]]},
        "layers[0].gamma", "expected a vector of 1"),
    bad("bn-batch-variance-overflows",
        {"input": [[[[1e308, -1e308]]], [[[-1e308, 1e308]]]],
         "layers": [{"type": "flatten"}, {"type": "batchnorm1d"}], "delta": [[1, 1], [1, 1]]},
        "layers[1]", "the batch variance of feature 0 of batchnorm1d_1's input overflows "
        "to infinity", hint="scale the numbers down"),
    # in float32 the variance overflows from about 1.8e19: x̂ was 0, the output 0, no word
    bad("bn-batch-variance-overflows-float32",
        {"input": [[2e19], [-2e19]], "layers": [{"type": "batchnorm2d"}], "delta": [[1], [0]]},
        "layers[0]", "the batch variance of channel 0 of batchnorm2d_1's input overflows to "
        "infinity", hint="float32 overflows beyond about 3.4e+38: scale the numbers down or "
        "drop --dtype float32", args=("--dtype", "float32")),
    bad("bn-gama-typo", _with(BN2D, layer=0, gama=[1, 1]), "layers[0].gama",
        "unknown key 'gama'", hint="did you mean 'gamma'"),
    # softmax, global_avgpool
    bad("softmax-on-1d-map", {"input": [1, 2, 3], "layers": [{"type": "maxpool1d", "size": 1},
                                                             {"type": "softmax"}],
                              "delta": [1, 1, 1]},
        "layers[1]", "softmax works over the last axis of a vector"),
    bad("global-avgpool-on-vector", _with(BN1D, layers=[{"type": "flatten"},
                                                        {"type": "global_avgpool"}]),
        "layers[1]", "global_avgpool needs a feature map"),
    bad("global-avgpool-keepdims", {"input": MAP, "layers": [{"type": "global_avgpool",
                                                              "keepdims": True}],
                                    "delta": [[1, 2], [3, 4]]},
        "layers[0].keepdims", "unknown key 'keepdims'"),
    # pools: no "same", no pairs in 1-D
    bad("maxpool2d-padding-same", {"input": [[1, 2], [3, 4]],
                                   "layers": [{"type": "maxpool2d", "size": 2,
                                               "padding": "same"}], "delta": [[1]]},
        "layers[0].padding", "expected an integer ≥ 0, got 'same'"),
    bad("avgpool1d-padding-same", _with(POOL1D, layer=0, type="avgpool1d", padding="same"),
        "layers[0].padding", "got 'same'"),
    bad("maxpool1d-padding-pair", _with(POOL1D, layer=0, padding=[1, 1]), "layers[0].padding",
        "a 1-D pool's padding is one integer"),
    bad("maxpool1d-ceil-text", _with(POOL1D, layer=0, ceil_mode="true"), "layers[0].ceil_mode",
        "expected true or false"),
    bad("maxpool1d-dilation", _with(POOL1D, layer=0, dilation=2), "layers[0].dilation",
        "unknown key 'dilation'"),
    # conv1d, conv_transpose2d, upsample: wrong types
    bad("conv1d-groups-bool", _with(SIGNAL, layer=0, groups=True), "layers[0].groups",
        "expected an integer ≥ 1, got true"),
    bad("conv1d-padding-object", _with(SIGNAL, layer=0, padding={"left": 1}),
        "layers[0].padding", "got an object"),
    bad("conv1d-same-reflect-too-wide",
        {"input": [[1, 2, 3]], "layers": [{"type": "conv1d", "kernel": [1, 1, 1], "dilation": 3,
                                           "stride": 2, "padding": "same",
                                           "padding_mode": "reflect"}], "delta": [[1, 1]]},
        "layers[0].padding", "reflect padding of 3 (left) must be smaller than the input"),
    bad("conv1d-nhwc-kernel-channels-first",
        {"layout": "nhwc", "input": [[1, 0], [2, 1], [3, -1]],
         "layers": [{"type": "conv1d", "kernel": [[1, 0, 1], [0, 1, 1]]}], "delta": [[1], [1]]},
        "layers[0].kernel", "must be k×2 (one filter), got 2×3"),
    bad("convT-padding-same", _with(TRANSPOSED, layer=0, padding="same"), "layers[0].padding",
        "got 'same'"),
    bad("convT-output-padding-null", _with(TRANSPOSED, layer=0, output_padding=0) | {
        "layers": [{"type": "conv_transpose2d", "kernel": [[1]], "output_padding": None}]},
        "layers[0].output_padding", "got null"),
    bad("convT-output-padding-equals-dilation",
        _with(TRANSPOSED, layer=0, stride=1, dilation=2, output_padding=2),
        "layers[0].output_padding", "must be smaller than the stride 1 or the dilation 2"),
    bad("convT-untied-bias", _with(TRANSPOSED, layer=0, bias=[[1] * 4] * 4), "layers[0].bias",
        "rank 0 to 1"),
    bad("convT-padding-mode", _with(TRANSPOSED, layer=0, padding_mode="zeros"),
        "layers[0].padding_mode", "unknown key 'padding_mode'"),
    bad("convT-huge-stride", _with(TRANSPOSED, layer=0, stride=10**9), "layers[0].stride",
        "over the limit"),
    bad("upsample-scale-pair-zero", _with(UPSAMPLE, layer=0, scale=[2, 0]),
        "layers[0].scale[1]", "expected an integer ≥ 1, got 0"),
    bad("upsample-scale-huge", _with(UPSAMPLE, layer=0, scale=10**9), "layers[0].scale",
        "over the limit"),
    bad("upsample-scale-factor", _with(UPSAMPLE, layer=0, scale=None, scale_factor=2),
        "layers[0].scale_factor", "unknown key 'scale_factor'", hint="did you mean 'scale'"),
    # torch's names that end in cnngrad's: the last word is the closest known key
    bad("maxpool1d-kernel-size", _with(POOL1D, layer=0, size=None, kernel_size=2),
        "layers[0].kernel_size", "unknown key 'kernel_size'", hint="did you mean 'size'"),
    # a kernel of one rank less is one filter, which groups > 1 cannot split: it said "must
    # be 4×k1×k2 (one filter), got 4×2×2" (conv_transpose2d's C_in×k1×k2 is torch's
    # C_in×1×k1×k2, one output channel per group: tests/test_edge_cases.py)
    bad("conv2d-one-filter-groups", {"input": [[[1, 2], [3, 4]]] * 4, "layers": [
        {"type": "conv2d", "kernel": [[[1]]] * 4, "groups": 2}], "delta": [[1, 1], [1, 1]]},
        "layers[0].groups", re.compile("groups=2 does not divide the 1 filter$"),
        hint="give F×(C_in/groups)×k1×k2 with F a multiple of 2"),
    bad("conv1d-one-filter-groups", {"input": [[1, 2, 3]] * 4, "layers": [
        {"type": "conv1d", "kernel": [[1, 0]] * 4, "groups": 2}], "delta": [1, 1]},
        "layers[0].groups", re.compile("groups=2 does not divide the 1 filter$"),
        hint="F×(C_in/groups)×k"),
    bad("leaky-relu-negative-slope", _layers(UPSAMPLE, {"type": "leaky_relu",
                                                        "negative_slope": 0.1}),
        "layers[0].negative_slope", "unknown key 'negative_slope'",
        hint="did you mean 'slope'"),
    bad("bn-mean", _with(BN2D, layer=0, **{**EVAL, "running_mean": None}, mean=[0, 1]),
        "layers[0].mean", "unknown key 'mean'", hint="did you mean 'running_mean'"),
    # layout
    bad("layout-trailing-space", _with(NHWC, layout="nhwc "), "layout",
        "unknown layout 'nhwc '", hint="did you mean 'nhwc'"),
    bad("layout-null", _with(NHWC) | {"layout": None}, "layout", "unknown layout null"),
    bad("layout-list", _with(NHWC, layout=["nhwc"]), "layout", "unknown layout a list",
        hint='write it as a string, without the brackets: "nhwc"'),
    bad("type-list", _with(NHWC, layer=0, type=["conv2d"]), "layers[0].type",
        "unknown layer type a list", hint='without the brackets: "conv2d"'),
    bad("layout-list-of-two", _with(NHWC, layout=["nhwc", "nchw"]), "layout",
        "unknown layout a list", hint="allowed: nchw, nhwc"),
    bad("nhwc-bce-target-channels-first",
        {"layout": "nhwc", "input": [[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]],
         "layers": [{"type": "sigmoid"}],
         "loss": {"type": "bce", "target": [[[1, 1]], [[1, 1]], [[1, 1]]]}},
        "loss.target", "expected shape 1×2×3"),
    # graphs
    bad("input-null", _with(RESIDUAL) | {"layers": [
        {"type": "conv2d", "kernel": [[1]], "name": "c"},
        {"type": "relu", "name": "r", "input": None},
        {"type": "add", "inputs": ["r", "input"]}]},
        "layers[1].input", "expected a layer name or \"input\", got null"),
    bad("input-upper-case", _with(RESIDUAL, layer=1, input="Input"), "layers[1].input",
        "unknown layer 'Input'", hint="did you mean 'input'"),
    bad("input-default-name-renamed", _with(RESIDUAL, layer=1, input="conv2d_1"),
        "layers[1].input", "unknown layer 'conv2d_1'"),
    bad("duplicate-default-name", _layers(RESIDUAL, {"type": "conv2d", "kernel": [[1]]},
                                          {"type": "relu", "name": "conv2d_2"},
                                          {"type": "conv2d", "kernel": [[1]]},
                                          {"type": "add", "inputs": ["conv2d_2", "input"]}),
        "layers[2]", "its default name 'conv2d_2' is already the name of layers[1]",
        hint='give one of them another "name"'),
    bad("add-inputs-empty", _with(RESIDUAL, layer=2, inputs=[]), "layers[2].inputs",
        "add needs two or more inputs, got 0"),
    bad("add-input-null-element", _with(RESIDUAL, layer=2, inputs=["r", None]),
        "layers[2].inputs[1]", "got null"),
    bad("add-reads-itself", _with(RESIDUAL, layer=2, inputs=["r", "add_1"]),
        "layers[2].inputs[1]", "'add_1' is this layer itself"),
    bad("add-input-twice-leaves-r", _with(RESIDUAL, layer=2, inputs=["input", "input"]),
        "layers[1]", "the output of r is read by no layer"),
    bad("add-channels-differ", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "conv2d", "kernel": [[[1]], [[2]]], "name": "c"},
        {"type": "add", "inputs": ["c", "input"]}], "delta": [[[1, 1], [1, 1]]] * 2},
        "layers[1].inputs[1]", "add needs inputs of one shape"),
    bad("add-inputs-typo", _with(RESIDUAL, layer=2, inputs=None, inputz=["r", "input"]),
        "layers[2].inputz", "unknown key 'inputz'", hint="did you mean 'inputs'"),
    bad("concat-one-input", _layers(RESIDUAL, {"type": "relu", "name": "r"},
                                    {"type": "concat", "inputs": ["r"]}),
        "layers[1].inputs", "concat needs two or more inputs, got 1"),
    bad("concat-axis", _layers(RESIDUAL, {"type": "relu", "name": "r"},
                               {"type": "concat", "inputs": ["r", "input"], "axis": 1}),
        "layers[1].axis", "unknown key 'axis' in a concat layer"),
    bad("concat-1d-lengths-differ", {"input": [[1, 2, 3]], "layers": [
        {"type": "conv1d", "kernel": [1, 1], "name": "c"},
        {"type": "concat", "inputs": ["c", "input"]}], "delta": [[1, 1], [1, 1]]},
        "layers[1].inputs[1]", "every other axis must be equal"),
    bad("dangling-branch-of-three", _layers(RESIDUAL, {"type": "relu", "name": "a"},
                                            {"type": "tanh", "name": "t", "input": "input"},
                                            {"type": "sigmoid", "input": "input"}),
        "layers[0]", "the output of a is read by no layer"),
    bad("mixed-through-a-branch", {"input": [[1, 2, 3], [4, 5, 6]], "layers": [
        {"type": "conv2d", "kernel": [[1]], "name": "c2"},
        {"type": "conv1d", "kernel": [1], "name": "c1", "input": "input"},
        {"type": "add", "inputs": ["c1", "c2"]}], "delta": [[1, 2, 3], [4, 5, 6]]},
        "layers[1].type", "conv1d works on 1-D maps", hint="cannot be mixed"),
    bad("dense-reads-map-by-name", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "flatten", "name": "f"},
        {"type": "dense", "weights": [[1, 1, 1, 1]], "input": "input"}], "delta": [1]},
        "layers[1]", "dense needs a vector input", hint="add a flatten layer"),
    # N×K meant as N vectors, the weights K wide: a flatten alone would make one vector of
    # N·K, so the hint says how to write the vectors (weights of another width: a flatten)
    bad("dense-on-2d-input-of-rows", {"input": [[1, 2], [3, 4], [5, 6]], "layers": [
        {"type": "dense", "weights": [[1, 1]]}], "delta": [[1], [1], [1]]},
        "layers[0]", "dense needs a vector input", hint="a 2-D input is one 3×2 map, not 3 "
        "vectors: write 3 vectors of 2 as 3×1×1×2 and put {\"type\": \"flatten\"} before the "
        "dense layer; or, for one vector of the map's 6 numbers, add a flatten layer before it "
        "and give weights 6 wide"),
    bad("dense-on-2d-input-flattened", {"input": [[1, 2], [3, 4], [5, 6]], "layers": [
        {"type": "dense", "weights": [[1] * 6]}], "delta": [1]},
        "layers[0]", "dense needs a vector input", hint="add a flatten layer before it"),
    # dense number bias
    bad("dense-bias-bool", _with(VECTORS, layer=1, bias=True), "layers[1].bias", "got true"),
    bad("dense-bias-division-by-zero", _with(VECTORS, layer=1, bias="1/0"), "layers[1].bias",
        "division by zero"),
]


@pytest.mark.parametrize("number", range(len(ADVERSARY_CASES)),
                         ids=[case.id for case in ADVERSARY_CASES])
def test_adversary_bad_input(number, tmp_path, monkeypatch):
    (case,) = ADVERSARY_CASES[number].values
    _run_bad(case, "json" if number % 2 else "table", tmp_path, monkeypatch)


#: edge cases the contract allows, next to the errors above
VALID_EDGE_CASES = {
    "dropout-p-zero": _with(DROPOUT, layer=1, p=0),
    "dropout-p-fraction": _with(DROPOUT, layer=1, p="1/3"),
    "dropout-mask-as-text": _with(DROPOUT, layer=1, mask=["1", "0", "1", "1.0"]),
    "upsample-scale-one": {**_with(UPSAMPLE, layer=0, scale=1), "delta": [[1, 1], [1, 1]]},
    "upsample-scale-pair": {**_with(UPSAMPLE, layer=0, scale=[1, 2]), "delta": [[1] * 4] * 2},
    "ce-thirds-as-fractions": {"input": [[1, 2, 3]], "layers": [{"type": "flatten"}],
                               "loss": {"type": "cross_entropy",
                                        "target": ["1/3", "1/3", "1/3"]}},
    "ce-thirds-as-floats": {"input": [[1, 2, 3]], "layers": [{"type": "flatten"}],
                            "loss": {"type": "cross_entropy", "target": [1 / 3] * 3}},
    "ce-one-hot-probabilities": _with(CE, loss={"target": [0, 0, 1, 0]}),
    "bn-eval-one-value": {"input": [[5]], "layers": [
        {"type": "batchnorm2d", "mode": "eval", "running_mean": [0], "running_var": [1]}],
        "delta": [[1]]},
    "bn-eps-zero-varying-channels": _with(BN2D, layer=0, eps=0),
    "convT-output-padding-below-dilation": {
        **_with(TRANSPOSED, layer=0, stride=1, dilation=2, output_padding=1),
        "delta": [[1] * 5] * 5},
    "conv1d-same-stride-two": {**_with(SIGNAL, layer=0, stride=2, padding="same"),
                               "delta": [[1, 1, 1]]},
    "bce-outputs-at-zero-and-one": {"input": [[0, 1]], "layers": [{"type": "flatten"}],
                                    "loss": {"type": "bce", "target": [1, 0]}},
    "add-one-output-twice": _layers(RESIDUAL, {"type": "relu", "name": "r"},
                                    {"type": "add", "inputs": ["r", "r"]}),
    "add-three-inputs": _with(RESIDUAL, layer=2, inputs=["r", "input", "c"]),
}


@pytest.mark.parametrize("target", [
    [0.5, 0.500000001],          # 1e-9 over, exactly as written: within (the float sum is not)
    [0.5, 0.499999999],          # 1e-9 under
    ["0.3", "0.3", "0.4000000001"],
])
def test_probabilities_on_the_sum_bound_are_accepted(target, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, {"input": [[1] * len(target)], "layers": [{"type": "flatten"}],
                             "loss": {"type": "cross_entropy", "target": target}})
    result = runner.invoke(app, ["backward", "bad.json", "--format", "json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", sorted(VALID_EDGE_CASES))
def test_valid_edge_case_is_accepted(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, VALID_EDGE_CASES[name])
    result = runner.invoke(app, ["backward", "bad.json", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.output.lstrip().startswith("{"), result.output


def test_batchnorm1d_on_a_2d_input_runs_as_its_hint_says(tmp_path):
    """The hint's form, N×1×1×K and a flatten, normalises each of the K features over the N
    vectors (torch.nn.BatchNorm1d on the N×K matrix), not the 8 numbers as one channel."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"input": [[[row]] for row in BN1D_ROWS],
                                "layers": [{"type": "flatten"}, {"type": "batchnorm1d"}],
                                "delta": BN1D_ROWS}))
    result = runner.invoke(app, ["backward", str(path), "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = np.array(BN1D_ROWS, dtype=float)
    expected = (rows - rows.mean(axis=0)) / np.sqrt(rows.var(axis=0) + 1e-5)
    output = json.loads(result.stdout)["layers"][1]["output"]
    assert np.allclose(output, expected)


def test_a_float32_batch_norm_below_its_overflow_runs(tmp_path):
    # 2e17's square, 4e34, fits float32: normalised to ±1, not refused

    path = tmp_path / "p.json"
    path.write_text('{"input": [[2e17], [-2e17]], "layers": [{"type": "batchnorm2d"}], '
                    '"delta": [[1], [0]]}')
    result = runner.invoke(app, ["backward", str(path), "--dtype", "float32", "-f", "json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)["layers"][0]["output"]
    assert [row[0] for row in output] == pytest.approx([1.0, -1.0], rel=1e-6)


@pytest.mark.parametrize("value, dtype", [(3e153, "float64"), (4e18, "float32")])
def test_a_batch_variance_that_overflows_as_a_sum_of_many_squares_is_refused(tmp_path, value,
                                                                            dtype):
    # each square fits the dtype, the sum of 64 does not: the outputs were quietly all 0
    path = tmp_path / "p.json"
    rows = [[value if k % 2 else -value] for k in range(64)]
    path.write_text(json.dumps({"input": rows, "layers": [{"type": "batchnorm2d"}],
                                "delta": [[1]] * 64}))
    result = runner.invoke(app, ["backward", str(path), "--dtype", dtype])
    assert result.exit_code == 2, result.output
    assert "the batch variance of channel 0 of batchnorm2d_1's input overflows" in result.output



RELU_2X2 = {"input": [[1, 2], [3, 4]], "layers": [{"type": "relu"}], "delta": [[1, 1], [1, 1]]}


@pytest.mark.parametrize("problem, line", [
    # "did you mean 'padding'?" for a grading block put in a conv layer
    ({"input": [[1, 2], [3, 4]],
      "layers": [{"type": "conv2d", "kernel": [[1]], "grading": {"min_decimals": 2}}],
      "delta": [[1, 1], [1, 1]]},
     "error: p.json: layers[0].grading: unknown key 'grading' in a conv2d layer; hint: the "
     "grading block is a key of the problem itself, beside \"layers\": move \"grading\" there"),
    ({"input": [[1, 2], [3, 4]], "layers": [{"type": "relu"}],
      "loss": {"type": "mse", "target": [[1, 2], [3, 4]], "points": {"loss": 1}}},
     "error: p.json: loss.points: unknown key 'points' in an mse loss; hint: 'points' belongs "
     "in the grading block, a key of the problem itself: \"grading\": {\"points\": ...}"),
])
def test_a_grading_block_inside_a_layer_or_the_loss_is_pointed_home(tmp_path, problem, line,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps(problem))
    result = runner.invoke(app, ["backward", "p.json"])
    assert result.exit_code == 2
    assert result.stderr == line + "\n"


@pytest.mark.parametrize("top, line", [
    ({"layout": "channels_last"}, "error: p.json: layout: unknown layout 'channels_last'; hint: "
                                  "did you mean 'nhwc'? (allowed: nchw, nhwc)"),
    ({"layout": "NCL"}, "error: p.json: layout: unknown layout 'NCL'; hint: did you mean "
                        "'nchw'? (allowed: nchw, nhwc)"),
    ({"data_format": "channels_last"},
     "error: p.json: data_format: unknown key 'data_format'; hint: the layout is \"layout\": "
     "\"nhwc\" (channels last, Keras' \"channels_last\") or \"nchw\" (the default)"),
    ({"points": {"loss": 1}}, "error: p.json: points: unknown key 'points'; hint: 'points' "
                              "belongs in the grading block: \"grading\": {\"points\": ...}"),
    ({"min_decimals": 2}, "error: p.json: min_decimals: unknown key 'min_decimals'; hint: "
                          "'min_decimals' belongs in the grading block: \"grading\": "
                          "{\"min_decimals\": ...}"),
])
def test_other_frameworks_layout_words_and_grading_keys_are_pointed_home(tmp_path, top, line,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps({**RELU_2X2, **top}))
    result = runner.invoke(app, ["backward", "p.json"])
    assert result.exit_code == 2
    assert result.stderr == line + "\n"


@pytest.mark.parametrize("layers, loss, where, expected", [
    ([{"type": "dropout", "p": 0.5, "mask": {"npy": "z.npy"}}], None, "layers[0].mask",
     "expected shape 2×2 (the shape of the layer's input)"),
    ([{"type": "conv2d", "kernel": [[1]]}], {"type": "mse", "target": {"npy": "z.npy"}},
     "loss.target", "expected shape 2×2 (the output of conv2d_1)"),
])
def test_a_0_d_npy_of_the_wrong_shape_names_its_file(tmp_path, layers, loss, where, expected):
    # "got a number" left the file out, where "got 3×3" named it
    np.save(tmp_path / "z.npy", np.array(0.5))
    problem = {"input": [[1, 2], [3, 4]], "layers": layers,
               **({"loss": loss} if loss else {"delta": [[1, 1], [1, 1]]})}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem))
    result = runner.invoke(app, ["backward", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: {where}: {expected}, got a number in z.npy\n"


def test_a_shape_error_of_a_tensor_from_a_file_names_the_file(tmp_path):
    np.save(tmp_path / "k.npy", np.ones((3, 3)))
    kernel = tmp_path / "k.json"
    kernel.write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": {"npy": "k.npy"},
                                  "delta": [[1]]}))
    result = runner.invoke(app, ["backward", str(kernel)])
    assert result.exit_code == 2  # the shape at the end is the input's: no file named there
    assert result.stderr.startswith(f"error: {kernel}: kernel: the kernel spans 3×3, larger "
                                    f"than the padded input 2×2; hint: ")
    np.save(tmp_path / "d.npy", np.ones((2, 2)))
    (tmp_path / "t.csv").write_text(",".join(["1"] * 4) + "\n")
    npy = tmp_path / "n.json"
    npy.write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": [[1, 1], [1, 1]],
                               "delta": {"npy": "d.npy"}}))
    result = runner.invoke(app, ["backward", str(npy)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {npy}: delta: expected shape 1×1 (the output of "
                             f"conv2d_1), got 2×2 in d.npy\n")
    csv = tmp_path / "c.json"
    csv.write_text(json.dumps({"input": RELU_2X2["input"], "layers": [{"type": "flatten"}],
                               "loss": {"type": "mse", "target": {"csv": "t.csv"}}}))
    result = runner.invoke(app, ["backward", str(csv)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {csv}: loss.target: expected shape 4 (the output of "
                             f"flatten_1), got 1×4 in t.csv; hint: a CSV file is always a "
                             f"matrix (a list of them, 3-D): give a vector as a JSON list or "
                             f"an .npy file\n")


@pytest.mark.parametrize("layer, loss, said", [
    # a vector per channel, a class index per sample, one class index: each from a CSV row
    ({"type": "batchnorm2d", "gamma": {"csv": "row.csv"}}, None,
     "layers[0].gamma: expected a vector of 2 (one per channel), got shape 1×2 in row.csv"),
    ({"type": "batchnorm2d", "mode": "eval", "running_mean": [0, 0],
      "running_var": {"csv": "row.csv"}}, None,
     "layers[0].running_var: expected a vector of 2 (one per channel), got shape 1×2 in "
     "row.csv"),
    ({"type": "flatten"}, {"type": "nll", "target": {"csv": "row.csv"}},
     "loss.target: expected 2 class indices, one per sample, got shape 1×2 in row.csv"),
])
def test_a_vector_read_from_a_csv_row_is_told_a_csv_is_a_matrix(tmp_path, layer, loss, said):
    # the hint was the bce and mse targets' alone
    (tmp_path / "row.csv").write_text("1,0\n")
    doc = {"input": [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.5]]], "layers": [layer]}
    if loss is None:
        doc["delta"] = np.ones((2, 2, 2)).tolist()
    else:
        doc["input"] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]  # two samples of two classes
        doc["layers"].append({"type": "log_softmax"})
        doc["loss"] = loss
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["backward", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {path}: {said}; hint: a CSV file is always a matrix (a "
                             f"list of them, 3-D): give a vector as a JSON list or an .npy "
                             f"file\n")


@pytest.mark.parametrize("loss, batched, said, hint", [
    ("nll", False, "expected a class index (0 to 2)", "give the number in JSON"),
    # a cross_entropy's probabilities would be a vector: a 1×1 file means the class index
    ("cross_entropy", False, "expected a class index (0 to 2) or probabilities of shape 3",
     "give the number in JSON"),
    # one sample in a batch: a list of one class index
    ("nll", True, "expected a list of 1 class index (the batch has one sample)",
     "give a vector as a JSON list or an .npy file"),
])
def test_one_class_index_read_from_a_csv_is_told_how_to_write_it(tmp_path, loss, batched,
                                                                 said, hint):
    (tmp_path / "one.csv").write_text("1\n")
    path = tmp_path / "p.json"
    layers = [{"type": "flatten"}] + ([{"type": "log_softmax"}] if loss == "nll" else [])
    path.write_text(json.dumps({"input": [[[[1, 2, 3]]]] if batched else [[1, 2, 3]],
                                "layers": layers,
                                "loss": {"type": loss, "target": {"csv": "one.csv"}}}))
    result = runner.invoke(app, ["backward", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {path}: loss.target: {said}, got shape 1×1 in one.csv; "
                             f"hint: a CSV file is always a matrix (a list of them, 3-D): "
                             f"{hint}\n")


def test_a_grading_point_counted_from_one_is_told_the_block_counts_from_0(tmp_path):
    problem = tmp_path / "g.json"
    problem.write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": [[1]],
                                   "delta": [[1, 1], [1, 1]],
                                   "grading": {"points": {"conv2d_1.grads.kernel[1,1]": 1}}}))
    answers = tmp_path / "a.json"
    answers.write_text("{}")
    for extra in ([], ["--one-based"]):
        result = runner.invoke(app, ["check", str(problem), str(answers), *extra])
        assert result.exit_code == 2
        assert result.stderr.endswith("; hint: counting from 1? the grading block's paths "
                                      "count from 0 (--one-based is for answers files)\n")
