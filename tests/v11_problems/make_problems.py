"""Write a corpus of contract-v1.1 problem files, one per feature, for the PyTorch oracle."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

rng = np.random.default_rng(11)
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
OUT.mkdir(parents=True, exist_ok=True)


def r(*shape, lo=-1.0, hi=1.0):
    return np.round(rng.uniform(lo, hi, size=shape), 3).tolist()


def mask(*shape):
    return rng.integers(0, 2, size=shape).tolist()


def write(name, doc):
    (OUT / f"{name}.json").write_text(json.dumps(doc))


# --- layouts ---------------------------------------------------------------------------------
write("nhwc_conv_hwio", {"layout": "nhwc", "input": r(2, 5, 5, 3), "layers": [
    {"type": "conv2d", "kernel": r(3, 3, 3, 4), "bias": r(4), "padding": 1},
    {"type": "relu"}, {"type": "maxpool2d", "size": 2}, {"type": "flatten"},
    {"type": "dense", "weights": r(2, 16), "bias": r(2)}],
    "loss": {"type": "mse", "target": r(2, 2)}})
write("nhwc_unbatched_hwc", {"layout": "nhwc", "input": r(6, 6, 2), "layers": [
    {"type": "conv2d", "kernel": r(2, 2, 2), "stride": 2},
    {"type": "sigmoid"}], "delta": r(3, 3, 1)})  # a 3-D input: the one-channel output is 3×3×1
write("nhwc_one_channel_kF", {"layout": "nhwc", "input": r(5, 5), "layers": [
    {"type": "conv2d", "kernel": r(2, 2, 3), "bias": r(4, 4, 3)}],
    "delta": r(4, 4, 3)})
write("nhwc_flatten_dense", {"layout": "nhwc", "input": r(4, 4, 2), "layers": [
    {"type": "flatten"}, {"type": "dense", "weights": r(3, 32), "bias": 0.5}],
    "loss": {"type": "cross_entropy", "target": 1}})
write("nhwc_same_stride2", {"layout": "nhwc", "input": r(1, 7, 6, 2), "layers": [
    {"type": "conv2d", "kernel": r(3, 3, 2, 2), "stride": 2, "padding": "same"}],
    "delta": r(1, 4, 3, 2)})
write("nchw_same_stride2", {"input": r(2, 7, 8), "layers": [
    {"type": "conv2d", "kernel": r(3, 2, 4, 3), "stride": [2, 3], "padding": "same",
     "dilation": 1}], "delta": r(3, 4, 3)})
write("nchw_same_stride3_dil2", {"input": r(1, 1, 9, 9), "layers": [
    {"type": "conv2d", "kernel": r(1, 1, 3, 3), "stride": 3, "padding": "same",
     "dilation": 2}], "delta": r(1, 1, 3, 3)})
# --- 1-D -------------------------------------------------------------------------------------
write("conv1d_signal", {"input": r(12), "layers": [
    {"type": "conv1d", "kernel": r(3), "bias": 0.1, "stride": 2, "padding": [1, 2]},
    {"type": "relu"}], "delta": r(7)})
write("conv1d_channels", {"input": r(3, 10), "layers": [
    {"type": "conv1d", "kernel": r(4, 3, 3), "bias": r(4), "dilation": 2, "padding": "same"},
    {"type": "maxpool1d", "size": 2}, {"type": "flatten"},
    {"type": "dense", "weights": r(2, 20)}],
    "loss": {"type": "mse", "target": r(2), "reduction": "mean"}})
write("conv1d_batched_groups", {"input": r(2, 4, 9), "layers": [
    {"type": "conv1d", "kernel": r(4, 2, 2), "groups": 2, "padding_mode": "reflect",
     "padding": 1}, {"type": "avgpool1d", "size": 3, "stride": 2, "ceil_mode": True,
                     "padding": 1}], "delta": r(2, 4, 6)})
write("conv1d_nhwc", {"layout": "nhwc", "input": r(2, 8, 3), "layers": [
    {"type": "conv1d", "kernel": r(3, 3, 2), "bias": r(2), "stride": 2},
    {"type": "tanh"}, {"type": "global_avgpool"}],
    "loss": {"type": "mse", "target": r(2, 2)}})
write("conv1d_one_in_F_out", {"input": r(7), "layers": [
    {"type": "conv1d", "kernel": r(2, 3), "bias": r(2, 5)}], "delta": r(2, 5)})
write("conv1d_untied_bias_nhwc", {"layout": "nhwc", "input": r(6, 2), "layers": [
    {"type": "conv1d", "kernel": r(2, 2, 3), "bias": r(5, 3)}], "delta": r(5, 3)})
write("upsample_1d", {"input": r(2, 4), "layers": [
    {"type": "maxpool1d", "size": 2}, {"type": "upsample", "scale": 3}], "delta": r(2, 6)})
# --- transposed conv ----------------------------------------------------------------------------
write("convT_basic", {"input": r(3, 3), "layers": [
    {"type": "conv_transpose2d", "kernel": r(2, 2), "stride": 2, "bias": 0.25}],
    "delta": r(6, 6)})
write("convT_full", {"input": r(2, 2, 3, 4), "layers": [
    {"type": "conv_transpose2d", "kernel": r(2, 3, 3, 3), "stride": [2, 1],
     "padding": [1, 0], "output_padding": [1, 0], "dilation": 1, "bias": r(3)}],
    "delta": r(2, 3, 6, 6)})
write("convT_groups_dil", {"input": r(1, 4, 3, 3), "layers": [
    {"type": "conv_transpose2d", "kernel": r(4, 1, 2, 2), "groups": 2, "dilation": 2,
     "stride": 3, "output_padding": 2}], "delta": r(1, 2, 11, 11)})
write("convT_in_channels_one_out", {"input": r(2, 3, 3), "layers": [
    {"type": "conv_transpose2d", "kernel": r(2, 2, 2)}],
    # C×H×W input: its one-channel output is shown 1×4×4 (contract "How results are shaped")
    "delta": [r(4, 4)]})
write("convT_one_in_F_out", {"input": r(3, 3), "layers": [
    {"type": "conv_transpose2d", "kernel": r(3, 2, 2), "bias": r(3)}], "delta": r(3, 4, 4)})
write("convT_nhwc", {"layout": "nhwc", "input": r(3, 3, 2), "layers": [
    {"type": "conv_transpose2d", "kernel": r(3, 3, 4, 2), "stride": 2, "padding": 1,
     "output_padding": 1}], "delta": r(6, 6, 4)})
# --- batch norm ---------------------------------------------------------------------------------
write("bn2d_train", {"input": r(3, 2, 3, 3), "layers": [
    {"type": "conv2d", "kernel": r(2, 2, 2, 2)},
    {"type": "batchnorm2d", "gamma": r(2), "beta": r(2)}, {"type": "relu"}],
    "loss": {"type": "mse", "target": r(3, 2, 2, 2)}})
write("bn2d_defaults_unbatched", {"input": r(2, 4, 4), "layers": [
    {"type": "batchnorm2d"}], "delta": r(2, 4, 4)})
write("bn2d_eval", {"input": r(2, 3, 2, 2), "layers": [
    {"type": "batchnorm2d", "gamma": r(3), "beta": r(3), "mode": "eval",
     "running_mean": r(3), "running_var": r(3, lo=0.5, hi=2.0), "eps": 0.001}],
    "delta": r(2, 3, 2, 2)})
write("bn1d_train", {"input": r(4, 1, 3, 3), "layers": [
    {"type": "flatten"}, {"type": "dense", "weights": r(5, 9), "bias": r(5)},
    {"type": "batchnorm1d", "gamma": r(5), "beta": r(5)}, {"type": "sigmoid"}],
    "loss": {"type": "bce", "target": r(4, 5, lo=0, hi=1)}})
write("bn2d_on_1d", {"input": r(3, 2, 5), "layers": [
    {"type": "conv1d", "kernel": r(2, 2, 2)}, {"type": "batchnorm2d"}], "delta": r(3, 2, 4)})
write("bn2d_nhwc", {"layout": "nhwc", "input": r(2, 3, 3, 2), "layers": [
    {"type": "batchnorm2d", "gamma": r(2), "beta": r(2)}], "delta": r(2, 3, 3, 2)})
# --- dropout, softmax, nll, bce ----------------------------------------------------------------------
write("classifier_dropout_nll", {"input": r(2, 1, 4, 4), "layers": [
    {"type": "conv2d", "kernel": r(2, 1, 2, 2), "bias": r(2)}, {"type": "relu"},
    {"type": "flatten"}, {"type": "dropout", "p": 0.5, "mask": mask(2, 18)},
    {"type": "dense", "weights": r(3, 18), "bias": r(3)}, {"type": "log_softmax"}],
    "loss": {"type": "nll", "target": [2, 0]}})
write("dropout_map_nhwc", {"layout": "nhwc", "input": r(3, 3, 2), "layers": [
    {"type": "dropout", "p": 0.25, "mask": mask(3, 3, 2)}], "delta": r(3, 3, 2)})
write("softmax_mse", {"input": r(1, 2, 2), "layers": [
    {"type": "flatten"}, {"type": "softmax"}], "loss": {"type": "mse", "target": r(4)}})
write("softmax_batched", {"input": r(2, 1, 2, 2), "layers": [
    {"type": "flatten"}, {"type": "softmax"}, {"type": "log_softmax"}],
    "delta": r(2, 4)})
write("bce_logits_sum", {"input": r(2, 3), "layers": [
    {"type": "flatten"}, {"type": "dense", "weights": r(2, 6), "bias": 0}],
    "loss": {"type": "bce_with_logits", "target": [1, 0], "reduction": "sum"}})
write("bce_map", {"input": r(3, 3), "layers": [{"type": "sigmoid"}],
                  "loss": {"type": "bce", "target": r(3, 3, lo=0, hi=1)}})
write("ce_prob_target", {"input": r(2, 1, 2, 2), "layers": [
    {"type": "flatten"}, {"type": "dense", "weights": r(3, 4)}],
    "loss": {"type": "cross_entropy", "target": [[0.25, 0.25, 0.5], [0, 1, 0]]}})
# --- global avgpool, upsample -----------------------------------------------------------------
write("gap_classifier", {"input": r(2, 3, 4, 4), "layers": [
    {"type": "conv2d", "kernel": r(4, 3, 3, 3), "padding": 1}, {"type": "global_avgpool"},
    {"type": "dense", "weights": r(2, 4), "bias": r(2)}],
    "loss": {"type": "cross_entropy", "target": [1, 0]}})
write("upsample_2d", {"input": r(2, 3, 3), "layers": [
    {"type": "upsample", "scale": [2, 3]}], "delta": r(2, 6, 9)})
# --- graphs ---------------------------------------------------------------------------------------
write("resnet_block", {"input": r(1, 2, 5, 5), "layers": [
    {"type": "conv2d", "name": "conv_a", "kernel": r(2, 2, 3, 3), "padding": 1},
    {"type": "batchnorm2d", "name": "bn_a"},
    {"type": "relu", "name": "relu_a"},
    {"type": "conv2d", "name": "conv_b", "kernel": r(2, 2, 3, 3), "padding": 1},
    {"type": "batchnorm2d", "name": "bn_b"},
    {"type": "add", "inputs": ["bn_b", "input"]},
    {"type": "relu"}], "delta": r(1, 2, 5, 5)})
write("unet_concat", {"input": r(1, 1, 4, 4), "layers": [
    {"type": "conv2d", "name": "enc", "kernel": r(2, 1, 3, 3), "padding": 1},
    {"type": "relu", "name": "enc_relu"},
    {"type": "maxpool2d", "size": 2},
    {"type": "conv2d", "kernel": r(2, 2, 1, 1)},
    {"type": "upsample", "scale": 2},
    {"type": "concat", "inputs": ["upsample_1", "enc_relu"]},
    {"type": "conv2d", "kernel": r(1, 4, 1, 1)}],
    "loss": {"type": "mse", "target": r(1, 1, 4, 4)}})
write("shared_output_two_readers", {"input": r(4, 4), "layers": [
    {"type": "conv2d", "name": "c1", "kernel": r(2, 2)},
    {"type": "relu", "name": "r1", "input": "c1"},
    {"type": "sigmoid", "name": "s1", "input": "c1"},
    {"type": "add", "inputs": ["r1", "s1", "c1"]}], "delta": r(3, 3)})
write("concat_vectors", {"input": r(2, 2, 2), "layers": [
    {"type": "flatten", "name": "f"},
    {"type": "dense", "name": "d1", "weights": r(3, 8), "input": "f"},
    {"type": "dense", "name": "d2", "weights": r(2, 8), "input": "f"},
    {"type": "concat", "inputs": ["d1", "d2"]}],
    "loss": {"type": "mse", "target": r(5)}})
write("graph_nhwc_concat", {"layout": "nhwc", "input": r(1, 3, 3, 2), "layers": [
    {"type": "conv2d", "name": "a", "kernel": r(1, 1, 2, 3)},
    {"type": "conv2d", "name": "b", "kernel": r(1, 1, 2, 1), "input": "input"},
    {"type": "concat", "inputs": ["a", "b"]}, {"type": "flatten"}],
    "delta": r(1, 36)})
# --- more 1-D conv and pool, transposed conv, upsample corners -----------------------------------
write("conv1d_flip_circular_dil", {"input": r(2, 3, 9), "layers": [
    {"type": "conv1d", "kernel": r(2, 3, 3), "bias": r(2), "flip_kernel": True,
     "padding_mode": "circular", "padding": [2, 1], "dilation": 2, "stride": 2}],
    "delta": r(2, 2, 4)})
write("conv1d_same_stride3_nhwc_pools", {"layout": "nhwc", "input": r(2, 10, 2), "layers": [
    {"type": "conv1d", "kernel": r(4, 2, 3), "padding": "same", "stride": 3},
    {"type": "avgpool1d", "size": 3, "stride": 1, "padding": 1, "count_include_pad": False},
    {"type": "maxpool1d", "size": 3, "stride": 2, "padding": 1, "ceil_mode": True}],
    "delta": r(2, 3, 3)})
write("convT_padding_crops", {"input": r(1, 2, 3, 3), "layers": [
    {"type": "conv_transpose2d", "kernel": r(2, 1, 2, 2), "stride": 2, "padding": 2,
     "bias": r(1)}], "delta": r(1, 1, 2, 2)})
write("convT_output_padding_dilation", {"input": r(3, 3), "layers": [
    {"type": "conv_transpose2d", "kernel": r(2, 2), "dilation": 3, "output_padding": 2}],
    "delta": r(8, 8)})
write("upsample_nhwc_batched", {"layout": "nhwc", "input": r(2, 2, 3, 2), "layers": [
    {"type": "upsample", "scale": [3, 1]},
    {"type": "conv2d", "kernel": r(1, 1, 2, 2)}], "delta": r(2, 6, 3, 2)})
# --- graphs, layouts, same padding, a number dense bias (more) --------------------------------
write("graph_add_same_input_twice", {"input": r(2, 3, 3), "layers": [
    {"type": "conv2d", "kernel": r(2, 2, 2, 2), "padding": "same", "name": "c"},
    {"type": "relu", "name": "r1"},
    {"type": "add", "inputs": ["r1", "r1", "input"]}, {"type": "tanh"}],
    "delta": r(2, 3, 3)})
write("graph_nhwc_branches_dense_number_bias", {"layout": "nhwc", "input": r(2, 4, 4, 1),
    "layers": [
    {"type": "conv2d", "kernel": r(2, 2, 1, 2), "stride": 2, "padding": "same", "name": "a"},
    {"type": "maxpool2d", "size": 2, "input": "input", "name": "b"},
    {"type": "concat", "inputs": ["a", "b"]}, {"type": "flatten"},
    {"type": "dense", "weights": r(2, 12), "bias": -0.25}],
    "loss": {"type": "cross_entropy", "target": [[0.25, 0.75], [1, 0]]}})
write("nchw_same_stride2_untied_bias", {"input": r(5, 6), "layers": [
    {"type": "conv2d", "kernel": r(3, 3), "stride": 2, "padding": "same", "bias": r(3, 3)}],
    "delta": r(3, 3)})
write("graph_stem_read_three_times", {"input": r(1, 1, 4, 4), "layers": [
    {"type": "leaky_relu", "name": "stem", "slope": 0.1},
    {"type": "conv2d", "kernel": r(1, 1, 3, 3), "padding": 1, "name": "c1"},
    {"type": "sigmoid", "name": "s"},
    {"type": "add", "inputs": ["s", "stem"], "name": "a1"},
    {"type": "conv2d", "kernel": r(1, 1, 1, 1), "input": "stem", "name": "c2"},
    {"type": "add", "inputs": ["a1", "c2", "stem"], "name": "a2"}],
    "loss": {"type": "mse", "target": r(1, 1, 4, 4), "reduction": "mean"}})
write("nhwc_map_mse_target", {"layout": "nhwc", "input": r(1, 3, 4, 2), "layers": [
    {"type": "conv2d", "kernel": r(2, 2, 2, 3)}],
    "loss": {"type": "mse", "target": r(1, 2, 3, 3), "reduction": "mean"}})
write("nhwc_1d_map_mse_target", {"layout": "nhwc", "input": r(6, 2), "layers": [
    {"type": "conv1d", "kernel": r(3, 2, 3)}],
    "loss": {"type": "mse", "target": r(4, 3)}})
# overlapping windows with tied maxima (a padded edge too): "split" and "all" route the delta
# of one window to several cells and a cell collects from several windows
write("maxpool_ties_split_all_overlap", {"input": [[[-1, 3, 1, 3, 3], [2, 1, -3, -2, 1]],
                                                   [[-2, 2, 0, -2, 0], [1, 1, 1, 0, 1]]],
    "layers": [
    {"type": "maxpool2d", "size": [1, 3], "stride": 1, "padding": [0, 1], "ties": "split"},
    {"type": "flatten", "name": "split"},
    {"type": "maxpool2d", "size": 2, "stride": 1, "ties": "all", "input": "input"},
    {"type": "flatten", "name": "all"},
    {"type": "maxpool2d", "size": [1, 2], "stride": 1, "ties": "first", "input": "input"},
    {"type": "flatten", "name": "first"},
    {"type": "concat", "inputs": ["split", "all", "first"]}],
    "delta": [((i * 7) % 11 - 5) / 4 for i in range(44)]})
# ceil mode whose last window starts inside the real cells but runs past the padding: the
# divisor counts the padded input only
write("avgpool_ceil_past_padding", {"input": [[0.5, -1, 2, 0.25, 1.5], [1, 0, -0.5, 2, -2],
                                              [0.75, 1.25, -1, 0.5, 0]],
    "layers": [
    {"type": "avgpool2d", "size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
     "name": "with_pad"},
    {"type": "avgpool2d", "size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
     "count_include_pad": False, "input": "input", "name": "without_pad"},
    {"type": "add", "inputs": ["with_pad", "without_pad"]},
    {"type": "leaky_relu", "slope": "1/4"}],
    "loss": {"type": "mse", "target": [[0.5, 0.1, -0.2], [0.3, 0, 1]], "reduction": "sum"}})
print(len(list(OUT.glob("*.json"))), "problems in", OUT)
