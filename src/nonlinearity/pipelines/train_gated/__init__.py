"""train_gated: one node per run of the sweep in conf/base/parameters_train_gated.yml."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
