"""The atomic store of runs: a run's files appear together or not at all.

    <root>/runs/<name>/        the complete (or failed) record: history, meta, timing, weights
    <root>/partial/<name>/     a run in progress: its checkpoint, and the record being written
    <root>/superseded/<name>@<fingerprint[:12]>/   an earlier record of the same name that
                               other settings (or other data) would have overwritten

A record is written into `partial/<name>/record/`, then renamed to `runs/<name>`
(`rename` is atomic on one file system). A record already there with another
fingerprint is first moved to `superseded/`, with a warning; nothing is deleted but
an earlier record of the very same fingerprint that a forced re-run replaces.
Weights are safetensors (no pickled code); checkpoints are `torch.save` dicts of
tensors and plain values, read back with `weights_only=True`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .record import COMPLETE, RunRecord, dumps

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.pt"


def _write(path: Path, text: str) -> None:
    """Write a file and flush it to disk (it is renamed into place later)."""
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Replace one file atomically: write beside it, then rename over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    _write(tmp, text)
    os.replace(tmp, path)


class RunStore:
    """Runs under `root` (the folder holding runs/, partial/ and superseded/)."""

    def __init__(self, root: str | Path = "data/07_model_output") -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.partial = self.root / "partial"
        self.superseded = self.root / "superseded"

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    @staticmethod
    def shown(path: Path) -> str:
        """`path` as a user reads it: relative to the working directory when inside it."""
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    # --- reading ------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.runs.is_dir():
            return []
        return sorted(p.name for p in self.runs.iterdir() if (p / "meta.json").is_file())

    def meta(self, name: str) -> dict | None:
        """A run's meta.json, or None when it is missing or unreadable."""
        try:
            meta = json.loads((self.runs / name / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def history(self, name: str) -> list[dict]:
        return json.loads((self.runs / name / "history.json").read_text())

    def complete(self, name: str, fingerprint: str) -> bool:
        """A complete record of `name` with this fingerprint, weights included, is stored."""
        meta = self.meta(name)
        return (
            meta is not None
            and meta.get("status") == COMPLETE
            and meta.get("fingerprint") == fingerprint
            and (self.runs / name / WEIGHTS).is_file()
            and (self.runs / name / "history.json").is_file()
        )

    def weights(self, name: str, filename: str = WEIGHTS) -> tuple[dict[str, torch.Tensor], dict]:
        """(state dict, module state) of a complete run; reading runs no code."""
        path = self.runs / name / filename
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            extra = json.loads((f.metadata() or {}).get("module_state", "{}"))
        return load_file(str(path)), extra

    # --- writing ------------------------------------------------------------------
    def save(self, record: RunRecord) -> None:
        """Write a record atomically; an earlier one of other settings moves aside."""
        if not record.stored:
            return
        staging = self.partial / record.name / "record"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        weights = {WEIGHTS: record.weights, **record.extra_weights}
        for filename, tensors in weights.items():
            if tensors is None:
                continue
            state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
            meta = {"module_state": json.dumps(record.module_state, sort_keys=True)}
            save_file(state, str(staging / filename), metadata=meta)
        for filename, text in record.files.items():
            _write(staging / filename, text)
        meta = {**record.meta, "completed_at": datetime.now(timezone.utc).isoformat()}
        _write(staging / "history.json", dumps(record.history))
        _write(staging / "timing.json", dumps(record.timing))
        _write(staging / "meta.json", dumps(meta))  # last: its presence marks a record
        self.runs.mkdir(parents=True, exist_ok=True)
        target = self.runs / record.name
        old = None
        if target.exists():
            old = self._move_aside(record.name, record.fingerprint)
        os.rename(staging, target)
        if old is not None and old.name.endswith("@replaced"):
            shutil.rmtree(old)
        self.clear_partial(record.name)

    def _move_aside(self, name: str, fingerprint: str) -> Path:
        meta = self.meta(name) or {}
        old_fp = str(meta.get("fingerprint") or "unknown")
        if old_fp == fingerprint:  # a forced re-run of the same settings replaces it
            dest = self.partial / name / f"{name}@replaced"
            shutil.rmtree(dest, ignore_errors=True)  # left by a kill during an earlier replace
        else:
            dest = self.superseded / f"{name}@{old_fp[:12]}"
            n = 1
            while dest.exists():
                n += 1
                dest = self.superseded / f"{name}@{old_fp[:12]}-{n}"
            log.warning(
                "%s: the stored record has another fingerprint (%s, this run %s: other "
                "model input or project version); kept it in %s",
                name,
                old_fp[:12],
                fingerprint[:12],
                self.shown(dest),
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.runs / name, dest)
        return dest

    def clear_partial(self, name: str) -> None:
        shutil.rmtree(self.partial / name, ignore_errors=True)

    def update_meta(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge `{name: {key: value}}` into stored metas; all are read before any is written."""
        metas = {}
        for name, update in updates.items():
            meta = self.meta(name)
            if meta is None:
                raise FileNotFoundError(f"{self.runs / name / 'meta.json'} is missing or invalid")
            metas[name] = {**meta, **update}
        for name, meta in metas.items():
            write_atomic(self.runs / name / "meta.json", dumps(meta))

    # --- checkpoints ----------------------------------------------------------------
    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        folder = self.partial / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{CHECKPOINT}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, folder / CHECKPOINT)

    def load_checkpoint(self, name: str, fingerprint: str) -> dict[str, Any] | None:
        """The checkpoint of an interrupted run of these settings, or None."""
        path = self.partial / name / CHECKPOINT
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn or foreign file: start over, say so
            log.warning("%s: checkpoint %s is unreadable (%s); starting over", name, path, exc)
            return None
        if state.get("fingerprint") != fingerprint:
            log.warning(
                "%s: its checkpoint is of another model input or project version; starting over",
                name,
            )
            return None
        return state
