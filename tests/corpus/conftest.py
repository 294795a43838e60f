"""The corpus's student files are data, never tests: pytest does not import them.

Some exit, hang or fail to parse at import on purpose (``ch05/hostile``), and
pyproject's ``--doctest-modules`` would otherwise import every ``.py`` here.
"""

collect_ignore_glob = ["ch05/*"]
