"""The layer registry: every layer type and loss cnngrad knows, one line each.

A family module (``cnngrad/families/<module>.py``) knows everything about its layer types:
fields, defaults and validation, JSON Schema, forward and backward step, parameters and
their labels, explanation rules, textbook steps, kinks and common slips (the protocol is
:class:`cnngrad.families.base.LayerFamily`).  Services never test a type name: they ask
:func:`layer_family` (or :func:`loss_family`) and call what it gives.  Modules are imported
on first use, so a run pays only for the layer types its problem has.

Adding a layer type: write its module, add its line below, its tests and its row in
docs/format.md (docs/architecture.md has the checklist).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cnngrad.families.base import LayerFamily, LossFamily

#: layer type → "module:FAMILY" (the family object in cnngrad/families/<module>.py), in the
#: order the types are listed (error hints, the schema)
LAYERS: dict[str, str] = {
    "conv2d": "conv2d:CONV2D",
    "maxpool2d": "pool2d:MAXPOOL2D",
    "avgpool2d": "pool2d:AVGPOOL2D",
    "global_avgpool": "global_avgpool:GLOBAL_AVGPOOL",
    "conv1d": "conv1d:CONV1D",
    "maxpool1d": "pool1d:MAXPOOL1D",
    "avgpool1d": "pool1d:AVGPOOL1D",
    "conv_transpose2d": "conv_transpose2d:CONV_TRANSPOSE2D",
    "upsample": "upsample:UPSAMPLE",
    "relu": "activations:RELU",
    "leaky_relu": "activations:LEAKY_RELU",
    "sigmoid": "activations:SIGMOID",
    "tanh": "activations:TANH",
    "flatten": "flatten:FLATTEN",
    "dense": "dense:DENSE",
    "add": "merge:ADD",
    "concat": "merge:CONCAT",
    "batchnorm2d": "batchnorm:BATCHNORM2D",
    "batchnorm1d": "batchnorm:BATCHNORM1D",
    "dropout": "dropout:DROPOUT",
    "softmax": "softmax:SOFTMAX",
    "log_softmax": "softmax:LOG_SOFTMAX",
}

#: loss type → "module:FAMILY"
LOSSES: dict[str, str] = {
    "mse": "losses:MSE",
    "cross_entropy": "losses:CROSS_ENTROPY",
    "bce": "prob_losses:BCE",
    "bce_with_logits": "prob_losses:BCE_WITH_LOGITS",
    "nll": "prob_losses:NLL",
}

#: the layer type of the one-layer shorthand (``"kernel"`` at the top of a problem)
SHORTHAND = "conv2d"

_loaded: dict[str, object] = {}


def _load(entry: str):
    family = _loaded.get(entry)
    if family is None:
        module, name = entry.split(":")
        family = getattr(importlib.import_module(f"cnngrad.families.{module}"), name)
        _loaded[entry] = family
    return family


def layer_family(kind: str) -> LayerFamily:
    """The family of a layer type (``KeyError`` for an unknown type: the loader checks first)."""
    return _load(LAYERS[kind])


def loss_family(kind: str) -> LossFamily:
    """The family of a loss type."""
    return _load(LOSSES[kind])


def layer_families() -> list[LayerFamily]:
    """Every layer family, in registry order (this imports them all: schema, slips)."""
    return [layer_family(kind) for kind in LAYERS]


def loss_families() -> list[LossFamily]:
    return [loss_family(kind) for kind in LOSSES]


def layer_fields() -> dict[str, tuple[str, ...]]:
    """Layer type → the keys it accepts besides ``type`` and ``name``."""
    return {kind: layer_family(kind).fields for kind in LAYERS}


def loss_fields() -> dict[str, tuple[str, ...]]:
    """Loss type → the keys it accepts besides ``type``."""
    return {kind: loss_family(kind).fields for kind in LOSSES}


def _called(written: str, families) -> str | None:
    """The type of the family one of whose ``other_names`` is ``written`` (:func:`_key`), or
    None."""
    return next((family.type for family in families if written_key(written) in family.other_names),
                None)


def written_key(written: str) -> str:
    """A type as another framework writes it, as ``other_names`` and ``look_alikes`` hold it:
    its last dotted part, letters and digits in lower case (``nn.Linear``: ``linear``)."""
    return "".join(char for char in written.rpartition(".")[2].lower() if char.isalnum())


def layer_type_called(written: str) -> str | None:
    """The layer type another framework calls ``written`` (``Linear``: dense), or None.  This
    imports every family: call it only for a type that is not known."""
    return _called(written, layer_families())


def layer_type_resembled(written: str) -> str | None:
    """The layer type that ``written`` is spelt like but is not (``gelu``: relu, one of its
    ``look_alikes``), or None."""
    return next((family.type for family in layer_families()
                 if written_key(written) in family.look_alikes), None)


def loss_type_called(written: str) -> str | None:
    """The loss type another framework calls ``written`` (``CrossEntropyLoss``), or None."""
    return _called(written, loss_families())


def family_of(spec) -> LayerFamily:
    """The family of a layer spec."""
    return layer_family(spec.type)


def loss_input_note(problem) -> str | None:
    """What the problem's loss says of the last layer's output it reads (a softmax before
    cross_entropy: :meth:`LossFamily.note_on_input`), or None."""
    if problem.loss is None or not problem.layers:
        return None
    last = problem.layers[-1]
    return loss_family(problem.loss.type).note_on_input(last.name, family_of(last))


__all__ = ["LAYERS", "LOSSES", "SHORTHAND", "layer_fields", "loss_fields", "layer_family", "loss_family", "loss_input_note", "layer_families",
           "loss_families", "family_of", "layer_type_called", "layer_type_resembled",
           "loss_type_called", "written_key"]
