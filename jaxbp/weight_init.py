"""Initial weight scale (book section 6.2).

The book's ``MultiLayerNetExtend.__init_weight`` draws
``W = scale * randn(n_in, n_out)`` with ``scale`` from ``weight_init_std``:

    'relu' or 'he'           He initialisation (6.2.3)      scale = sqrt(2 / n_in)
    'sigmoid' or 'xavier'    Xavier initialisation (6.2.2)  scale = sqrt(1 / n_in)
    a number, e.g. 0.01      that standard deviation (6.2.1)

``n_in`` is the number of nodes in the previous layer.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["init_std", "NAMES"]

NAMES = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}


def init_std(weight_init_std: str | float, n_in: int) -> float:
    """Standard deviation of a layer's initial weights (6.2).

    ``weight_init_std``: ``'relu'``/``'he'`` -> ``sqrt(2 / n_in)``;
    ``'sigmoid'``/``'xavier'`` -> ``sqrt(1 / n_in)`` (case-insensitive, as the
    book's ``str(weight_init_std).lower()``); a positive finite number is
    returned unchanged.  ``n_in``: fan-in, a positive integer.

    Raises ``ValueError`` for an unknown name, a non-positive or non-finite
    number or a bad ``n_in``, ``TypeError`` for anything else.

    >>> init_std("He", 50), init_std("xavier", 100), init_std(0.01, 784)
    (0.2, 0.1, 0.01)
    """
    if isinstance(n_in, bool) or not isinstance(n_in, numbers.Integral) or n_in < 1:
        raise ValueError(f"init_std: n_in must be a positive integer, got {n_in!r}")
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key not in NAMES:
            raise ValueError(
                f"init_std: unknown weight_init_std {weight_init_std!r}; "
                f"use one of {', '.join(map(repr, NAMES))} or a number"
            )
        return math.sqrt(NAMES[key] / int(n_in))
    if isinstance(weight_init_std, bool) or not isinstance(weight_init_std, numbers.Real):
        raise TypeError(
            f"init_std: weight_init_std must be a name or a number, got "
            f"{type(weight_init_std).__name__}"
        )
    if not (math.isfinite(weight_init_std) and weight_init_std > 0):
        raise ValueError(
            f"init_std: weight_init_std must be positive and finite, got {weight_init_std}"
        )
    return float(weight_init_std)
