"""The learner's file: every exercise's signature, docstring and empty body.

``python -m jaxbp.exercises new FILE [--chapter N]`` writes
:func:`template_text` of that chapter (5 by default) to ``FILE`` (:func:`new`);
its first line, ``# jaxbp exercises: chapter N``, tells the grader which
chapter the file is.  Each body raises ``NotImplementedError`` until it is
written, and the grader skips those.
"""

from __future__ import annotations

import os
import re
import textwrap

from jaxbp.exercises.spec import (
    CHAPTERS,
    NET_NAME,
    Exercise,
    Function,
    Network,
    Update,
    item,
    names_of,
)

__all__ = ["template_text", "new", "header_line"]

_USAGE = '''Use jax.numpy (jnp), not in-place NumPy updates: JAX arrays are immutable, so
the book's dout[self.mask] = 0 becomes jnp.where(mask, 0.0, dout).  Inside
jax.grad your functions see traced values: print them with
jax.debug.print("{x}", x=x), not print.  Check your work with

    python -m jaxbp.exercises check THIS_FILE [NAME ...]

A function that still raises NotImplementedError is skipped.
"""

import jax
import jax.numpy as jnp
'''

_PAIRS = """    NAME_fwd(inputs...) -> (out, residuals)
        the forward pass (순전파); residuals are what the book's layer keeps on
        self (the comments show the book's lines) for the backward pass;
    NAME_bwd(residuals, dout) -> (dx, ...)
        the backward pass (역전파): one cotangent per input, in order, always a
        tuple (note the comma in (dx,)); dout is the upstream derivative
        (상류에서 넘어온 미분), the chain rule (연쇄법칙) multiplies it by the
        local derivative (국소적 미분).
"""

_STATIC = """Arguments that are Python numbers (a ratio, a stride, a window size) are
JAX's nondiff_argnums: they are not differentiated, and JAX passes them to
the backward first, NAME_bwd(stride, pad, residuals, dout).
"""

_HEADERS = {
    5: '"""Chapter 5 exercises (Deep Learning from Scratch, backpropagation) in JAX.\n\n'
    "Each rule of the chapter is a pair of functions, JAX's own custom_vjp pair:\n\n" + _PAIRS,
    6: '"""Chapter 6 exercises (Deep Learning from Scratch, training techniques) in JAX.\n\n'
    "6.1: each optimizer class of the book as a pure update function,\n\n"
    "    NAME_update(params, grads, state, *hyperparameters) -> (params, state)\n"
    "        params and grads: dicts of arrays with the same keys (the book's);\n"
    "        state: None at the first step (the book's self.v = None), then what\n"
    "        your function returned: keep in it what the book keeps on self.\n\n"
    "6.3-6.4: Batch Normalization, weight decay and Dropout as JAX's own\n"
    "custom_vjp pairs, as in chapter 5:\n\n" + _PAIRS + "\n" + _STATIC,
    7: '"""Chapter 7 exercises (Deep Learning from Scratch, convolutional networks) in JAX.\n\n'
    "7.4.3: im2col and col2im (the book's common/util.py) as plain functions;\n"
    "Convolution (7.4.3) and max Pooling (7.4.4) as JAX's own custom_vjp pairs:\n\n"
    + _PAIRS
    + "\n"
    + _STATIC
    + "\nThen SimpleConvNet's gradient (7.5) from your rules.\n",
}

_NETS = {
    5: '''

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
''',
    7: '''

# ---- SimpleConvNet's gradient (7.5) -------------------------------------------------
def custom_rule(fwd, bwd, nondiff_argnums=()):
    """Your fwd/bwd pair as one function that jax.grad differentiates with your rule;
    nondiff_argnums: the positions of the Python numbers (passed first to bwd)."""

    def f(*args):
        return fwd(*args)[0]

    f.__name__ = fwd.__name__.removesuffix("_fwd")  # the rule check names it
    f = jax.custom_vjp(f, nondiff_argnums=nondiff_argnums)
    f.defvjp(fwd, bwd)
    return f


def {name}(params, x, t):
    """SimpleConvNet's gradient by backpropagation (7.5), from your convolution and pooling.

    params: {{"W1": (FN, C, 3, 3), "b1": (FN,), "W2": (FN*P*P, h), "b2": (h,),
    "W3": (h, classes), "b3": (classes,)}}; x: images (N, C, H, W); t: one-hot
    labels (N, classes).  The book's network: Conv1 (stride 1, pad 0) - Relu1 -
    Pool1 (2x2, stride 2) - Affine1 - Relu2 - Affine2 - SoftmaxWithLoss.
    Returns a dict with the keys W1 b1 W2 b2 W3 b3 and the shapes of params.

    For example: conv = custom_rule(convolution_fwd, convolution_bwd, (3, 4)) and
    pool = custom_rule(max_pooling_fwd, max_pooling_bwd, (1, 2, 3, 4)); write
    loss(params) with them and chapter 5's layers (from jaxbp.layers import
    affine, relu, softmax_with_loss); then return jax.grad(loss)(params).
    """
    raise NotImplementedError
''',
}


_IMPORTS = {7: "from jaxbp.layers import affine, relu, softmax_with_loss  # chapter 5's, for 7.5\n"}


def header_line(chapter: int) -> str:
    """The template's first line, which the grader reads: ``# jaxbp exercises: chapter N``.

    >>> header_line(6)
    '# jaxbp exercises: chapter 6'
    """
    return f"# jaxbp exercises: chapter {chapter}"


def _wrap(text: str) -> str:
    """A docstring paragraph, wrapped and indented as the function's body (a shape such
    as ``(N, C, H, W)`` is never split)."""
    kept = re.sub(r"\([^()]*\)", lambda m: m.group(0).replace(" ", "\0"), text)
    wrapped = textwrap.fill(kept, 88, initial_indent="    ", subsequent_indent="    ")
    return wrapped.replace("\0", " ").lstrip()


def _rule_line(name: str, section: str) -> str:
    rule = f"# ---- {name} ({section}) "
    return f"{rule}{'-' * max(4, 88 - len(rule))}"


def _returns(names, labels) -> str:
    shown = ["None" if n in labels else n for n in names]
    return ", ".join(shown) + ("," if len(names) == 1 else "")


def _pair_text(ex: Exercise) -> str:
    args = ", ".join((*ex.args, *ex.static))
    stores = "\n".join(f"    # {line}" for line in ex.book)
    undiff = [ex.args[ex.grads.index(g)] for g in ex.labels]
    labels = (
        f" ({', '.join(undiff)} {'is' if len(undiff) == 1 else 'are'} not differentiated: "
        f"return None for {'it' if len(undiff) == 1 else 'them'})"
        if undiff
        else ""
    )
    static = ", ".join((*ex.static, "residuals", "dout"))
    given = ""
    if ex.static:
        given = _wrap(f"{', '.join(ex.static)}: as given to {ex.fwd} (Python numbers);") + "\n    "
    return f'''

{_rule_line(ex.name, ex.section)}
def {ex.fwd}({args}):
    """Forward pass (순전파) of {ex.name}, {ex.section}.

    {_wrap(ex.shapes + ".")}
    Returns (out, residuals); the book's layer stores:
    """
{stores}
    raise NotImplementedError


def {ex.bwd}({static}):
    """Backward pass (역전파) of {ex.name}, {ex.section}: returns ({_returns(ex.grads, ex.labels)}).

    {given}residuals: what {ex.fwd} returned; dout: the upstream derivative, the shape of out.
    {_wrap(f"Each cotangent has its input's shape{labels}.")}
    """
    raise NotImplementedError
'''


def _function_text(fn: Function) -> str:
    book = "\n".join(f"    # {line}" for line in fn.book)
    return f'''

{_rule_line(fn.name, fn.section)}
def {fn.name}({", ".join((*fn.args, *fn.static))}):
    """{fn.name} ({fn.section}).

    {_wrap(fn.shapes + ".")}
    The book's line:
    """
{book}
    raise NotImplementedError
'''


def _update_text(up: Update) -> str:
    hyper = ", ".join(f"{n}={d:g}" for n, d in zip(up.hyper, up.defaults))
    state = (
        "params, grads: dicts of arrays with the same keys; state: None at the first step, "
        f"then what this function returned.  The state holds {up.state}."
    )
    book = "\n".join(f"    # {line}" for line in up.book)
    return f'''

{_rule_line(up.name, up.section)}
def {up.name}(params, grads, state, {hyper}):
    """One step of the book's {up.name.removesuffix("_update")} update, {up.section}.

    {_wrap(state)}
    Returns (new_params, new_state); the book's update, for each key:
    """
{book}
    raise NotImplementedError
'''


def _text(it) -> str:
    if isinstance(it, Network):
        return _NETS[5 if it.name == NET_NAME else 7].format(name=it.name)
    if isinstance(it, Update):
        return _update_text(it)
    if isinstance(it, Function):
        return _function_text(it)
    return _pair_text(it)


def template_text(chapter: int = 5) -> str:
    """The learner's file for ``chapter`` (5, 6 or 7) as text: the chapter's line, a
    header, then every exercise with an empty body.

    Returns:
      Python source; it imports, and every function in it raises
      ``NotImplementedError``.

    >>> text = template_text()
    >>> "def relu_fwd(x):" in text and "# self.mask = (x <= 0)" in text
    True
    >>> template_text(7).splitlines()[0]
    '# jaxbp exercises: chapter 7'
    """
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {', '.join(map(str, CHAPTERS))}, got {chapter!r}")
    head = f"{header_line(chapter)}\n{_HEADERS[chapter]}\n{_USAGE}{_IMPORTS.get(chapter, '')}"
    return head + "".join(_text(item(n)) for n in names_of(chapter))


def new(path: str | os.PathLike[str], chapter: int = 5) -> str:
    """Write :func:`template_text` of ``chapter`` to ``path``; refuse to overwrite a file.

    Args:
      path: the learner's new file, e.g. ``"my_backprop.py"``.
      chapter: 5 (the default), 6 or 7.

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
    text = template_text(chapter)
    with open(path, "x", encoding="utf-8") as f:  # "x": fails if it exists
        f.write(text)
    return path
