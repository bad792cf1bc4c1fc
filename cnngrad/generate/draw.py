"""Reproducible random integers: the same seed gives the same problem on every machine.

Only raw 64-bit words of PCG64 are used (``Generator(PCG64(seed)).bit_generator.random_raw``):
the PCG64 stream and its seeding (``SeedSequence``) are fixed algorithms, while the methods of
``Generator`` that turn words into ranges or floats may change between numpy versions.  Every
range is cut from those words here, by rejection (no modulo bias), and every decimal or
fraction is built from integers: no float ever decides a problem's numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np

_WORD = 1 << 64

#: Largest seed accepted (PCG64 takes any non-negative integer; 2⁶⁴ − 1 keeps it typeable).
MAX_SEED = _WORD - 1


class Draw:
    """Integers drawn from PCG64 seeded with ``seed``.

    Parameters
    ----------
    seed : int
        0 ≤ seed ≤ 2⁶⁴ − 1.
    """

    def __init__(self, seed: int) -> None:
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed out of range: {seed}")
        self.seed = seed
        self._bits = np.random.Generator(np.random.PCG64(seed)).bit_generator

    def below(self, n: int) -> int:
        """A uniform integer in 0 … n − 1."""
        if n < 1:
            raise ValueError(f"empty range: below({n})")
        limit = _WORD - _WORD % n  # words at or above it would favour the small remainders
        while True:
            word = int(self._bits.random_raw())
            if word < limit:
                return word % n

    def between(self, low: int, high: int) -> int:
        """A uniform integer in low … high (both included)."""
        return low + self.below(high - low + 1)

    def pick(self, options):
        """One of a sequence, uniformly."""
        return options[self.below(len(options))]


def student_seed(exam_seed: int, student_id: str) -> int:
    """The seed of one student's variant: a stable hash of the exam's seed and the id (SHA-256,
    not Python's ``hash``, which changes from run to run)."""
    digest = hashlib.sha256(f"cnngrad exam {exam_seed} student {student_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
