"""Whole problems through ``--format json``, against PyTorch autograd (skipped without torch).

The reference below is written from the contract, independently of cnngrad's problem module:
it reads the same JSON document, builds the network with torch.nn.functional and compares
every output, delta and gradient of the JSON result to 1e-9 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from cnngrad.network import run  # noqa: E402
from cnngrad.problem import load_problem  # noqa: E402
from cnngrad.render.json_result import render_json  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_reference(doc: dict) -> dict:
    """Every layer's output, delta_out, delta_in and grads, by torch autograd."""
    given = np.asarray(doc["input"], dtype=np.float64)
    rank = given.ndim
    # a vector K (a network of dense layers alone) is one row, as torch.nn.Linear reads it
    x = torch.tensor(given.reshape(1, -1) if rank == 1 else
                     given.reshape((1,) * (4 - rank) + given.shape), requires_grad=True)
    layers = doc.get("layers") or [dict({k: doc[k] for k in ("kernel", "bias", "stride",
                                                              "padding", "dilation",
                                                              "flip_kernel") if k in doc},
                                        type="conv2d")]
    params, outputs, names, counts = [], [], [], {}
    h = x
    for spec in layers:
        kind = spec["type"]
        counts[kind] = counts.get(kind, 0) + 1
        names.append(spec.get("name", f"{kind}_{counts[kind]}"))
        p = {}
        if kind == "conv2d":
            k = np.asarray(spec["kernel"], dtype=np.float64)
            c_in, groups = h.shape[1], spec.get("groups", 1)
            if k.ndim == 2:
                w4 = k.reshape(1, 1, *k.shape)
            elif k.ndim == 3:
                w4 = k.reshape(1, *k.shape) if c_in // groups > 1 else k.reshape(k.shape[0], 1,
                                                                                   *k.shape[1:])
            else:
                w4 = k
            p["kernel"] = torch.tensor(k, requires_grad=True)
            w = p["kernel"].reshape(w4.shape)
            if spec.get("flip_kernel"):
                w = torch.flip(w, [2, 3])
            pad = spec.get("padding", 0)
            mode = spec.get("padding_mode", "zeros")
            kh, kw = w4.shape[2:]
            d = _pair(spec.get("dilation", 1))
            if pad == "same":
                tb, lr = d[0] * (kh - 1), d[1] * (kw - 1)
                sides = (tb // 2, tb - tb // 2, lr // 2, lr - lr // 2)
            elif pad == "valid":
                sides = (0, 0, 0, 0)
            elif isinstance(pad, int):
                sides = (pad,) * 4
            elif len(pad) == 2:
                sides = (pad[0], pad[0], pad[1], pad[1])
            else:
                sides = tuple(pad)
            t, b, l, r = sides
            torch_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
                          "circular": "circular"}[mode]
            padded = F.pad(h, (l, r, t, b), mode=torch_mode)
            h = F.conv2d(padded, w, stride=_pair(spec.get("stride", 1)), dilation=d,
                         groups=groups)
            if "bias" in spec:
                bias = np.asarray(spec["bias"], dtype=np.float64)
                p["bias"] = torch.tensor(bias, requires_grad=True)
                if bias.ndim <= 1:
                    h = h + p["bias"].reshape(1, -1, 1, 1)
                else:
                    h = h + p["bias"].reshape(1, -1, *h.shape[2:])
        elif kind in ("maxpool2d", "avgpool2d"):
            size = _pair(spec["size"])
            stride = _pair(spec.get("stride", spec["size"]))
            pad = _pair(spec.get("padding", 0))
            if kind == "maxpool2d":
                h = F.max_pool2d(h, size, stride, pad, ceil_mode=spec.get("ceil_mode", False))
            else:
                h = F.avg_pool2d(h, size, stride, pad, ceil_mode=spec.get("ceil_mode", False),
                                 count_include_pad=spec.get("count_include_pad", True))
        elif kind == "relu":
            h = F.relu(h)
        elif kind == "leaky_relu":
            h = F.leaky_relu(h, spec.get("slope", 0.01))
        elif kind == "sigmoid":
            h = torch.sigmoid(h)
        elif kind == "tanh":
            h = torch.tanh(h)
        elif kind == "flatten":
            h = torch.flatten(h, 1)
        elif kind == "dense":
            p["weights"] = torch.tensor(np.asarray(spec["weights"], dtype=np.float64),
                                        requires_grad=True)
            if "bias" in spec:
                p["bias"] = torch.tensor(np.asarray(spec["bias"], dtype=np.float64),
                                         requires_grad=True)
            h = F.linear(h, p["weights"], p.get("bias"))
        else:
            raise AssertionError(kind)
        h.retain_grad()
        outputs.append(h)
        params.append(p)

    if "delta" in doc:
        delta = torch.tensor(np.asarray(doc["delta"], dtype=np.float64)).reshape(h.shape)
        energy, loss = (delta * h).sum(), None
    else:
        spec = doc["loss"]
        target = np.asarray(spec["target"], dtype=np.float64)
        if spec["type"] == "mse":
            t = torch.tensor(target).reshape(h.shape)
            reduction = spec.get("reduction", "half_sum")
            energy = {"half_sum": 0.5 * ((t - h) ** 2).sum(), "sum": ((t - h) ** 2).sum(),
                      "mean": F.mse_loss(h, t)}[reduction]
        else:
            if target.ndim == h.ndim - (0 if rank == 4 else 1):
                t = torch.tensor(target).reshape(h.shape)
            else:
                t = torch.tensor(target.astype(np.int64)).reshape(-1)
            energy = F.cross_entropy(h, t)
        loss = float(energy.detach())
    energy.backward()

    def shown(tensor):
        a = tensor.detach().numpy()
        if rank == 4:
            return a
        a = a[0]
        if a.ndim == 3 and rank == 2 and a.shape[0] == 1:
            a = a[0]
        return a

    result = {"loss": loss, "layers": []}
    inputs = [x] + outputs[:-1]
    for name, out, inp, p in zip(names, outputs, inputs, params):
        result["layers"].append({
            "name": name, "output": shown(out), "delta_out": shown(out.grad),
            "delta_in": shown(inp.grad) if inp.grad is not None else None,
            "grads": {k: v.grad.numpy() for k, v in p.items()},
        })
    return result


def compare(doc: dict, tmp_path: Path) -> None:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(doc))
    ours = json.loads(render_json(run(load_problem(str(path)))))
    ref = torch_reference(doc)
    if ref["loss"] is None:
        assert ours["loss"] is None
    else:
        assert ours["loss"] == pytest.approx(ref["loss"], rel=1e-9, abs=1e-12)
    assert [layer["name"] for layer in ours["layers"]] == [r["name"] for r in ref["layers"]]
    for mine, theirs in zip(ours["layers"], ref["layers"]):
        for key in ("output", "delta_out", "delta_in"):
            if theirs[key] is None:
                continue
            got = np.asarray(mine[key], dtype=np.float64)
            assert got.shape == theirs[key].shape, (mine["name"], key)
            np.testing.assert_allclose(got, theirs[key], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{mine['name']}.{key}")
        assert set(mine["grads"]) == set(theirs["grads"])
        for key, grad in theirs["grads"].items():
            got = np.asarray(mine["grads"][key], dtype=np.float64)
            assert got.shape == grad.shape, (mine["name"], key)
            np.testing.assert_allclose(got, grad, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{mine['name']}.grads.{key}")


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")
                                          if "csv" not in p.name))
def test_samples_match_torch(sample, tmp_path):
    doc = json.loads((SAMPLES / sample).read_text())
    if any(layer.get("ties", "first") != "first" for layer in doc.get("layers", [])):
        pytest.skip("torch has only the 'first' tie rule")
    if not _contract_v1(doc):
        # a v1.1 sample: the v1.1 reference (tests/torch_oracle.py) knows its layers
        import torch_oracle

        ours = json.loads(render_json(run(load_problem(str(SAMPLES / sample)))))
        differences = torch_oracle.compare(ours, torch_oracle.reference(SAMPLES / sample),
                                           rtol=1e-9, atol=1e-12)
        assert not differences, "\n".join(differences)
        return
    compare(doc, tmp_path)


def _contract_v1(doc: dict) -> bool:
    """Whether the reference above knows every layer and the loss of ``doc``."""
    v1_layers = {"conv2d", "maxpool2d", "avgpool2d", "relu", "leaky_relu", "sigmoid", "tanh",
                 "flatten", "dense"}
    return "layout" not in doc and \
        all(layer.get("type") in v1_layers and "input" not in layer
            for layer in doc.get("layers", [])) and \
        doc.get("loss", {}).get("type", "mse") in ("mse", "cross_entropy")


def random_problem(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 5))
    h, w = int(rng.integers(5, 11)), int(rng.integers(5, 11))
    rank = int(rng.choice([2, 3, 4])) if c == 1 and n == 1 else (3 if n == 1 else 4)
    x = rng.normal(size=(n, c, h, w))
    given = x.reshape(x.shape[4 - rank:]) if rank < 4 else x
    groups = int(rng.choice([g for g in (1, 2, 4) if c % g == 0]))
    f = groups * int(rng.integers(1, 3))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"]))
    stride = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    dilation = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    pad = [int(v) for v in rng.integers(0, 3, size=4)]
    if stride == [1, 1] and rng.integers(3) == 0:
        pad = "same"
    kernel = rng.normal(size=(f, c // groups, kh, kw))
    conv = {"type": "conv2d", "kernel": kernel.tolist(), "stride": stride, "padding": pad,
            "dilation": dilation, "groups": groups, "padding_mode": mode,
            "flip_kernel": bool(rng.integers(2))}
    if rng.integers(2):
        conv["bias"] = rng.normal(size=f).tolist()
    pool_kind = str(rng.choice(["maxpool2d", "avgpool2d"]))
    pool = {"type": pool_kind, "size": [2, int(rng.integers(1, 3))],
            "stride": [int(rng.integers(1, 3)), int(rng.integers(1, 3))], "padding": [1, 0],
            "ceil_mode": bool(rng.integers(2))}
    if pool_kind == "avgpool2d":
        pool["count_include_pad"] = bool(rng.integers(2))
    act = {"type": str(rng.choice(["relu", "leaky_relu", "sigmoid", "tanh"]))}
    if act["type"] == "leaky_relu":
        act["slope"] = 0.2
    doc = {"input": given.tolist(), "layers": [conv, act, pool]}
    return doc


@pytest.mark.parametrize("seed", range(40))
def test_random_conv_pool_problems_match_torch(seed, tmp_path):
    doc = random_problem(seed)
    path = tmp_path / "probe.json"
    # find the output shape with cnngrad's own forward pass, then pick a delta or a loss
    path.write_text(json.dumps({**doc, "delta": 0}))
    from cnngrad.errors import ShapeError

    try:
        load_problem(str(path))
    except ShapeError as error:
        if "expected shape" not in error.what:
            pytest.skip(f"settings do not fit: {error}")
        shape = tuple(int(s) for s in error.what.split("expected shape ")[1].split(" ")[0]
                      .split("×"))
    rng = np.random.default_rng(1000 + seed)
    if seed % 3 == 0:
        doc["layers"].append({"type": "flatten"})
        k = int(np.prod(shape[-3:])) if len(shape) in (3, 4) else int(np.prod(shape))
        doc["layers"].append({"type": "dense", "weights": rng.normal(size=(3, k)).tolist(),
                              "bias": rng.normal(size=3).tolist()})
        batched = np.asarray(doc["input"]).ndim == 4
        n = len(doc["input"]) if batched else 1
        doc["loss"] = {"type": "cross_entropy",
                       "target": rng.integers(0, 3, size=n).tolist() if batched else 1}
    elif seed % 3 == 1:
        doc["loss"] = {"type": "mse", "target": rng.normal(size=shape).tolist(),
                       "reduction": str(rng.choice(["half_sum", "sum", "mean"]))}
    else:
        doc["delta"] = rng.normal(size=shape).tolist()
    compare(doc, tmp_path)
