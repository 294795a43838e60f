"""``python -m jaxbp.train``: note SIGINT/SIGTERM first, then import and run the CLI."""

from jaxbp.train.signals import StopSignals  # imports nothing heavy

StopSignals.install()  # from the first moment, even during the imports below

from jaxbp.train.cli import entry  # noqa: E402

entry()
