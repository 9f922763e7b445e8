"""Run names, one grammar both ways (no torch here: reporting parses names too).

    name   := <dataset>_<model>_<key>_<digest>
    key    := fixed[-<pattern>]_<ratio %>_s<seed>
            | layerwise-<schedule>_s<seed>
            | gated-<variant>_s<seed>
            | matched-<variant>_s<seed>     (fixed at gated-<variant>_s<seed>'s shares)
            | pruned-<key of the source run>
    digest := c<6 hex digits of the run's settings fingerprint>

`digits_mlp_fixed_50_s0_c1f3a9e`. The ratio is the only bare integer token (the
guide's notebook reads it from there); the digest starts with a letter so it never
reads as one. Two runs whose settings differ in anything (epochs, hidden sizes, the
data split) differ in their digest, so they never share a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGEST_CHARS = 6

_KEY = (
    r"(?P<key>(?:pruned-)*(?:"
    r"fixed(?:-(?P<pattern>[a-z]+))?_(?P<ratio>\d+)"
    r"|layerwise-(?P<schedule>[A-Za-z0-9_.-]+?)"
    r"|gated-(?P<variant>[A-Za-z0-9_.-]+?)"
    r"|matched-(?P<matched>[A-Za-z0-9_.-]+?)"
    r")_s(?P<seed>\d+))"
)
_NAME = re.compile(rf"^(?P<setup>[A-Za-z0-9_.-]+?)_{_KEY}_c(?P<digest>[0-9a-f]{{{DIGEST_CHARS}}})$")


@dataclass(frozen=True)
class RunName:
    """A parsed run name."""

    setup: str  # <dataset>_<model>
    key: str  # what the sweep varies, seed included (the node's namespace)
    digest: str  # c + hex: the settings fingerprint's first characters
    approach: str  # fixed | layerwise | gating | matched | pruning
    seed: int
    ratio: float | None = None  # fixed: share of linear neurons
    pattern: str = "random"
    schedule: str | None = None
    variant: str | None = None  # gating, matched
    source_key: str | None = None  # pruning: the run it was pruned from; matched: its gated run

    def __str__(self) -> str:
        return f"{self.setup}_{self.key}_{self.digest}"


def format_name(dataset: str, model: str, key: str, fingerprint: str) -> str:
    """`digits`, `mlp`, `fixed_50_s0`, a settings fingerprint -> the run's name."""
    return f"{dataset}_{model}_{key}_c{fingerprint[:DIGEST_CHARS]}"


def pruned_key(source_key: str) -> str:
    return f"pruned-{source_key}"


def parse_name(name: str) -> RunName:
    """The inverse of `format_name`; ValueError for a name outside the grammar."""
    m = _NAME.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a run name (<dataset>_<model>_<key>_c<digest>)")
    key = m["key"]
    inner = key
    pruned = key.startswith("pruned-")
    if pruned:
        inner = key[len("pruned-") :]
    if m["ratio"] is not None:
        approach, extra = (
            "fixed",
            {"ratio": int(m["ratio"]) / 100, "pattern": m["pattern"] or "random"},
        )
    elif m["schedule"] is not None:
        approach, extra = "layerwise", {"schedule": m["schedule"]}
    elif m["matched"] is not None:
        approach, extra = "matched", {"variant": m["matched"]}
    else:
        approach, extra = "gating", {"variant": m["variant"]}
    source = inner if pruned else None
    if approach == "matched" and not pruned:
        source = f"gated-{m['matched']}_s{m['seed']}"
    return RunName(
        setup=m["setup"],
        key=key,
        digest=f"c{m['digest']}",
        approach="pruning" if pruned else approach,
        seed=int(m["seed"]),
        source_key=source,
        **extra,
    )
