"""Statistics that tell a random secret from a guessable one."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


def chi_square_tail(statistic: float, degrees_of_freedom: int) -> float:
    """P(X >= statistic) for X ~ chi-square(degrees_of_freedom): the closed form of Q(k/2, x/2)."""
    x = statistic / 2
    if x <= 0:
        return 1.0
    if degrees_of_freedom % 2 == 0:
        # Q(n, x) = e^-x * sum(x^k / k!, k < n)
        terms = (k * math.log(x) - math.lgamma(k + 1) for k in range(degrees_of_freedom // 2))
        return min(1.0, sum(math.exp(term - x) for term in terms))
    # Q(n + 1/2, x) = erfc(sqrt(x)) + e^-x * sum(x^(k - 1/2) / Gamma(k + 1/2), 1 <= k <= n)
    terms = (
        (k - 0.5) * math.log(x) - math.lgamma(k + 0.5)
        for k in range(1, (degrees_of_freedom + 1) // 2)
    )
    return min(1.0, math.erfc(math.sqrt(x)) + sum(math.exp(term - x) for term in terms))


def uniformity_p_value(text: Iterable[str], alphabet: str) -> float:
    """Chi-square p-value of the characters of `text` against a uniform draw from `alphabet`."""
    counts = Counter(text)
    total = sum(counts.values())
    expected = total / len(alphabet)
    statistic = sum((counts[char] - expected) ** 2 / expected for char in alphabet)
    return chi_square_tail(statistic, len(alphabet) - 1)
