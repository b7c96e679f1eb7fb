"""Errors a user can act on: each message names the problem and the fix, on one line."""


class PipelineError(Exception):
    """A failure caused by input or environment, reported without a traceback."""


class ConfigError(PipelineError):
    """The configuration is invalid; nothing has run."""


class DataError(PipelineError):
    """Data is missing, corrupt or cannot be fetched."""


class DiskFullError(PipelineError):
    """A write failed for want of space; the data and the mirror are not to blame."""


def one_line(exc: object, limit: int | None = None) -> str:
    """An exception's text with its line breaks folded (and cut at `limit`), for a one-line message."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
