"""Number formatting shared by every human-readable renderer."""

from __future__ import annotations

from fractions import Fraction

DEFAULT_DECIMALS = 6


def fmt(value, decimals: int = DEFAULT_DECIMALS, scientific: bool | None = None) -> str:
    """A number for a table cell: fixed decimals, scientific when fixed would hide it.

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
        return f"{value:.{max(decimals - 1, 1)}e}"
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # "-0.000000" reads like a sign error
    return text


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
    return largest >= 1e12 or 0 < largest < 0.5 * 10.0 ** -decimals
