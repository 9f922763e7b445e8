"""Where the run store and the model input live: a local path or an fsspec URL
(`memory://…`, `file://…`, `s3://…` where s3fs is installed), and folders published whole.

A folder is written into a staging folder, then published at its name:

- on a local file system, by a rename (atomic on one POSIX file system): a folder is
  published when it is there;
- elsewhere (no atomic rename of a folder), by copying its files there and then writing
  the marker `_COMPLETE` (the files' names, an id) last: a folder is published when its
  marker is there, and readers ignore one without it; a folder loses its marker before
  any of its files.

A published folder already at the name first moves aside (where the caller says, or
beside the staging folder, deleted once the new one is published). So a writer killed
at any point leaves the earlier folder or the new one at the name, or none with the
earlier one kept aside; never a mix, never a half folder that counts.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

MARKER = "_COMPLETE"


def join(path: str, *names: str) -> str:
    return posixpath.join(path, *names)


def shown(path: str | Path) -> str:
    """`path` as a user reads it: a URL as is, a local path relative to the working
    directory when inside it."""
    if "://" in str(path):
        return str(path)
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class Storage:
    """One file system: reading and writing files, publishing folders (see the module)."""

    def __init__(self, fs: AbstractFileSystem) -> None:
        self.fs = fs
        self.local = isinstance(fs, LocalFileSystem)

    @classmethod
    def at(cls, where: str | Path) -> tuple[Storage, str]:
        """(storage, path) of a local path or an fsspec URL. A local path stays as given
        (relative: to the working directory at each use); any other comes back a URL."""
        fs, path = url_to_fs(str(where))
        if not isinstance(fs, LocalFileSystem):
            return cls(fs), fs.unstrip_protocol(path)
        return cls(fs), path if "://" in str(where) else str(Path(where))

    # --- files ------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def is_file(self, path: str) -> bool:
        return self.fs.isfile(path)

    def read_bytes(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode()

    def read_tensors(self, path: str) -> tuple[dict[str, Any], dict[str, str]]:
        """(tensors, metadata) of a safetensors file; reading it runs no code."""
        from safetensors.torch import load, load_file

        if self.local:
            from safetensors import safe_open

            with safe_open(path, framework="pt") as f:
                metadata = f.metadata() or {}
            return load_file(path), metadata
        data = self.read_bytes(path)
        size = int.from_bytes(data[:8], "little")  # u64 header size, then the JSON header
        return load(data), json.loads(data[8 : 8 + size]).get("__metadata__") or {}

    def makedirs(self, path: str) -> None:
        if self.local:
            os.makedirs(path, exist_ok=True)
        else:
            self.fs.makedirs(path, exist_ok=True)

    def write(self, path: str, data: bytes) -> None:
        """Write a file (on a local disk, flushed to it: it is renamed into place later)."""
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def replace(self, path: str, data: bytes) -> None:
        """Replace one file whole: write beside it, then move it over."""
        tmp = join(posixpath.dirname(path), f".{posixpath.basename(path)}.tmp")
        self.write(tmp, data)
        if self.local:
            os.replace(tmp, path)
        else:
            self.fs.mv(tmp, path)

    # --- folders ----------------------------------------------------------------------
    def published(self, folder: str) -> bool:
        if self.local:
            return os.path.isdir(folder)
        return self.fs.isfile(join(folder, MARKER))

    def published_in(self, parent: str, holding: str) -> list[str]:
        """Names of the published folders in `parent` that hold the file `holding`."""
        if self.local:
            if not os.path.isdir(parent):
                return []
            return sorted(
                e.name for e in os.scandir(parent) if os.path.isfile(join(parent, e.name, holding))
            )

        def named(file: str) -> set[str]:
            return {posixpath.basename(posixpath.dirname(p)) for p in self.fs.glob(file)}

        return sorted(named(join(parent, "*", MARKER)) & named(join(parent, "*", holding)))

    def stamp(self, folder: str) -> tuple:
        """What changes when a published folder is published again: locally its files'
        names, sizes and mtimes, elsewhere its marker. FileNotFoundError: none there."""
        if not self.local:
            try:
                return (self.read_bytes(join(folder, MARKER)),)
            except FileNotFoundError:
                raise FileNotFoundError(f"{folder} is not published (no {MARKER})") from None
        return tuple(
            (p.name, st.st_size, st.st_mtime_ns)
            for p in sorted(Path(folder).iterdir())
            if p.is_file() and (st := p.stat())
        )

    def stage(self, files: Mapping[str, bytes], staging: str) -> None:
        """Write `files` (name -> bytes) into the folder `staging`, emptied first."""
        self.remove(staging)
        self.makedirs(staging)
        for name, data in files.items():
            self.write(join(staging, name), data)

    def publish(self, staging: str, folder: str, aside: str | None = None) -> None:
        """The staged folder becomes `folder`; a published one there first moves to
        `aside`, or (None) is deleted once the new one is published."""
        trash = f"{staging}.old"
        self.remove(trash)  # left by a kill during an earlier publish
        if self.published(folder):
            self.move(folder, aside or trash)
        self.move(staging, folder)
        self.remove(trash)

    def move(self, src: str, dest: str) -> None:
        """The folder `src` at `dest`, published there before it leaves `src`."""
        if self.local:
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            os.rename(src, dest)
            return
        self.remove(dest)  # a half copy left by a kill
        names = [n for n in self._files(src) if n != MARKER]
        for name in names:
            self.fs.copy(join(src, name), join(dest, name))
        marker = {"files": sorted(names), "id": uuid.uuid4().hex}
        self.fs.pipe_file(join(dest, MARKER), json.dumps(marker).encode())
        self.remove(src)

    def remove(self, folder: str) -> None:
        """Delete a folder, if there; elsewhere it is unpublished first."""
        if self.local:
            shutil.rmtree(folder, ignore_errors=True)
            return
        try:
            self.fs.rm_file(join(folder, MARKER))
        except FileNotFoundError:
            pass
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def _files(self, folder: str) -> list[str]:
        """The files under `folder`, as paths relative to it."""
        root = self.fs._strip_protocol(folder).rstrip("/") + "/"
        return [p.removeprefix(root) for p in self.fs.find(folder)]
