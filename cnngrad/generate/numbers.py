"""Number styles: which numbers a generated problem is made of, and how they are written.

Every number is a :class:`~fractions.Fraction` built from drawn integers, and is written into
the problem exactly: ``3``, ``0.25``, ``"-2/3"``.  A style promises how many decimals the
answers need (:attr:`Style.decimals` per factor: a product of two one-decimal numbers has two),
or, for ``fractions``, that every answer is an exact fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from cnngrad.generate.draw import Draw
from cnngrad.tensorio import decimals_needed

_QUARTERS_THIRDS = (Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3),
                    Fraction(3, 4), Fraction(1), Fraction(3, 2))


@dataclass(frozen=True)
class Style:
    """How the numbers of a problem are drawn.

    ``decimals`` is the number of decimals of one drawn number (None: fractions); ``scale``
    the denominator of a decimal style (1, 10, 100).
    """

    name: str
    description: str
    decimals: int | None
    scale: int = 1

    @property
    def exact_fractions(self) -> bool:
        return self.decimals is None

    def _decimal(self, draw: Draw, low: int, high: int, nonzero: bool) -> Fraction:
        while True:
            k = draw.between(low, high)
            if k or not nonzero:
                return Fraction(k, self.scale)

    def data(self, draw: Draw) -> Fraction:
        """A value of an input map: 0 … 4, 0.0 … 0.9, 0.00 … 0.99, or a small fraction."""
        if self.exact_fractions:
            return draw.pick((Fraction(0),) + _QUARTERS_THIRDS)
        high = {1: 4, 10: 9, 100: 99}[self.scale]
        return self._decimal(draw, 0, high, nonzero=False)

    def signed(self, draw: Draw) -> Fraction:
        """A value of either sign, possibly 0 (a map of a signed quantity)."""
        if self.exact_fractions:
            value = draw.pick((Fraction(0),) + _QUARTERS_THIRDS)
            return -value if draw.below(2) else value
        high = {1: 3, 10: 9, 100: 99}[self.scale]
        return self._decimal(draw, -high, high, nonzero=False)

    def weight(self, draw: Draw) -> Fraction:
        """A kernel or weight entry: nonzero, either sign (±1 … ±2, ±0.1 … ±0.9, ...)."""
        if self.exact_fractions:
            value = draw.pick(_QUARTERS_THIRDS[:-1])
            return -value if draw.below(2) else value
        high = {1: 2, 10: 9, 100: 99}[self.scale]
        return self._decimal(draw, -high, high, nonzero=True)

    def delta(self, draw: Draw) -> Fraction:
        """An upstream δ entry: nonzero, either sign."""
        if self.exact_fractions:
            value = draw.pick(_QUARTERS_THIRDS[:-1])
            return -value if draw.below(2) else value
        high = {1: 3, 10: 9, 100: 99}[self.scale]
        return self._decimal(draw, -high, high, nonzero=True)

    def bias(self, draw: Draw) -> Fraction:
        """A bias: small, either sign, possibly 0."""
        if self.exact_fractions:
            return draw.pick((Fraction(-1, 2), Fraction(0), Fraction(1, 2)))
        high = {1: 2, 10: 5, 100: 50}[self.scale]
        return self._decimal(draw, -high, high, nonzero=False)

    def writes(self, value: Fraction) -> bool:
        """Whether ``value`` is a number of this style as written in a problem: at most its
        decimals (any fraction for ``fractions``, whose answers are fractions anyway)."""
        return self.exact_fractions or (Fraction(value) * self.scale).denominator == 1

    def text(self, value: Fraction) -> str:
        """The JSON token of a value: an integer, an exact decimal, or a ``"p/q"`` string."""
        value = Fraction(value)
        if value.denominator == 1:
            return str(value.numerator)
        if self.exact_fractions or decimals_needed(value) is None:
            return f'"{value.numerator}/{value.denominator}"'
        return decimal_text(value)


STYLES: dict[str, Style] = {
    "int": Style("int", "small integers (inputs 0 … 4, weights ±1, ±2, δ −3 … 3)", 0, 1),
    "1dp": Style("1dp", "one decimal (0.0 … 0.9, weights and δ ±0.1 … ±0.9)", 1, 10),
    "2dp": Style("2dp", "two decimals (0.00 … 0.99, weights and δ ±0.01 … ±0.99)", 2, 100),
    "fractions": Style("fractions", "halves, thirds and quarters (answers as exact fractions)",
                       None),
}


def decimal_text(value: Fraction, decimals: int | None = None) -> str:
    """``value`` as a decimal with ``decimals`` places (default: exactly as many as it needs),
    rounded half away from zero when it needs more."""
    value = Fraction(value)
    if decimals is None:
        decimals = decimals_needed(value)
        if decimals is None:
            raise ValueError(f"{value} has no finite decimal")
    scaled = abs(value) * 10**decimals
    units = int(scaled)
    if scaled - units >= Fraction(1, 2):
        units += 1
    sign = "-" if value < 0 and units else ""
    digits = str(units).rjust(decimals + 1, "0")
    if not decimals:
        return sign + digits
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"
