"""Typed errors. The CLI turns each into one clear line and a non-zero exit code."""


class FlmBenchError(Exception):
    """Base class of every error flm-bench raises on purpose."""


class ConfigError(FlmBenchError):
    """A suite, option or field has a value flm-bench cannot use."""


class DataError(FlmBenchError):
    """A dataset is missing, malformed or cannot be split as asked."""


class CheckpointError(FlmBenchError):
    """A pretrained checkpoint is unreadable, described wrongly, or does not fit the model."""


class UnknownNameError(FlmBenchError, KeyError):
    """A dataset, corpus, model or strategy name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateNameError(FlmBenchError):
    """Two plugins registered the same name in one registry."""

    def __init__(self, message: str, first: str = "", second: str = "") -> None:
        super().__init__(message)
        self.first, self.second = first, second  # the origins of both registrations


class RecordError(FlmBenchError):
    """A record is invalid or cannot be written."""


class IncomparableError(RecordError):
    """Two record sets cannot be paired: different test users, seeds, splits or settings."""
