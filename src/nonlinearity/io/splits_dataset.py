"""`SplitsDataset`: a prepared model input as safetensors + JSON, never a pickle.

    <folder>/tensors.safetensors   x_train, y_train, x_val, y_val, x_test, y_test
    <folder>/backbone.safetensors  cached-feature inputs: the frozen backbone's weights
    <folder>/sentences.json        text before tokenising: the splits' sentences
    <folder>/splits.json           every other field of `Splits` (names, stats, info)

The backbone is rebuilt from the settings recorded with the features
(`info.prepared_for`) and its weights loaded, so reading `data/` runs no code. The
folder is written aside and renamed into place: a kill leaves the old one or the new.

A process loads a folder once: later loads return the same `Splits` until the folder
changes (its files' sizes and mtimes), so a worker that runs many training nodes reads
its model input once. Nodes treat the tensors as read-only (they copy what they change).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from ..data import Splits

TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_LOADED: dict[Path, tuple[tuple, Splits]] = {}  # folder -> (its stamp, what it held)


def _stamp(folder: Path) -> tuple:
    """What changes when the folder is written again: its files' names, sizes and mtimes."""
    return tuple(
        (p.name, st.st_size, st.st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file() and (st := p.stat())
    )


def _is_sentences(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


class SplitsDataset(AbstractDataset[Splits, Splits]):
    """Model input of one data set, in a folder `path` (e.g. data/05_model_input/digits)."""

    def __init__(self, path: str, metadata: dict | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def save(self, data: Splits) -> None:
        import torch
        from safetensors.torch import save_file

        tmp = self._path.with_name(f".{self._path.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        sentences = {k: list(getattr(data, k)) for k in TENSORS if _is_sentences(getattr(data, k))}
        tensors = {
            k: torch.as_tensor(getattr(data, k)).contiguous() for k in TENSORS if k not in sentences
        }
        save_file(tensors, str(tmp / "tensors.safetensors"))
        if sentences:
            (tmp / "sentences.json").write_text(json.dumps(sentences))
        if data.backbone is not None:
            state = {k: v.contiguous() for k, v in data.backbone.state_dict().items()}
            save_file(state, str(tmp / "backbone.safetensors"))
        rest = {
            f.name: getattr(data, f.name)
            for f in fields(data)
            if f.name not in (*TENSORS, "backbone")
        }
        (tmp / "splits.json").write_text(json.dumps(rest, indent=1))
        old = self._path.with_name(f".{self._path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self._path.exists():
            os.rename(self._path, old)
        os.rename(tmp, self._path)
        shutil.rmtree(old, ignore_errors=True)

    def load(self) -> Splits:
        key, stamp = self._path.resolve(), _stamp(self._path)
        if (held := _LOADED.get(key)) is not None and held[0] == stamp:
            return held[1]
        splits = self._read()
        _LOADED.clear()  # one model input per process: a worker trains on one data set
        _LOADED[key] = (stamp, splits)
        return splits

    def _read(self) -> Splits:
        from safetensors.torch import load_file

        rest = json.loads((self._path / "splits.json").read_text())
        tensors = load_file(str(self._path / "tensors.safetensors"))
        if (self._path / "sentences.json").is_file():
            tensors.update(json.loads((self._path / "sentences.json").read_text()))
        splits = Splits(**rest, **tensors)
        splits = replace(
            splits,
            topk=tuple(splits.topk),
            image_shape=tuple(splits.image_shape) if splits.image_shape else None,
        )
        if (self._path / "backbone.safetensors").is_file():
            splits = replace(splits, backbone=self._backbone(splits))
        return splits

    def describe(self) -> Any:
        """The model input without its tensors (name, kind, info): what made it, cheaply."""
        from types import SimpleNamespace

        return SimpleNamespace(**json.loads((self._path / "splits.json").read_text()))

    def _backbone(self, splits: Splits) -> Any:
        from safetensors.torch import load_file

        from ..models import build_model, for_stored_weights

        made_with = {k: v for k, v in splits.info["prepared_for"].items() if v is not None}
        params = {**made_with, "head_hidden": [1], "target": "head", "freeze_backbone": True}
        params = for_stored_weights(params, splits.image_shape)
        model = build_model(params, splits.image_shape, splits.num_classes, "image")
        backbone = model.backbone
        backbone.load_state_dict(load_file(str(self._path / "backbone.safetensors")))
        return backbone.eval()

    def _exists(self) -> bool:
        return (self._path / "splits.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class ModelInputsDataset(AbstractDataset[None, dict]):
    """Every data set's model input under `path`: `{dataset: () -> Splits}`; read-only."""

    def __init__(self, path: str = "data/05_model_input", metadata: dict | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> dict:
        if not self._path.is_dir():
            return {}
        return {
            p.name: SplitsDataset(str(p)).load
            for p in sorted(self._path.iterdir())
            if (p / "splits.json").is_file()
        }

    def save(self, data: None) -> None:
        from kedro.io import DatasetError

        raise DatasetError("model inputs are written one data set at a time (model_input)")

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
