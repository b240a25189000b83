"""flm-bench's built-in plugins, installed as the ``flm_bench_plugins`` package.

Each module is registered through the ``flm_bench`` entry-point group in ``pyproject.toml``,
exactly as a third-party plugin would be.
"""
