"""``python -m book_numpy`` (from experiments/): the book's training loop, as the book runs it."""

from book_numpy import main

main()
