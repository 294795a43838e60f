"""Chapter 5's exercises, graded: write each rule as JAX's own ``custom_vjp`` pair.

For ``mul`` and ``add`` (5.4), ``relu`` (5.5.1), ``sigmoid`` (5.5.2),
``affine`` (5.6.2) and ``softmax_with_loss`` (5.6.3) the learner writes
``NAME_fwd(inputs...) -> (out, residuals)`` and
``NAME_bwd(residuals, dout) -> (dx, ...)``; then ``two_layer_net_gradient``
(5.7.2) from those rules.  Labels ``t`` are one-hot rows ``(N, C)``.

From a shell::

    python -m jaxbp.exercises new my_backprop.py      # the template
    python -m jaxbp.exercises check my_backprop.py    # grade what is written
    python -m jaxbp.exercises check my_backprop.py relu affine --lang ko

From a notebook: ``jaxbp.exercises.check(globals(), ["relu"])``.
"""

from __future__ import annotations

from jaxbp.exercises.grader import Report, Result, check, custom_rule, grade, load
from jaxbp.exercises.spec import NAMES
from jaxbp.exercises.template import new, template_text

__all__ = ["check", "grade", "load", "new", "template_text", "custom_rule", "Report", "Result"]
__all__ += ["NAMES"]
