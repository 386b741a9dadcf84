"""Typed errors raised at segscan's boundaries.

Every error a user can cause by handing segscan a bad input derives from
:class:`SegscanError`, so entry points can report it in one line and exit
non-zero without a traceback.
"""


class SegscanError(Exception):
    """Base class for errors caused by inputs or configuration."""


class VideoError(SegscanError):
    """A video could not be used. ``path`` names it."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.reason = message


class VideoNotFoundError(VideoError):
    """The path does not exist or is not a regular file."""


class NotAVideoError(VideoError):
    """The file is not a media container that can be opened."""


class NoVideoStreamError(VideoError):
    """The container opened but holds no video stream (audio only, say)."""


class EmptyVideoError(VideoError):
    """The video stream yielded no decodable frame."""


class CorruptVideoError(VideoError):
    """Decoding failed part-way; ``decoded_until`` says how far it got (seconds)."""

    def __init__(self, path, message, decoded_until=0.0):
        super().__init__(path, message)
        self.decoded_until = decoded_until


class VideoTooLargeError(VideoError):
    """The frame size exceeds the configured limit."""


class WeightsNotFoundError(SegscanError):
    """Model weights are not available offline; the message says how to get them."""


class StoreError(SegscanError):
    """The database directory is missing, locked, or from another configuration."""
