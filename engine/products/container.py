"""Where a product's files live: a folder or a .zip.

Format readers list and read members through :class:`Container`, and hand GDAL the
path of a member (``/vsizip/`` inside a zip), so a zipped product is never unpacked.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import FloodSarError


class Container:
    """The files of a product folder or zip, named by their path inside it ('/'-separated)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_zip = path.is_file() and zipfile.is_zipfile(path)
        if self.is_zip:
            try:
                with zipfile.ZipFile(path) as archive:
                    self.members = sorted(n for n in archive.namelist() if not n.endswith("/"))
            except (zipfile.BadZipFile, OSError) as exc:
                raise FloodSarError(f"{path}: cannot read this zip file ({exc}); download it again.") from exc
        elif path.is_dir():
            self.members = sorted(str(PurePosixPath(*(Path(root, name).relative_to(path).parts)))
                                  for root, _, names in os.walk(path) for name in names)
        else:
            raise FloodSarError(f"{path}: is neither a folder nor a zip file.")

    def ending(self, suffix: str) -> list[str]:
        """Members whose name ends with ``suffix`` (case-insensitive)."""
        return [m for m in self.members if m.lower().endswith(suffix.lower())]

    def read(self, member: str) -> bytes:
        """The bytes of a (small) member file, e.g. an XML annotation."""
        if self.is_zip:
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(member)
        return (self.path / member).read_bytes()

    def gdal_path(self, member: str) -> str:
        """The path GDAL opens for a member: /vsizip/ inside a zip, the file itself in a folder."""
        if self.is_zip:
            return f"/vsizip/{self.path.resolve().as_posix()}/{member}"
        return str(self.path / member)

    def label(self, member: str) -> str:
        """A member's name for messages: ``product.zip/inner/path``."""
        return f"{self.path}/{member}"
