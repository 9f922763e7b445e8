"""`RawDataset`: a data set's raw arrays, by name, from the source that ships it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ..data import RawData, load_raw


class RawDataset(AbstractDataset[None, RawData]):
    """Loads `digits` from scikit-learn, `mnist` through torchvision into `raw_dir`; read-only.

    Example catalog entry::

        raw_data:
          type: nonlinearity.io.RawDataset
          dataset: mnist
          raw_dir: data/01_raw
    """

    def __init__(
        self, dataset: str, raw_dir: str = "data/01_raw", metadata: dict | None = None
    ) -> None:
        self._dataset = dataset
        self._raw_dir = Path(raw_dir)
        self.metadata = metadata

    def load(self) -> RawData:
        return load_raw(self._dataset, self._raw_dir)

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: raw data come from their source")

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset, "raw_dir": str(self._raw_dir)}
