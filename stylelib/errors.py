"""The project's error type: bad input the user can fix, with a message naming the problem and the fix."""

from __future__ import annotations


class InputError(ValueError):
    """An input (file, folder, value) cannot be used; the message names it and says what to do.

    `details` holds what a tool said about it (ffmpeg's log, for example), shown by the CLI only with --verbose.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
