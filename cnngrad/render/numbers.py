"""Number formatting shared by every human-readable renderer."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import numpy as np

DEFAULT_DECIMALS = 6


def ties_away_from_zero(values: np.ndarray, decimals: int) -> np.ndarray | None:
    """``values`` with every float exactly halfway between two ``decimals``-place numbers
    (0.125 at 2, 2.5 at 0) moved one ulp away from zero, so that fixed-point formatting,
    which rounds such a tie to even (``0.12``), rounds it a half away from zero (``0.13``)
    as the decimal beside an exact fraction is rounded.  A float x is such a tie exactly
    when x·2^(decimals+1) is an odd integer (2·10^d·x odd, and 5^d is odd); any other float
    is already rounded correctly from the value it holds.

    None when a tie's ulp is not small beside 10^-decimals (10000000000.0078125 at 6
    decimals, 0.5 + 2^-18 at 17): one ulp would move its digits too, so such values are
    written one at a time by :func:`fmt` (:func:`tie_text`)."""
    # x·2^(d+1) odd ⟺ x·2^d is a whole number and a half; floor is numpy's fast loop where
    # a float % is not (a 1×64×112×112 csv: 9 ms against 27 of 250)
    with np.errstate(over="ignore", invalid="ignore"):  # a huge x is no tie (inf − inf)
        scaled = values * 2.0 ** decimals
        fraction = np.floor(scaled)
        np.subtract(scaled, fraction, out=fraction)
    tie = fraction == 0.5
    if not tie.any():
        return values
    if (np.spacing(np.abs(values[tie])) >= 0.25 * 10.0 ** -decimals).any():
        return None
    return np.where(tie, np.nextafter(values, np.copysign(np.inf, values)), values)


#: :func:`scientific_ties` judges a cell by floats up to this many digits after the point;
#: past it every cell is rounded from its exact value.
SCIENTIFIC_TIE_DIGITS = 8


def scientific_ties(values: np.ndarray, digits: int) -> np.ndarray:
    """The cells of ``values`` that may be exactly halfway between two numbers of ``digits``
    digits after the point in scientific notation (1.25e12 at 1), where ``%e`` rounds to
    even: a superset (every such tie, and a few cells near one), each then written by
    :func:`scientific_text`.  The mantissa scaled to a whole number of ``digits + 1`` digits
    is off by under 10⁻⁶ in floats, so a half within 10⁻³ of its fraction is a candidate."""
    with np.errstate(all="ignore"):
        magnitude = np.abs(values)
        exponent = np.floor(np.log10(magnitude))
        scaled = magnitude / 10.0 ** (exponent - digits)
        fraction = scaled - np.floor(scaled)
        maybe = (np.abs(fraction - 0.5) < 1e-3) | ~np.isfinite(scaled) | (np.abs(exponent) > 290)
    if digits > SCIENTIFIC_TIE_DIGITS:
        maybe[:] = True
    return maybe & np.isfinite(magnitude) & (magnitude > 0)


def tie_text(value: float, decimals: int) -> str:
    """A float exactly halfway between two ``decimals``-place numbers, rounded a half away
    from zero from the value it holds (exact, as a Decimal)."""
    return format(Decimal(value).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP), "f")


def scientific_text(value: float, digits: int) -> str:
    """``value`` in scientific notation with ``digits`` after the point, rounded from the
    float's exact value a half away from zero as fixed decimals are (1.25e12 at one digit
    is ``1.3e+12``; Python's format rounds that tie to even, ``1.2e+12``)."""
    with localcontext() as context:
        context.rounding, context.prec = ROUND_HALF_UP, digits + 1
        rounded = +Decimal(value)
    mantissa, _, exponent = f"{rounded:.{digits}e}".partition("e")
    return f"{mantissa}e{int(exponent):+03d}"  # two exponent digits at least, as float's


def fmt(value, decimals: int = DEFAULT_DECIMALS, scientific: bool | None = None) -> str:
    """A number for a table cell: fixed decimals, scientific when fixed would hide it; a
    tie rounded a half away from zero (:func:`ties_away_from_zero`).

    ``scientific`` is normally decided once per tensor (:func:`wants_scientific`), so that
    floating-point noise such as 2.8e-17 beside 0.3 reads as 0.000000; ``None`` decides per
    value.  Exact values (``Fraction``) print as ``p/q`` (or ``p``)."""
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if scientific is None:
        scientific = wants_scientific([value], decimals)
    if scientific and value != 0:
        return scientific_text(value, max(decimals - 1, 1))
    if value * 2.0 ** (decimals + 1) % 2 == 1:  # a tie: its exact digits, a half away
        return tie_text(value, decimals)
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # "-0.000000" reads like a sign error
    return text


def exact_beside(value: Fraction, decimals: int = DEFAULT_DECIMALS) -> tuple[str, str]:
    """The sign and the decimal beside an exact value: ``("=", "0.068600")`` for 343/5000,
    which the decimal writes exactly, ``("≈", "0.333333")`` for 1/3, which it rounds."""
    text = fmt_exact_decimal(value, decimals)
    try:
        exact = Fraction(text) == Fraction(value)
    except (ValueError, ZeroDivisionError):
        exact = False
    return ("=" if exact else "≈"), text


def fmt_exact_decimal(value: Fraction, decimals: int = DEFAULT_DECIMALS) -> str:
    """The decimal beside an exact value: ``1/3 ≈ 0.333333``, rounded from the fraction itself
    with a half away from zero (``29/200`` → ``0.15`` at 2 decimals), never through a float,
    whose own digits would show at many decimals (``3/10`` is ``0.30000000000000000``, not
    ``0.29999999999999999``).  Scientific, as :func:`fmt`, when fixed decimals would hide it
    or it is 10¹² or more."""
    value = Fraction(value)
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    if magnitude == 0:
        return fmt(0.0, decimals)
    if Fraction(1, 2 * 10**decimals) <= magnitude < 10**12:
        return sign + half_up_text(magnitude, decimals)
    digits = max(decimals - 1, 1)
    exponent = len(str(magnitude.numerator)) - len(str(magnitude.denominator))
    while magnitude < Fraction(10) ** exponent:
        exponent -= 1
    while magnitude >= Fraction(10) ** (exponent + 1):
        exponent += 1
    mantissa = half_up_text(magnitude / Fraction(10) ** exponent, digits)
    if mantissa.startswith("10"):  # 9.99…5 rounds up to the next power of ten
        exponent += 1
        mantissa = half_up_text(magnitude / Fraction(10) ** exponent, digits)
    return f"{sign}{mantissa}e{exponent:+03d}"


def half_up_text(value: Fraction, decimals: int) -> str:
    """A nonnegative exact value (a score, points) to ``decimals`` places with a half
    rounded up, as a gradebook is checked by hand: 90.625 → ``90.63`` (a float's formatting
    rounds that exact half to even, ``90.62``)."""
    scaled = int(Fraction(value) * 10**decimals + Fraction(1, 2))  # floor: value ≥ 0
    whole, part = divmod(scaled, 10**decimals)
    return f"{whole}.{part:0{decimals}d}" if decimals else str(whole)


def json_number(value):
    """A JSON-ready scalar: full-precision float, or ``"p/q"`` for an exact value."""
    if isinstance(value, Fraction):
        return fmt(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return float(value)


def wants_scientific(values, decimals: int = DEFAULT_DECIMALS) -> bool:
    """True when fixed decimals would hide a whole tensor: its largest magnitude rounds to 0,
    or is too large to read (≥ 1e12)."""
    largest = 0.0
    for value in values:
        if isinstance(value, Fraction):
            return False
        magnitude = abs(float(value))
        if magnitude == magnitude:
            largest = max(largest, magnitude)
    return scale_unreadable(largest, decimals)


def scale_unreadable(largest: float, decimals: int) -> bool:
    """True when a tensor whose largest magnitude is ``largest`` cannot be read at fixed
    ``decimals``: that magnitude is 10¹² or more, or it is not 0 and rounds to 0 as
    :func:`fmt` rounds it (5e-7 at 6 decimals: the float is a hair below 0.0000005)."""
    if largest >= 1e12:
        return True
    if not 0 < largest < 10.0 ** -decimals:
        return False
    tie = largest * 2.0 ** (decimals + 1) % 2 == 1  # fmt takes a tie a half away from zero
    return not tie and float(f"{largest:.{decimals}f}") == 0
