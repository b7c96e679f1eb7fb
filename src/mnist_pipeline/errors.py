"""Errors a user can act on: each message names the problem and the fix, on one line."""


class PipelineError(Exception):
    """A failure caused by input or environment, reported without a traceback."""


class ConfigError(PipelineError):
    """The configuration is invalid; nothing has run."""


class DataError(PipelineError):
    """Data is missing, corrupt or cannot be fetched."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's text on one line (library messages span several), for our error messages."""
    return " ".join(str(exc).split())[:limit]
