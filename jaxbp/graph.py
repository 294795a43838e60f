"""Computational-graph nodes (book sections 5.1-5.4).

The book's ``MulLayer`` and ``AddLayer`` (5.4.1, 5.4.2) are classes that keep
their inputs on ``self`` between ``forward`` and ``backward``.  Here each node
is a pure function with a hand-written :func:`jax.custom_vjp` rule: the
forward pass returns the residuals the book stores on ``self`` and the
backward pass receives them back.  ``jax.grad`` / ``jax.vjp`` of any function
composed from these nodes then runs exactly the book's backward pass
(figures 5-16 and 5-17).

    add: z = x + y,  dz/dx = 1, dz/dy = 1   (eq. 5.5; the derivative passes through)
    mul: z = x * y,  dz/dx = y, dz/dy = x   (eq. 5.6; the inputs are swapped)

Both accept scalars or arrays of the same shape; broadcasting is refused so
that the backward rule never has to un-broadcast (and never silently does).
Inside ``jax.shard_map`` both inputs enter the rule with one varying-axes type
(:func:`jaxbp._cotangents.alike`), so each derivative comes back typed like its input.

The book's two shopping examples (5.4.1 ``buy_apple.py``, 5.4.2
``buy_apple_orange.py``) are :func:`buy_apple` and :func:`buy_apple_orange`:
the price as a function of the inputs, so that ``jax.grad`` of it runs the
backward pass the book calls layer by layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
from jax.typing import ArrayLike

from jaxbp import _checks
from jaxbp._cotangents import alike

if TYPE_CHECKING:  # drawing imports graphviz; only draw() and explore() need it
    from jaxbp.drawing import Drawing
    from jaxbp.explore import Explorer

__all__ = ["add", "mul", "buy_apple", "buy_apple_orange", "draw", "explore"]


# ---- AddLayer (5.4.2) -------------------------------------------------------
@jax.custom_vjp
def _add(x, y):
    return x + y


def _add_fwd(x, y):
    return x + y, None  # the add node stores nothing


def _add_bwd(_, dout):
    return dout * 1, dout * 1  # book: dx = dout * 1; dy = dout * 1


_add.defvjp(_add_fwd, _add_bwd)


def add(x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Addition node ``z = x + y`` (5.3.1, eq. 5.5; ``AddLayer`` in 5.4.2).

    Backward: the upstream derivative ``dout`` flows unchanged to both inputs.

    >>> float(add(200.0, 450.0))
    650.0
    >>> [float(g) for g in jax.grad(add, argnums=(0, 1))(200.0, 450.0)]  # dout * 1, twice
    [1.0, 1.0]
    """
    return _add(*alike(*_checks.check_pair("add", x, y)))


# ---- MulLayer (5.4.1) -------------------------------------------------------
@jax.custom_vjp
def _mul(x, y):
    return x * y


def _mul_fwd(x, y):
    return x * y, (x, y)  # book: self.x = x; self.y = y


def _mul_bwd(res, dout):
    x, y = res
    return dout * y, dout * x  # book: "x와 y를 바꾼다" (swap x and y)


_mul.defvjp(_mul_fwd, _mul_bwd)


def mul(x: ArrayLike, y: ArrayLike) -> jax.Array:
    """Multiplication node ``z = x * y`` (5.3.2, eq. 5.6; ``MulLayer`` in 5.4.1).

    Forward keeps both inputs; backward multiplies ``dout`` by the *other*
    input: ``dx = dout * y``, ``dy = dout * x``.

    >>> float(mul(100.0, 2.0))
    200.0
    >>> [float(g) for g in jax.grad(mul, argnums=(0, 1))(100.0, 2.0)]  # dout * y, dout * x
    [2.0, 100.0]
    """
    return _mul(*alike(*_checks.check_pair("mul", x, y)))


# ---- the shopping examples (5.4.1, 5.4.2) ------------------------------------
def buy_apple(
    apple: ArrayLike = 100.0, apple_num: ArrayLike = 2.0, tax: ArrayLike = 1.1
) -> jax.Array:
    """Figure 5-16 (``buy_apple.py``, 5.4.1): 2 apples at 100 each, 10% tax.

    ``mul_apple_layer`` then ``mul_tax_layer``; the defaults are the book's
    numbers.  ``jax.grad`` runs the two multiplication nodes' rules backward:

    >>> import jax
    >>> print(f"{buy_apple():.6g}")                                   # price
    220
    >>> grads = jax.grad(buy_apple, argnums=(0, 1, 2))(100.0, 2.0, 1.1)
    >>> print(" ".join(f"{g:.6g}" for g in grads))   # dapple, dapple_num, dtax
    2.2 110 200
    """
    apple_price = mul(apple, apple_num)
    return mul(apple_price, tax)


def buy_apple_orange(
    apple: ArrayLike = 100.0,
    apple_num: ArrayLike = 2.0,
    orange: ArrayLike = 150.0,
    orange_num: ArrayLike = 3.0,
    tax: ArrayLike = 1.1,
) -> jax.Array:
    """Figure 5-17 (``buy_apple_orange.py``, 5.4.2): plus 3 oranges at 150.

    Two multiplication nodes, one addition node, then the tax:

    >>> import jax
    >>> print(f"{buy_apple_orange():.6g}")                            # price
    715
    >>> da, dan, do, don, dt = jax.grad(buy_apple_orange, argnums=(0, 1, 2, 3, 4))(
    ...     100.0, 2.0, 150.0, 3.0, 1.1)
    >>> print(" ".join(f"{g:.6g}" for g in (dan, da, do, don, dt)))   # the book's order
    110 2.2 3.3 165 650
    """
    apple_price = mul(apple, apple_num)
    orange_price = mul(orange, orange_num)
    all_price = add(apple_price, orange_price)
    return mul(all_price, tax)


def draw(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Drawing:
    """Draw ``f``'s computational graph; see :func:`jaxbp.drawing.draw`.

    Making the DOT text needs no Graphviz; ``.render(path)`` needs ``dot``.

    >>> d = draw(buy_apple)                 # figure 5-16
    >>> print(d.source.count("×"), "multiplication nodes")
    2 multiplication nodes
    """
    from jaxbp.drawing import draw as _draw

    return _draw(f, *args, **kwargs)


def explore(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Explorer:
    """A page that steps through ``f``'s backprop; see :func:`jaxbp.explore.explore`.

    Needs no Graphviz: the page draws its own SVG.

    >>> page = explore(buy_apple)           # figure 5-16, forward then backward
    >>> page.html.startswith("<!DOCTYPE html>")
    True
    """
    from jaxbp.explore import explore as _explore

    return _explore(f, *args, **kwargs)
