"""flm-bench: does pretraining a recommender, then adapting it, beat training from scratch?"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flm-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from flm_bench.hookspecs import hookimpl  # noqa: E402  (the marker plugin authors import)

__all__ = ["__version__", "hookimpl"]
