"""`SplitsDataset`: a prepared model input as safetensors + JSON, never a pickle.

    <folder>/tensors.safetensors   x_train, y_train, x_val, y_val, x_test, y_test
    <folder>/backbone.safetensors  cached-feature inputs: the frozen backbone's weights
    <folder>/sentences.json        text before tokenising: the splits' sentences
    <folder>/splits.json           every other field of `Splits` (names, stats, info)

The backbone is rebuilt from the settings recorded with the features
(`info.prepared_for`) and its weights loaded, so reading `data/` runs no code. The
folder (a local path or an fsspec URL) is written aside and published whole by the rule
of `storage.Storage.publish`: a rename on a local disk, a marker written last elsewhere;
a kill leaves the old folder or the new, and a folder without its marker is not read.

A process loads a folder once: later loads return the same `Splits` until the folder
changes (locally its files' sizes and mtimes, elsewhere its marker), so a worker that
runs many training nodes reads its model input once. Nodes treat the tensors as
read-only (they copy what they change).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import fields, replace
from typing import Any

from kedro.io import AbstractDataset

from ..data import Splits
from ..storage import Storage, join

TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_LOADED: dict[str, tuple[tuple, Splits]] = {}  # folder -> (its stamp, what it held)


def _is_sentences(value: Any) -> bool:
    """Text splits: a list, tuple or numpy array (object or str dtype) of strings."""
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    texts = isinstance(value, (list, tuple)) or kind in ("O", "U")
    return texts and all(isinstance(v, str) for v in value)


def _files(data: Splits) -> dict[str, bytes]:
    """The folder's files of a model input, name -> bytes."""
    import torch
    from safetensors.torch import save

    sentences = {k: list(getattr(data, k)) for k in TENSORS if _is_sentences(getattr(data, k))}
    tensors = {
        k: torch.as_tensor(getattr(data, k)).contiguous() for k in TENSORS if k not in sentences
    }
    files = {"tensors.safetensors": save(tensors)}
    if sentences:
        files["sentences.json"] = json.dumps(sentences).encode()
    if data.backbone is not None:
        state = {k: v.contiguous() for k, v in data.backbone.state_dict().items()}
        files["backbone.safetensors"] = save(state)
    rest = {
        f.name: getattr(data, f.name) for f in fields(data) if f.name not in (*TENSORS, "backbone")
    }
    files["splits.json"] = json.dumps(rest, indent=1).encode()
    return files


class SplitsDataset(AbstractDataset[Splits, Splits]):
    """Model input of one data set, in a folder `path` (e.g. data/05_model_input/digits)."""

    def __init__(self, path: str, metadata: dict | None = None) -> None:
        self._storage, self._path = Storage.at(path)
        self.metadata = metadata

    def save(self, data: Splits) -> None:
        files = _files(data)
        parent, name = posixpath.split(self._path)
        staging = join(parent, f".{name}.tmp")
        self._storage.stage(files, staging)
        self._storage.publish(staging, self._path)

    def load(self) -> Splits:
        key = self._storage.fs.unstrip_protocol(self._path)
        stamp = self._storage.stamp(self._path)
        if (held := _LOADED.get(key)) is not None and held[0] == stamp:
            return held[1]
        splits = self._read()
        _LOADED.clear()  # one model input per process: a worker trains on one data set
        _LOADED[key] = (stamp, splits)
        return splits

    def _read(self) -> Splits:
        rest = json.loads(self._storage.read_text(self._file("splits.json")))
        tensors, _ = self._storage.read_tensors(self._file("tensors.safetensors"))
        if self._storage.is_file(self._file("sentences.json")):
            tensors.update(json.loads(self._storage.read_text(self._file("sentences.json"))))
        splits = Splits(**rest, **tensors)
        splits = replace(
            splits,
            topk=tuple(splits.topk),
            image_shape=tuple(splits.image_shape) if splits.image_shape else None,
        )
        if self._storage.is_file(self._file("backbone.safetensors")):
            splits = replace(splits, backbone=self._backbone(splits))
        return splits

    def describe(self) -> Any:
        """The model input without its tensors (name, kind, info): what made it, cheaply."""
        from types import SimpleNamespace

        return SimpleNamespace(**json.loads(self._storage.read_text(self._file("splits.json"))))

    def _backbone(self, splits: Splits) -> Any:
        from ..models import build_model, for_stored_weights

        made_with = {k: v for k, v in splits.info["prepared_for"].items() if v is not None}
        params = {**made_with, "head_hidden": [1], "target": "head", "freeze_backbone": True}
        params = for_stored_weights(params, splits.image_shape)
        model = build_model(params, splits.image_shape, splits.num_classes, "image")
        backbone = model.backbone
        state, _ = self._storage.read_tensors(self._file("backbone.safetensors"))
        backbone.load_state_dict(state)
        return backbone.eval()

    def _exists(self) -> bool:
        return self._storage.published(self._path) and self._storage.is_file(
            self._file("splits.json")
        )

    def _file(self, name: str) -> str:
        return join(self._path, name)

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


class ModelInputsDataset(AbstractDataset[None, dict]):
    """Every data set's model input under `path`: `{dataset: () -> Splits}`; read-only."""

    def __init__(self, path: str = "data/05_model_input", metadata: dict | None = None) -> None:
        self._storage, self._path = Storage.at(path)
        self.metadata = metadata

    def load(self) -> dict:
        names = self._storage.published_in(self._path, "splits.json")
        return {
            name: SplitsDataset(join(self._path, name)).load
            for name in names
            if not name.startswith(".")  # a staging folder a kill left
        }

    def save(self, data: None) -> None:
        from kedro.io import DatasetError

        raise DatasetError("model inputs are written one data set at a time (model_input)")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
