"""Child processes that get Ctrl-C as a command typed in a terminal does."""
import signal


def as_from_a_terminal() -> None:
    """``preexec_fn`` for subprocess: SIGINT at its default in the child.

    A shell script that starts a job with ``&`` (no job control) makes that job ignore SIGINT, its
    children inherit that, and a Python started with SIGINT ignored never raises KeyboardInterrupt:
    a test suite run that way would see Ctrl-C ignored, which no terminal user sees.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
