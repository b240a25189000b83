"""The ``flm-bench`` command line: one module per command group."""
