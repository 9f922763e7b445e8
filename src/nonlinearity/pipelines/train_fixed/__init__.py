"""train_fixed: one node per run of the sweep in conf/base/parameters_train_fixed.yml."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
