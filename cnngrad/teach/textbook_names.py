"""What a textbook or an assignment calls a tensor (``dW``, ``dE/db``, ``dA_prev``), mapped
to the dotted paths of a problem, for the hint of an unknown path in ``check`` and
``explain``.

Only the three names a backprop exercise asks for are read: a weight gradient, a bias
gradient and an input delta.  The written name is lower-cased and kept to its letters, so
``dW``, ``d_w``, ``dW1``, ``dE/dW``, ``dL_dw``, ``dJ_dW``, ``grad_W`` and ``W_grad`` read
alike.  The parameters are found by the names the contract gives them (``kernel``,
``weights``, ``bias``), the input deltas by ``delta_in`` (a merge layer's per input too).
"""

from __future__ import annotations

import re
from typing import Iterable

from cnngrad.errors import first_of

#: (what the name reads as, the words that name it, the endings of the paths that hold it)
_NAMES = (
    ("a weight gradient", ("w", "k", "weight", "weights", "kernel", "filter", "filters"),
     (".grads.kernel", ".grads.weights")),
    ("a bias gradient", ("b", "bias", "biases"), (".grads.bias",)),
    ("an input delta", ("x", "input", "inputs", "aprev", "xprev", "prev", "in"),
     (".delta_in",)),
)

#: ``d`` + word, ``dE/d`` (``dL/d``, ``dJ/d``, ``dC/d``) + word, ``grad`` + word, word +
#: ``grad``
_FORMS = re.compile(r"^(?:(?:d[elcj])?d(?P<d>[a-z]+)|grad(?P<grad>[a-z]+)|(?P<after>[a-z]+)grad)$")


def _holds(path: str, endings: tuple[str, ...]) -> bool:
    """Whether a path is one of the tensors the endings name: ``conv2d_1.delta_in``, and a
    merge layer's ``add_1.delta_in.relu_1``."""
    return any(path.endswith(ending) or ending + "." in path for ending in endings)


def textbook_paths(name: str, known: Iterable[str]) -> tuple[str, list[str]] | None:
    """What a textbook's name reads as, and the problem's paths that hold it.

    Parameters
    ----------
    name : str
        A key of an answers file or the PATH given to ``explain``, without its index.
    known : iterable of str
        The problem's dotted paths, forward order.

    Returns
    -------
    (str, list of str) or None
        ``("a weight gradient", ["conv2d_1.grads.kernel"])``, the list empty when no layer
        has such a tensor (``db`` with no bias); None when the name is not one of the three,
        is a layer's own name (``dw_1``), or keeps to a layer that has no such tensor.

    Notes
    -----
    A layer's name before the textbook's, ``conv2d_1.dW``, keeps to that layer's paths; when
    that layer has none (``bn_1.db``: its bias is ``beta``) the closest paths say more.

    Examples
    --------
    >>> textbook_paths("dE/dW", ["conv2d_1.delta_in", "conv2d_1.grads.kernel"])
    ('a weight gradient', ['conv2d_1.grads.kernel'])
    """
    known = list(known)
    layer, dot, written = name.rpartition(".")
    if dot and not any(path.startswith(layer + ".") for path in known):
        return None
    if any(path.startswith(name + ".") for path in known):
        return None  # a layer's own name, dw_1, not a textbook's
    match = _FORMS.match(re.sub(r"[^a-z]", "", written.lower()))
    if match is None:
        return None
    word = match.group("d") or match.group("grad") or match.group("after")
    for what, words, endings in _NAMES:
        if word in words:
            paths = [path for path in known
                     if _holds(path, endings) and path.startswith(layer + dot)]
            return None if dot and not paths else (what, paths)
    return None


def parameter_hint(name: str, known: Iterable[str]) -> str | None:
    """The hint for a layer's parameter path under another library's name
    (``dense_1.grads.kernel``, Keras' name of a dense layer's weights; ``conv2d_1.grads.W``):
    that layer's own path for it, ``dense_1 names it weights: dense_1.grads.weights``.  None
    for any other name (a typo, ``kernal``, or a layer's name misspelt), which the closest
    paths answer better."""
    layer, _, written = name.rpartition(".")
    owner, dot, kind = layer.rpartition(".")
    if not dot or kind not in ("grads", "updated"):
        return None
    own = [path for path in known if path.startswith(layer + ".")]
    if not own or name in own:
        return None
    word = re.sub(r"[^a-z]", "", written.lower())
    for what, words, endings in _NAMES:
        if word in words:
            # an updated parameter's paths end as its gradient's do, under .updated
            endings = tuple(ending.replace(".grads.", f".{kind}.") for ending in endings)
            paths = [path for path in own if _holds(path, endings)]
            if len(paths) == 1:
                return f"{owner} names it {paths[0].rpartition('.')[2]}: {paths[0]}"
    return None  # a typo (kernal), or no such parameter: the closest paths say more


def per_input_paths(name: str, known: Iterable[str]) -> list[str]:
    """A merge layer's (``add``, ``concat``) input deltas, one per input, when ``name`` is its
    ``delta_in`` as a whole (``add_1.delta_in``: ``add_1.delta_in.relu_1``, ...); else []."""
    if not name.endswith(".delta_in"):
        return []
    return [path for path in known if path.startswith(name + ".")]


def input_delta_hint(name: str, trace) -> str | None:
    """The hint for a path of the problem's input (``input.delta_out``, ``input``): it has
    none of its own; its delta is what each layer reading it sends back, under that layer's
    path (``conv_a.delta_in``, ``skip.delta_in.input`` for an add), and backward's ``input``
    panel shows their sum.  None for any other path."""
    from cnngrad.families import family_of
    from cnngrad.problem import INPUT

    if re.split(r"[.\[ ]", name, maxsplit=1)[0] != INPUT:
        return None
    readers = trace.problem.readers(INPUT)
    paths = list(dict.fromkeys(
        f"{spec.name}.delta_in.{INPUT}" if family_of(spec).reads_many else
        f"{spec.name}.delta_in" for spec in readers))
    if len(paths) == 1:
        return f"the problem's input has no path of its own: its delta is {paths[0]}"
    return (f"the problem's input has no path of its own: its delta is the sum of what each "
            f"layer reading it sends back, {', '.join(paths)} (backward's input panel shows "
            f"the sum)")


def textbook_hint(name: str, known: Iterable[str]) -> str | None:
    """The hint for an unknown path that a textbook would write: ``dW reads as a weight
    gradient; here it is conv2d_1.grads.kernel`` (``..., one of a, b`` for several); None
    when :func:`textbook_paths` reads nothing."""
    read = textbook_paths(name, known)
    if read is None:
        return None
    what, paths = read
    if not paths:
        return f"{name} reads as {what}, and no layer here has one"
    if len(paths) == 1:
        return f"{name} reads as {what}; here it is {paths[0]}"
    return f"{name} reads as {what}, one of {first_of(paths, 4)}"
