"""The error hierarchy: every error a user can see, each with a message that says what to do.

A per-photo failure (`PhotoError`) is recorded against that photo and skipped; everything else is an
infrastructure failure that stops the command or the daemon loudly with a non-zero exit code.
"""

from __future__ import annotations


class PictodError(Exception):
    """Base of every error pictod raises on purpose; `str()` is a one-line message for a person."""

    exit_code = 1


class ConfigError(PictodError):
    """The configuration file is missing, unreadable or invalid; names the key and what was expected."""

    exit_code = 78  # EX_CONFIG


class ModelError(PictodError):
    """A model descriptor or model file is missing, unreadable, of an unknown kind or fails its sha256."""

    exit_code = 78


class StoreError(PictodError):
    """The database cannot be opened, written or migrated."""

    exit_code = 74  # EX_IOERR


class AlreadyRunningError(PictodError):
    """Another daemon already owns this database."""

    exit_code = 75  # EX_TEMPFAIL


class NotFoundError(PictodError):
    """A person, face or photo named on the command line does not exist."""

    exit_code = 2


class UsageError(PictodError):
    """A request that cannot be done as asked (two faces of one photo for one person, no suggestion to take)."""

    exit_code = 2


class ReasonedError(PictodError):
    """An error with a short machine-friendly `reason` code and a one-line human message (exit 65)."""

    exit_code = 65  # EX_DATAERR

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = " ".join(message.split())

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class PhotoError(ReasonedError):
    """One photo cannot be analysed: empty, truncated, not an image, unsupported or too large.

    `reason` is a short machine-friendly code, the message a single human-readable line.
    """


class MetadataError(ReasonedError):
    """XMP metadata of one photo or sidecar cannot be used: malformed, hostile, too large or unreadable.

    Never fatal: the caller logs the one-line message and goes on without that metadata. `reason` is a short
    machine-friendly code (malformed, forbidden, too_large, unreadable, not_a_file, ...).
    """


class FileTooLargeError(PhotoError):
    """A photo file above `analysis.max_file_bytes`, refused before it is read (`hashing.read_file`)."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__("file_too_large", f"{name}: {size} bytes, limit {limit}")
        self.size = size
        self.limit = limit
