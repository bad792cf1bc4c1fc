"""Seeded random problems over every layer, option and loss of contract v1.1, against PyTorch.

tests/random_problems.py draws valid problems (chains and small graphs, both layouts, 1-D and
2-D, batched or not, every loss or a given delta); each runs through the real command
(``backward --format json``) and is compared, tensor by tensor, with tests/torch_oracle.py.
Problems without a transcendental step also run with ``--exact --lr 1/2``, whose fractions
must be the same numbers and whose ``updated`` must be p − ½·dE/dp. Skipped without torch.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

torch = pytest.importorskip("torch")
import random_problems  # noqa: E402  (tests/ is on sys.path)
import torch_oracle  # noqa: E402

#: 0..63 draw every layer type and loss; 177 and 528 add grouped transposed convolutions
SEEDS = [*range(64), 177, 528]
#: steps whose results are irrational: --exact refuses or rounds them, so they run in floats only
INEXACT = {"sigmoid", "tanh", "softmax", "log_softmax", "batchnorm2d", "batchnorm1d"}
INEXACT_LOSSES = {"cross_entropy", "bce", "bce_with_logits"}


def _floats(value):
    """--exact's "p/q" strings as floats (other strings, the version and title, as they are)."""
    if isinstance(value, str):
        try:
            return float(Fraction(value))
        except ValueError:
            return value
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def _exact_capable(doc: dict) -> bool:
    kinds = {layer["type"] for layer in doc.get("layers", [])}
    return not kinds & INEXACT and doc.get("loss", {}).get("type") not in INEXACT_LOSSES


@pytest.mark.parametrize("seed", SEEDS)
def test_random_problem_matches_pytorch(seed, tmp_path):
    path = random_problems.write_problem(seed, tmp_path)
    reference = torch_oracle.reference(path)
    result = CliRunner().invoke(app, ["backward", str(path), "--format", "json"])
    assert result.exit_code == 0, path.read_text() + "\n" + result.output
    differences = torch_oracle.compare(json.loads(result.stdout), reference, rtol=1e-7,
                                       atol=1e-9)
    assert not differences, path.read_text() + "\n" + "\n".join(differences)
    doc = json.loads(path.read_text())
    if seed % 3 or not _exact_capable(doc):
        return
    exact = CliRunner().invoke(app, ["backward", str(path), "--format", "json", "--exact",
                                     "--lr", "1/2"])
    assert exact.exit_code == 0, exact.output
    ours = _floats(json.loads(exact.stdout))
    differences = torch_oracle.compare(ours, reference, rtol=1e-9, atol=1e-11)
    assert not differences, path.read_text() + "\n" + "\n".join(differences)
    specs = doc.get("layers") or [doc]  # the one-conv shorthand keeps its fields on top
    for layer, spec in zip(ours["layers"], specs):
        for key, grad in layer["grads"].items():
            grad = np.asarray(grad)
            if key in spec:
                given = torch_oracle._tensor(spec[key], path.parent)
            else:  # batch norm's default gamma (1) and beta (0)
                given = np.full(grad.shape, 1.0 if key == "gamma" else 0.0)
            assert np.allclose(layer["updated"][key], given - 0.5 * grad, rtol=1e-9,
                               atol=1e-12), f"{layer['name']}.updated.{key}"


def test_seeds_cover_every_layer_option_and_loss():
    """The seeds above draw every layer type, loss and the options most easily got wrong (a
    generator that quietly stopped drawing one would leave it untested)."""
    from cnngrad.families import LAYERS, LOSSES

    seen = set()
    for seed in SEEDS:
        doc, _ = random_problems.document(seed)
        for layer in doc.get("layers", []):
            seen.add(layer["type"])
            seen.update(f"{layer['type']}.{key}" for key in layer)
            seen.add(f"ties={layer.get('ties')}")
        seen.add(doc["loss"]["type"] if "loss" in doc else "delta")
        seen.update({"layout", "kernel"} & set(doc))
    wanted = set(LAYERS) | set(LOSSES) | {
        "delta", "layout", "kernel", "ties=split", "ties=all", "conv2d.padding_mode",
        "conv1d.padding_mode", "conv2d.flip_kernel", "conv2d.groups", "conv1d.groups",
        "conv1d.dilation", "conv_transpose2d.output_padding", "conv_transpose2d.groups",
        "avgpool2d.count_include_pad", "avgpool1d.count_include_pad", "maxpool1d.ceil_mode",
        "maxpool2d.ceil_mode", "batchnorm2d.running_var", "dense.bias", "leaky_relu.slope"}
    assert not wanted - seen, sorted(wanted - seen)

