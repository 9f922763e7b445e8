"""The atomic store of runs: a run's files appear together or not at all.

    <root>/runs/<name>/        the complete (or failed) record: history, meta, timing, weights
    <root>/partial/<name>/     a run in progress: its checkpoint, and the record being written
    <root>/superseded/<name>@<fingerprint[:12]>/   an earlier record of the same name that
                               other settings (or other data) would have overwritten

`root` is a local path or an fsspec URL (`storage`). A record is written into
`partial/<name>/record/`, then published as `runs/<name>` by the one rule of
`storage.Storage.publish`: a rename on a local file system; elsewhere a copy and then
the marker `_COMPLETE`, without which a run folder is not a run (not listed, not
complete, no meta). A record already there with another fingerprint is first moved to
`superseded/`, with a warning; nothing is deleted but an earlier record of the very
same fingerprint that a forced re-run replaces. Weights are safetensors (no pickled
code); checkpoints are `torch.save` dicts of tensors and plain values, each replaced
whole, read back with `weights_only=True`.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from ..storage import Storage, join, shown
from .record import COMPLETE, RunRecord, dumps

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.pt"


class RunStore:
    """Runs under `root` (the folder holding runs/, partial/ and superseded/)."""

    def __init__(self, root: str | Path = "data/07_model_output") -> None:
        self.storage, self.root = Storage.at(root)
        self.runs = join(self.root, "runs")
        self.partial = join(self.root, "partial")
        self.superseded = join(self.root, "superseded")

    def __repr__(self) -> str:
        return f"RunStore({self.root!r})"

    shown = staticmethod(shown)

    # --- reading ------------------------------------------------------------------
    def names(self) -> list[str]:
        return self.storage.published_in(self.runs, "meta.json")

    def meta(self, name: str) -> dict | None:
        """A run's meta.json, or None when it is missing, unreadable or not published."""
        if not self.storage.published(join(self.runs, name)):
            return None
        try:
            meta = json.loads(self.text(name, "meta.json"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def text(self, name: str, filename: str) -> str:
        """A file of a stored run, as text."""
        return self.storage.read_text(join(self.runs, name, filename))

    def has(self, name: str, filename: str) -> bool:
        return self.storage.is_file(join(self.runs, name, filename))

    def history(self, name: str) -> list[dict]:
        return json.loads(self.text(name, "history.json"))

    def timing(self, name: str) -> Any:
        return json.loads(self.text(name, "timing.json"))

    def complete(self, name: str, fingerprint: str) -> bool:
        """A complete record of `name` with this fingerprint, weights included, is stored."""
        meta = self.meta(name)
        return (
            meta is not None
            and meta.get("status") == COMPLETE
            and meta.get("fingerprint") == fingerprint
            and self.has(name, WEIGHTS)
            and self.has(name, "history.json")
        )

    def weights(self, name: str, filename: str = WEIGHTS) -> tuple[dict[str, torch.Tensor], dict]:
        """(state dict, module state) of a complete run; reading runs no code."""
        state, metadata = self.storage.read_tensors(join(self.runs, name, filename))
        return state, json.loads(metadata.get("module_state", "{}"))

    # --- writing ------------------------------------------------------------------
    def save(self, record: RunRecord) -> None:
        """Write a record atomically; an earlier one of other settings moves aside."""
        if not record.stored:
            return
        files = _files(record)  # all of it serialised before anything is written
        staging = join(self.partial, record.name, "record")
        self.storage.stage(files, staging)
        target = join(self.runs, record.name)
        aside = None
        if self.storage.published(target):
            aside = self._aside(record.name, record.fingerprint)
        self.storage.publish(staging, target, aside)
        self.clear_partial(record.name)

    def _aside(self, name: str, fingerprint: str) -> str | None:
        """Where the stored record of `name` goes: None (deleted) when a forced re-run of
        the same fingerprint replaces it, else a new folder in superseded/."""
        meta = self.meta(name) or {}
        old_fp = str(meta.get("fingerprint") or "unknown")
        if old_fp == fingerprint:
            return None
        dest = join(self.superseded, f"{name}@{old_fp[:12]}")
        n = 1
        while self.storage.exists(dest):
            n += 1
            dest = join(self.superseded, f"{name}@{old_fp[:12]}-{n}")
        log.warning(
            "%s: the stored record has another fingerprint (%s, this run %s: other "
            "model input or project version); kept it in %s",
            name,
            old_fp[:12],
            fingerprint[:12],
            self.shown(dest),
        )
        return dest

    def clear_partial(self, name: str) -> None:
        self.storage.remove(join(self.partial, name))

    def update_meta(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge `{name: {key: value}}` into stored metas; all are read before any is written."""
        metas = {}
        for name, update in updates.items():
            meta = self.meta(name)
            if meta is None:
                raise FileNotFoundError(
                    f"{join(self.runs, name, 'meta.json')} is missing or invalid"
                )
            metas[name] = {**meta, **update}
        for name, meta in metas.items():
            self.storage.replace(join(self.runs, name, "meta.json"), dumps(meta).encode())

    # --- checkpoints ----------------------------------------------------------------
    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        folder = join(self.partial, name)
        self.storage.makedirs(folder)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.storage.replace(join(folder, CHECKPOINT), buffer.getvalue())

    def checkpoint(self, name: str, mmap: bool = False) -> dict[str, Any] | None:
        """The checkpoint in partial/<name>/ as saved, or None; raises when unreadable.
        `mmap`: on a local disk, its tensors mapped rather than read."""
        path = join(self.partial, name, CHECKPOINT)
        if not self.storage.is_file(path):
            return None
        if self.storage.local:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        source = io.BytesIO(self.storage.read_bytes(path))
        return torch.load(source, map_location="cpu", weights_only=True)

    def load_checkpoint(self, name: str, fingerprint: str) -> dict[str, Any] | None:
        """The checkpoint of an interrupted run of these settings, or None."""
        try:
            state = self.checkpoint(name)
        except Exception as exc:  # a torn or foreign file: start over, say so
            path = join(self.partial, name, CHECKPOINT)
            log.warning("%s: checkpoint %s is unreadable (%s); starting over", name, path, exc)
            return None
        if state is None:
            return None
        if state.get("fingerprint") != fingerprint:
            log.warning(
                "%s: its checkpoint is of another model input or project version; starting over",
                name,
            )
            return None
        return state


def _files(record: RunRecord) -> dict[str, bytes]:
    """A record's files, name -> bytes; meta.json last."""
    files = {}
    module_state = {"module_state": json.dumps(record.module_state, sort_keys=True)}
    for filename, tensors in {WEIGHTS: record.weights, **record.extra_weights}.items():
        if tensors is not None:
            state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
            files[filename] = save(state, metadata=module_state)
    files.update({filename: text.encode() for filename, text in record.files.items()})
    meta = {**record.meta, "completed_at": datetime.now(timezone.utc).isoformat()}
    files["history.json"] = dumps(record.history).encode()
    files["timing.json"] = dumps(record.timing).encode()
    files["meta.json"] = dumps(meta).encode()
    return files
