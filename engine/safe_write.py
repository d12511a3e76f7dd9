"""Never a half-written output: check the folder first, write every output of a run to a private
temporary file beside its target, move them onto their targets only when all are complete,
delete them on any failure."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import FloodSarError


def check_writable(path: str | Path) -> Path:
    """Refuse, before any work, an output whose folder is missing or not writable."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise FloodSarError(f"{path}: is a folder; give an output file name (e.g. {path / 'water.tif'}).")
    if not folder.is_dir():
        raise FloodSarError(f"{path}: the output folder {folder} does not exist; create it first.")
    try:
        with tempfile.TemporaryFile(dir=folder):  # nameless where the OS allows: an interrupt leaves nothing
            pass
    except OSError as exc:
        raise FloodSarError(f"{path}: cannot write to the folder {folder} ({exc.strerror}); "
                            "choose a writable output folder.") from exc
    return path


#: The private folders holding outputs being written are named ``.STEM.RANDOM`` + PARTIAL.
PARTIAL = ".partial"


class StagedOutputs:
    """The temporary files of one run's outputs, renamed onto their final names only when all are done.

    Each temporary file lies in a private folder created afresh beside its output (random name, mode
    0700, refused if the name exists): nobody else can plant a link or a file in it, so the write cannot
    be redirected, whatever the writer (GDAL, SQLite) does with the name. The folder is recorded before
    it is made, so an interrupt at any moment cannot leave one behind. :meth:`commit` moves only
    regular files. Leaving the ``with`` block by any exception (Ctrl-C and the CLI's
    SIGTERM/SIGHUP included) deletes every temporary file and leaves the final paths untouched.
    """

    def __init__(self) -> None:
        self._files: dict[Path, Path] = {}  # final -> its latest temporary file
        self._folders: list[Path] = []  # every private folder made, removed at the end

    def temporary(self, final: str | Path) -> Path:
        """A new temporary file for ``final`` (not created yet): write it. Earlier ones go at the end."""
        final = check_writable(final)
        while True:
            folder = final.parent / f".{final.stem}.{secrets.token_hex(8)}{PARTIAL}"
            self._folders.append(folder)
            try:
                folder.mkdir(mode=0o700)
                break
            except FileExistsError:
                self._folders.pop()  # someone else's folder: never ours to delete
        self._files[final] = folder / final.name
        return self._files[final]

    def current(self, final: str | Path) -> Path:
        """The latest temporary file of ``final``."""
        return self._files[Path(final)]

    def commit(self) -> None:
        """Move every temporary file onto its final name (each move is atomic)."""
        for final, tmp in self._files.items():
            if not stat.S_ISREG(os.lstat(tmp).st_mode):
                raise FloodSarError(f"{final}: the output was not written as a regular file; nothing was saved.")
        for final, tmp in self._files.items():
            os.replace(tmp, final)
        self._files.clear()

    def discard(self) -> None:
        """Delete every temporary file and folder (with any sidecar GDAL or SQLite left in it)."""
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._files.clear()
        self._folders.clear()

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path`` (see :class:`StagedOutputs`); renamed onto ``path`` on success.

    Any exception (KeyboardInterrupt included) deletes the temporary file and leaves ``path`` untouched.
    """
    with StagedOutputs() as staged:
        yield staged.temporary(path)
