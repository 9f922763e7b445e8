"""Kedro datasets over the run store (`nonlinearity.run.store.RunStore`).

- `RunStoreDataset`: loads the store itself, for nodes that look runs up (skip,
  resume) or add to them; read-only.
- `RunRecordDataset`: one run's record; `save` writes it atomically (weights,
  history, meta, timing together); `load` gives the names of the stored runs of
  this namespace.
- `MetaUpdatesDataset`: figures merged into stored meta.json files (benchmark).
- `ModelsDataset`: every complete run's model, `{name: () -> nn.Module}`, rebuilt
  from settings and safetensors weights.

Each takes the store's `path`: a local path or an fsspec URL (`nonlinearity.storage`).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ..run.record import RunRecord


class RunStoreDataset(AbstractDataset[None, Any]):
    """The run store under `path` (data/07_model_output); read-only."""

    def __init__(self, path: str = "data/07_model_output", metadata: dict | None = None) -> None:
        self._path = path
        self.metadata = metadata

    def load(self) -> Any:
        from ..run.store import RunStore

        return RunStore(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("the run store is written through RunRecordDataset")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


class RunRecordDataset(AbstractDataset[Any, list[str]]):
    """Runs' records (one, or a list), each written atomically into the store under `path`.

    `load` gives the names of the stored runs whose key matches `key` (fnmatch).
    """

    def __init__(
        self, path: str = "data/07_model_output", key: str = "*", metadata: dict | None = None
    ) -> None:
        self._path = path
        self._key = key
        self.metadata = metadata

    def save(self, data: RunRecord | list[RunRecord]) -> None:
        from ..run.store import RunStore

        store = RunStore(self._path)
        for record in data if isinstance(data, list) else [data]:
            store.save(record)

    def load(self) -> list[str]:
        from ..run.name import parse_name
        from ..run.store import RunStore

        out = []
        for name in RunStore(self._path).names():
            try:
                key = parse_name(name).key
            except ValueError:
                continue
            if fnmatch.fnmatchcase(key, self._key):
                out.append(name)
        return out

    def _exists(self) -> bool:
        return bool(self.load())

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "key": self._key}


class MetaUpdatesDataset(AbstractDataset[dict, None]):
    """`{run name: {key: value}}` merged into stored meta.json files: all read, then written."""

    def __init__(self, path: str = "data/07_model_output", metadata: dict | None = None) -> None:
        self._path = path
        self.metadata = metadata

    def save(self, data: dict) -> None:
        from ..run.store import RunStore

        RunStore(self._path).update_meta(data)

    def load(self) -> None:
        raise DatasetError("meta updates are write-only; read runs through `runs`")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


class ModelsDataset(AbstractDataset[None, dict]):
    """Every complete run's model: `catalog.load("models")[name]()`; read-only.

    `folded: true`: the folded models of pruned runs instead.
    """

    def __init__(
        self, path: str = "data/07_model_output", folded: bool = False, metadata: dict | None = None
    ) -> None:
        self._path = path
        self._folded = folded
        self.metadata = metadata

    def load(self) -> dict:
        from functools import partial

        from ..run.record import is_result
        from ..run.store import RunStore
        from ..run.train import FOLDED, load_model

        store = RunStore(self._path)
        weights = FOLDED if self._folded else "model.safetensors"
        return {
            n: partial(load_model, store, n, self._folded)
            for n in store.names()
            if is_result(store.meta(n) or {"status": "unreadable"}) and store.has(n, weights)
        }

    def save(self, data: None) -> None:
        raise DatasetError("models are written with their run (RunRecordDataset)")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "folded": self._folded}
