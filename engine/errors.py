"""User-facing errors: one clear sentence that names the file and the fix."""


class FloodSarError(Exception):
    """A problem the user can fix (bad input, bad model, unwritable output).

    The command line prints ``str(error)`` on one line and exits non-zero; the
    QGIS plugin shows it in the message bar. Never used for programming bugs.
    """


class CancelledError(FloodSarError):
    """The user cancelled the run; nothing was written."""

    def __init__(self, message: str = "Cancelled by the user; no output was written.") -> None:
        super().__init__(message)
