"""The learner's file: every exercise's signature, docstring and empty body.

``python -m jaxbp.exercises new FILE`` writes :func:`template_text` to ``FILE``
(:func:`new`); each body raises ``NotImplementedError`` until it is written,
and the grader skips those.
"""

from __future__ import annotations

import os

from jaxbp.exercises.spec import EXERCISES, NET_NAME, Exercise

__all__ = ["template_text", "new"]

_HEADER = '''"""Chapter 5 exercises (Deep Learning from Scratch, backpropagation) in JAX.

Each rule of the chapter is a pair of functions, JAX's own custom_vjp pair:

    NAME_fwd(inputs...) -> (out, residuals)
        the forward pass (순전파); residuals are what the book's layer keeps on
        self (the comments show the book's lines) for the backward pass;
    NAME_bwd(residuals, dout) -> (dx, ...)
        the backward pass (역전파): one cotangent per input, in order, always a
        tuple (note the comma in (dx,)); dout is the upstream derivative
        (상류에서 넘어온 미분), the chain rule (연쇄법칙) multiplies it by the
        local derivative (국소적 미분).

Use jax.numpy (jnp), not in-place NumPy updates: JAX arrays are immutable, so
the book's dout[self.mask] = 0 becomes jnp.where(mask, 0.0, dout).  Inside
jax.grad your functions see traced values: print them with
jax.debug.print("{x}", x=x), not print.  Check your work with

    python -m jaxbp.exercises check THIS_FILE [NAME ...]

A function that still raises NotImplementedError is skipped.
"""

import jax
import jax.numpy as jnp
'''

_NET = '''

# ---- TwoLayerNet's gradient (5.7.2) -------------------------------------------------
def custom_rule(fwd, bwd):
    """Your fwd/bwd pair as one function that jax.grad differentiates with your rule."""

    def f(*args):
        return fwd(*args)[0]

    f.__name__ = fwd.__name__.removesuffix("_fwd")  # the rule check names it: relu, affine
    f = jax.custom_vjp(f)
    f.defvjp(fwd, bwd)
    return f


def {name}(params, x, t):
    """TwoLayerNet's gradient by backpropagation (5.7.2), from your own rules.

    params: {{"W1": (n, h), "b1": (h,), "W2": (h, C), "b2": (C,)}};
    x: (N, n) a batch of N samples; t: one-hot labels (N, C).
    Returns a dict with the keys W1 b1 W2 b2 and the shapes of params: the
    gradient of loss = SoftmaxWithLoss(Affine2(Relu1(Affine1(x))), t).

    For example: affine = custom_rule(affine_fwd, affine_bwd), the same for
    relu and softmax_with_loss; write loss(params) with them; then
    return jax.grad(loss)(params).
    """
    raise NotImplementedError
'''


def _pair_text(ex: Exercise) -> str:
    args = ", ".join(ex.args)
    grads = ", ".join(g or "None" for g in ex.grads) + ("," if len(ex.grads) == 1 else "")
    stores = "\n".join(f"    # {line}" for line in ex.book)
    labels = " (t is not differentiated: return None for it)" if None in ex.grads else ""
    rule = f"# ---- {ex.name} ({ex.section}) "
    return f'''

{rule}{"-" * max(4, 88 - len(rule))}
def {ex.fwd}({args}):
    """Forward pass (순전파) of {ex.name}, {ex.section}.

    {ex.shapes}.
    Returns (out, residuals); the book's layer stores:
    """
{stores}
    raise NotImplementedError


def {ex.bwd}(residuals, dout):
    """Backward pass (역전파) of {ex.name}, {ex.section}: returns ({grads}).

    residuals: what {ex.fwd} returned; dout: the upstream derivative, the shape of out.
    Each cotangent has its input's shape{labels}.
    """
    raise NotImplementedError
'''


def template_text() -> str:
    """The learner's file as text: a header, then every exercise with an empty body.

    Returns:
      Python source; it imports, and every function in it raises
      ``NotImplementedError``.

    >>> text = template_text()
    >>> "def relu_fwd(x):" in text and "# self.mask = (x <= 0)" in text
    True
    """
    return (
        _HEADER + "".join(_pair_text(ex) for ex in EXERCISES.values()) + _NET.format(name=NET_NAME)
    )


def new(path: str | os.PathLike[str]) -> str:
    """Write :func:`template_text` to ``path``; refuse to overwrite an existing file.

    Args:
      path: the learner's new file, e.g. ``"my_backprop.py"``.

    Returns:
      ``path`` as a string.

    Raises:
      FileExistsError: ``path`` exists (it is left untouched).

    >>> import os, tempfile
    >>> path = new(os.path.join(tempfile.mkdtemp(), "mine.py"))
    >>> open(path).read().count("raise NotImplementedError")
    13
    """
    path = os.fspath(path)
    with open(path, "x", encoding="utf-8") as f:  # "x": fails if it exists
        f.write(template_text())
    return path
