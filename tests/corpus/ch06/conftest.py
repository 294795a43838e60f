"""The student files here are data, never tests: pytest does not import them
(``tests/test_corpus_ch67.py`` grades them)."""

collect_ignore_glob = ["*.py"]
