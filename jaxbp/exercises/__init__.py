"""The exercises of chapters 5-7, graded: write each rule as JAX's own ``custom_vjp`` pair.

Chapter 5: for ``mul`` and ``add`` (5.4), ``relu`` (5.5.1), ``sigmoid``
(5.5.2), ``affine`` (5.6.2) and ``softmax_with_loss`` (5.6.3) the learner
writes ``NAME_fwd(inputs...) -> (out, residuals)`` and
``NAME_bwd(residuals, dout) -> (dx, ...)``; then ``two_layer_net_gradient``
(5.7.2) from those rules.  Labels ``t`` are one-hot rows ``(N, C)``.
Chapter 6: the update rules of 6.1 as pure functions
``NAME_update(params, grads, state, ...) -> (params, state)``, then
``batch_norm``, ``weight_decay`` and ``dropout`` pairs and ``dropout_test``.
Chapter 7: ``im2col`` and ``col2im``, ``convolution`` and ``max_pooling``
pairs, and ``simple_conv_net_gradient``.

From a shell (the file runs in a child process, with a time limit per
exercise; the verdicts are made by the grader, outside it)::

    python -m jaxbp.exercises new my_backprop.py      # chapter 5's template
    python -m jaxbp.exercises new my_conv.py --chapter 7
    python -m jaxbp.exercises check my_backprop.py    # grade what is written
    python -m jaxbp.exercises check my_backprop.py relu affine --lang ko

From a notebook: ``jaxbp.exercises.check(globals(), ["relu"])`` (in place).

The modules, in the order a file is graded:

* what an exercise is: ``spec`` (the chapters and their exercises), ``items``
  (the kinds of exercise), ``chapter6``, ``chapter7``;
* which chapter a file is and what it has written: ``chapters``, ``source``;
* running the learner's code: ``sandbox`` (the child process and its limits),
  ``child`` (the process itself), ``landlock`` (no writes outside its folder),
  ``wire`` (their messages), ``runner`` (runs the functions, no verdicts),
  ``rules`` (the pairs as ``custom_vjp`` rules), ``errors`` (what they raised);
* the verdict, made in the grader's process: ``expected`` (the right answers),
  ``compare`` (one output against its answer), ``diagnose`` and
  ``diagnose_runs`` (each exercise's verdict and the mistakes' names);
* the words and the report: ``messages`` and ``words5``/``words6``/``words7``
  (every word, English and Korean), ``report``;
* the loop and the faces: ``grader``, ``template``, ``__main__``;
* a class: ``submissions``, ``classroom``, ``class_page``, ``class_words``,
  ``class_command``.
"""

from __future__ import annotations

import typing as _typing

from jaxbp import _lazy

# The face's names, each imported from its module on first use (PEP 562), so that
# ``python -m jaxbp.exercises check`` starts the learner's process before JAX loads here.
_FACE = {
    "check": "grader",
    "grade": "grader",
    "grade_file": "grader",
    "load": "grader",
    "custom_rule": "rules",
    "new": "template",
    "template_text": "template",
    "Report": "report",
    "Result": "report",
    "NAMES": "spec",
    "CHAPTERS": "spec",
    "names_of": "spec",
}
__all__ = list(_FACE)

if _typing.TYPE_CHECKING:  # what type checkers and IDEs see
    from jaxbp.exercises.grader import check as check
    from jaxbp.exercises.grader import grade as grade
    from jaxbp.exercises.grader import grade_file as grade_file
    from jaxbp.exercises.grader import load as load
    from jaxbp.exercises.report import Report as Report
    from jaxbp.exercises.report import Result as Result
    from jaxbp.exercises.rules import custom_rule as custom_rule
    from jaxbp.exercises.spec import CHAPTERS as CHAPTERS
    from jaxbp.exercises.spec import NAMES as NAMES
    from jaxbp.exercises.spec import names_of as names_of
    from jaxbp.exercises.template import new as new
    from jaxbp.exercises.template import template_text as template_text


__getattr__, __dir__ = _lazy.face(__name__, _FACE)
