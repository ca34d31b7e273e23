"""The ``benchmarking`` command line."""

from benchmarking_assets.cli.main import main

__all__ = ["main"]
