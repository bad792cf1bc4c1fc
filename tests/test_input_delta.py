"""The problem's input read by several layers: backward shows its whole delta, the sum of the
shares each reader sends back (each reader's own δ in is only its share)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.network import run
from cnngrad.problem import load_problem
from cnngrad.render.tables import input_panel

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def rendered(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("sample, readers", [("unet-concat.json", ("down", "merge")),
                                             ("resnet-block.json", ("conv_a", "skip"))])
def test_the_input_s_delta_is_the_sum_of_its_readers_shares(sample, readers):
    trace = run(load_problem(str(SAMPLES / sample)))
    shares = [trace.delta_sent(layer, "input") for layer in trace.readers("input")]
    assert tuple(layer.name for layer in trace.readers("input")) == readers
    np.testing.assert_allclose(trace.input_delta, sum(shares), rtol=1e-15, atol=0)
    text = rendered(input_panel(trace, 6))
    assert f"read by {', '.join(readers)}: its delta is the sum of what each sends back" in text
    first = trace.shown(trace.input_delta).reshape(-1)[0]
    assert f"{first:.6f}" in text


def test_unet_s_input_delta_by_hand():
    # down sends 0.466095 back to the input's first cell, merge (concat) passes 1.893350
    trace = run(load_problem(str(SAMPLES / "unet-concat.json")))
    down, merge = (layer for layer in trace.layers if layer.name in ("down", "merge"))
    first = (trace.shown(down.delta_in)[0, 0], trace.shown(merge.delta_in["input"])[0, 0])
    assert [round(float(v), 6) for v in first] == [0.466095, 1.89335]
    assert round(float(trace.shown(trace.input_delta)[0, 0]), 6) == 2.359445


def test_a_chain_shows_no_input_panel():
    trace = run(load_problem(str(SAMPLES / "stackexchange.json")))
    assert input_panel(trace, 6) is None


def test_backward_ends_with_the_input_panel_at_80_columns():
    result = CliRunner().invoke(app, ["backward", str(SAMPLES / "unet-concat.json")],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-11].startswith("╭─ input · the problem's input"), result.output
    assert max(len(line) for line in lines) <= 80
    assert "2.359445" in result.output


def test_the_input_s_delta_matches_torch():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    trace = run(load_problem(str(SAMPLES / "unet-concat.json")))
    x = torch.tensor(np.asarray(trace.problem.input, dtype=np.float64))
    x = x.reshape(1, 1, 4, 4).requires_grad_(True)
    # the sample in torch: a stride-2 conv down, relu, upsample, concat with the input, 1×1 conv
    down = torch.tensor([[[[0.35, 0.43], [0.26, 0.94]]], [[[-0.33, -0.2], [-0.59, -0.9]]]],
                        dtype=torch.float64)
    h = functional.conv2d(x, down, torch.tensor([0.1, -0.1], dtype=torch.float64), stride=2)
    h = functional.interpolate(torch.relu(h), scale_factor=2, mode="nearest")
    head = torch.tensor([0.5, -1.0, 1.0], dtype=torch.float64).reshape(1, 3, 1, 1)
    y = functional.conv2d(torch.cat([h, x], dim=1), head)
    y.backward(torch.tensor(trace.layers[-1].delta_out).reshape(y.shape))
    np.testing.assert_allclose(trace.shown(trace.input_delta), x.grad.numpy().reshape(4, 4),
                               rtol=1e-12, atol=1e-14)
