"""jaxbp: chapter 5 of *Deep Learning from Scratch* (backpropagation) in JAX.

The table of contents, in the book's order (the book's ``common/`` is this folder):

  numerical        4.4      numerical_gradient: the witness every rule is checked against
  graph            5.1-5.4  add and multiply nodes, the shopping examples, draw
  trace            5.1-5.6  a function's graph as data: each edge's value and derivative
  drawing          5.1-5.6  the chapter's graph figures (Graphviz renders them)
  layers           5.5-5.6  relu, sigmoid, affine, softmax_with_loss
  labels           5.6.3    the one label check, one-hot rows, the accuracy test
  two_layer_net    5.7.2    TwoLayerNet as pure functions of a params dict
  gradient         5.7.3    the three-way gradient check
  rule_check       5.7.3    which hand-written rule is wrong: every node checked alone
  explore          5.1-5.6  a page that steps through forward and backward, node by node
  forward          5.1.3    the chapter's rules in forward mode (jax.custom_jvp), for jvp
  exercises        5        the chapter's exercises, graded: python -m jaxbp.exercises
  reference                 plain-jnp twins of every layer, for the tests
  optimizer        6.1      SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam
  weight_init      6.2      Xavier and He initial weights
  techniques       6.3-6.4  Batch Normalization, weight decay, Dropout
  multi_layer_net  6        MultiLayerNetExtend
  im2col           7.4.3    im2col and col2im (the book's common/util.py)
  conv             7.4      Convolution and Pooling
  simple_conv_net  7.5      SimpleConvNet
  mnist            3.6.1    the data: load_mnist, verified
  train            5.7.4    the training loop, compiled, and everything around a run
  notebooks                 the notebooks with jaxbp inside: python -m jaxbp.notebooks bundle

``import jaxbp`` is cheap: it imports no submodule (so neither JAX nor
matplotlib nor graphviz).  Each submodule is imported on first use of
``jaxbp.<name>``, or by ``import jaxbp.<name>`` as usual.
"""

import importlib as _importlib
import importlib.metadata as _metadata
import importlib.util as _util
import pkgutil as _pkgutil
import typing as _typing

try:
    __version__: str = _metadata.version("jaxbp")
except _metadata.PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]

if _typing.TYPE_CHECKING:  # what type checkers and IDEs see
    from jaxbp import conv as conv
    from jaxbp import drawing as drawing
    from jaxbp import exercises as exercises
    from jaxbp import explore as explore
    from jaxbp import forward as forward
    from jaxbp import gradient as gradient
    from jaxbp import graph as graph
    from jaxbp import im2col as im2col
    from jaxbp import labels as labels
    from jaxbp import layers as layers
    from jaxbp import mnist as mnist
    from jaxbp import multi_layer_net as multi_layer_net
    from jaxbp import notebooks as notebooks
    from jaxbp import numerical as numerical
    from jaxbp import optimizer as optimizer
    from jaxbp import reference as reference
    from jaxbp import rule_check as rule_check
    from jaxbp import simple_conv_net as simple_conv_net
    from jaxbp import techniques as techniques
    from jaxbp import trace as trace
    from jaxbp import train as train
    from jaxbp import two_layer_net as two_layer_net
    from jaxbp import weight_init as weight_init


def _submodules() -> list[str]:
    return sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    """``jaxbp.layers`` etc.: import the submodule on first access (PEP 562)."""
    if not name.startswith("_") and _util.find_spec(f"{__name__}.{name}"):
        return _importlib.import_module(f"{__name__}.{name}")  # also sets the attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(
        {n for n in globals() if not n.startswith("_") or n == "__version__"} | set(_submodules())
    )
