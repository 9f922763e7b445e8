"""Fingerprints: what decides a run's result, hashed; and where the code came from.

    fingerprint(settings) = sha256(canonical JSON of the settings)

Canonical JSON sorts keys and writes floats by `repr`, so the same settings give
the same fingerprint in any process. A run's settings hold the resolved data,
model, training and approach settings, the fingerprint of the model input it
trained on, and the project version (docs/methods.md, "A run is a record").
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any


def canonical(obj: Any) -> str:
    """JSON with sorted keys and no spaces; tuples as lists; refuses NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def fingerprint(obj: Any) -> str:
    """sha256 hex of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def array_fingerprint(arrays: Iterable[Any]) -> str:
    """sha256 over arrays' dtypes, shapes and bytes (numpy arrays, tensors, or lists of str)."""
    h = hashlib.sha256()
    for array in arrays:
        a = array.detach().cpu().contiguous().numpy() if hasattr(array, "detach") else array
        if hasattr(a, "tobytes") and getattr(a, "dtype", None) is not None and a.dtype != object:
            h.update(f"{a.dtype}{tuple(a.shape)}".encode())
            h.update(a.tobytes())
        else:  # sentences
            h.update(canonical([str(v) for v in list(a)]).encode())
    return h.hexdigest()


def project_version() -> str:
    try:
        return metadata.version("nonlinearity")
    except metadata.PackageNotFoundError:
        return "unknown"


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance(cwd: str | Path = ".") -> dict[str, Any]:
    """Versions and the git commit of the code (None outside a checkout), for meta.json."""
    src = Path(__file__).resolve().parents[3]  # the checkout holding src/nonlinearity
    commit = _git("rev-parse", "HEAD", cwd=src)
    dirty = None
    if commit is not None:
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=src))
    import torch  # only the version; this module stays importable without torch elsewhere

    return {
        "project_version": project_version(),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),  # CPU results depend on it (reduction order)
        "platform": f"{platform.system()} {platform.machine()}",
        "argv": sys.argv[1:],
        "cwd": str(Path(cwd).resolve()),
    }


def dotted_get(settings: Mapping[str, Any], key: str) -> Any:
    """`settings["a"]["b"]` for the key `a.b`; None where a part is missing."""
    for part in key.split("."):
        settings = settings.get(part) if isinstance(settings, Mapping) else None
    return settings


def settings_diff(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested settings mappings."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out += settings_diff(va, vb, f"{prefix}{k}.")
        elif canonical(va) != canonical(vb):
            out.append(f"{prefix}{k}")
    return out
