"""A sweep's plan before it spends anything: each run, whether it will train, and its cost.

    status    done        a complete record with the run's fingerprint is stored: skipped
              partial     a checkpoint of that fingerprint is in partial/: resumes after it
              failed      the stored record of that fingerprint failed: trains again
              to train    nothing of it is stored (or a record of another fingerprint,
                          which moves to superseded/)
              not trained a layer-wise schedule that is a fixed run on this model

    cost      seconds = epochs to train x s/epoch of its group
    s/epoch   the median, over the group's timed runs, of each run's mean `epoch_time_s`
              (timing.json; a record without one: meta's train_time_s / its epochs)
    group     (data set, model name, device type) of the stored complete runs (pruned
              runs aside: they fine-tune another structure)

An epoch's time covers its training steps and its validation pass; a run's setup, its
test evaluation and its latency measurement are not counted (timing.json's
`train_time_s` less its epochs is part of that), nor are the pipeline's other nodes. A
gated run's epochs are its soft and fine-tune epochs; hardening is not counted. A
group with no timed run has no cost ("cost unknown"), never a guess from another
group; timed runs of other settings in the group (hidden sizes, batch size) are named.
The total is the sum over the runs to train, on the device they were timed on; W
workers take about total / W, if the runs spread evenly and each worker runs as fast
as the timed runs did (their threads are shown).

Names and fingerprints are `train.identify`'s, with the prepared model input's
fingerprint. Without one (not prepared, or made for other settings) names come from the
settings alone, and a stored record of the same name is done if its fingerprint is what
these settings give with the model input it trained on (data_prep makes the same model
input from the same raw data and settings).

Nothing here writes: the store, its checkpoints and the model input are only read.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError
from ..training import GateConfig, TrainConfig, epochs_budget
from .fingerprint import settings_diff
from .record import FAILED, is_result
from .spec import RunSpec, resolve_spec
from .store import RunStore
from .train import example_input, identify, load_model, run_settings

DONE, PARTIAL, TO_TRAIN, NOT_TRAINED = "done", "partial", "to train", "not trained"
NO_INPUT = "model input not prepared: names from settings only"


@dataclass(frozen=True)
class Planned:
    """One run as the sweep would train it: who it is and its epochs."""

    key: str
    name: str | None  # None: a matched run, named once its gated run is stored
    fingerprint: str | None  # None: no model input to fingerprint it with
    settings: Mapping[str, Any]  # run_settings: data, model, training (what the cost depends on)
    budget: Mapping[str, int]  # epochs_budget: train | soft + finetune, and total
    not_trained: str = ""  # why it is not trained (a collapsed layer-wise schedule)
    waits_for: str = ""  # matched: the key of the gated run it is named after
    assumed: bool = False  # fingerprint from the stored record's model input, not a prepared one

    @property
    def group(self) -> tuple[str, str, str]:
        s = self.settings
        return s["dataset"], s["model"]["name"], s["training"]["device_type"]


@dataclass(frozen=True)
class Timed:
    """A stored complete run's training speed."""

    name: str
    group: tuple[str, str, str]  # data set, model name, device type
    seconds_per_epoch: float
    settings: Mapping[str, Any]
    threads: int | None = None  # CPU threads it trained with (provenance)


@dataclass(frozen=True)
class Cost:
    """Seconds per epoch of one group: median and range over its timed runs."""

    group: tuple[str, str, str]
    runs: list[Timed]

    @property
    def median(self) -> float:
        return statistics.median(t.seconds_per_epoch for t in self.runs)

    @property
    def low(self) -> float:
        return min(t.seconds_per_epoch for t in self.runs)

    @property
    def high(self) -> float:
        return max(t.seconds_per_epoch for t in self.runs)


@dataclass(frozen=True)
class Row:
    """One line of the plan."""

    key: str
    name: str | None
    fingerprint: str | None
    status: str  # done | partial | failed | to train | not trained
    epochs: int  # epochs to train
    epochs_total: int  # the run's whole budget
    phases: tuple[int, ...]  # epochs to train by phase: (train,) or (soft, finetune)
    seconds: float | None  # estimate; None: cost unknown
    group: tuple[str, str, str]
    resume_epoch: int | None = None  # partial: the first epoch it trains
    note: str = ""

    @property
    def trains(self) -> bool:
        return self.status not in (DONE, NOT_TRAINED)


@dataclass
class Plan:
    """Rows, the cost of each group they fall in, and what the estimate leaves out."""

    runs: list[Planned]
    rows: list[Row]  # one per run, in order
    costs: dict[tuple[str, str, str], Cost | None]  # None: no timed run of the group
    timed: list[Timed] = field(default_factory=list)  # every timed run, any group
    model_input: str = NO_INPUT  # what the names rest on

    def total(self) -> float:
        """Estimated seconds of the runs to train whose cost is known."""
        return sum(r.seconds or 0.0 for r in self.rows if r.trains)

    def counts(self) -> dict[str, int]:
        rows, status = self.rows, [r.status for r in self.rows]
        return {
            "runs": len(rows),
            "done": status.count(DONE),
            "to_train": sum(r.trains for r in rows),
            "partial": status.count(PARTIAL),
            "failed": status.count(FAILED),
            "not_trained": status.count(NOT_TRAINED),
            "cost_unknown": sum(r.trains and r.seconds is None for r in rows),
        }


# --- the runs ---------------------------------------------------------------------------
def _identify(
    params: Mapping[str, Any],
    spec: RunSpec,
    gates: GateConfig | None,
    model_input: str | None,
    source: Mapping[str, str] | None = None,
) -> tuple[str, str | None, dict]:
    """(name, fingerprint, settings) as `train.identify` gives them; fingerprint None
    without a model input fingerprint."""
    cfg = TrainConfig.from_params(params.get("training"))
    model, data = params.get("model") or {}, params.get("data")
    if model_input is None:
        name, settings = run_settings(params["dataset"], data, model, cfg, spec, gates, source)
        return name, None, settings
    splits = SimpleNamespace(name=params["dataset"], info={"fingerprint": model_input})
    run = identify(splits, model, data, cfg, spec, gates, source)  # type: ignore[arg-type]
    return run.name, run.fingerprint, run.settings


def _stored_input(store: RunStore, name: str) -> str | None:
    """The model input fingerprint a stored record of `name` trained on."""
    return ((store.meta(name) or {}).get("provenance") or {}).get("model_input")


def _who(
    params: Mapping[str, Any],
    spec: RunSpec,
    gates: GateConfig | None,
    model_input: str | None,
    store: RunStore,
    source: Mapping[str, str] | None = None,
) -> tuple[str, str | None, dict, bool]:
    """`_identify`; without a model input, the fingerprint it has if the model input comes
    out as the stored record's of the same name did (then `assumed` is true)."""
    name, fp, settings = _identify(params, spec, gates, model_input, source)
    if fp is None and (stored := _stored_input(store, name)):
        return (*_identify(params, spec, gates, stored, source), True)
    return name, fp, settings, False


def planned_runs(
    specs: Iterable[RunSpec],
    params: Mapping[str, Any],
    store: RunStore,
    model_input: str | None = None,
    collapsed: Mapping[str, tuple[str, float]] | None = None,
) -> list[Planned]:
    """Each spec as its run would be: name, fingerprint, settings and epochs.

    `params`: validated parameters; `model_input`: the fingerprint of the prepared model
    input (None: names from settings only); `collapsed`: `validate.collapsed_runs(...).runs`.
    A matched run is named after its gated run's hardened shares, read from the stored
    gated run; before that is stored it has no name yet.
    """
    return [_planned(s, params, store, model_input, collapsed or {}) for s in specs]


def _planned(
    spec: RunSpec,
    params: Mapping[str, Any],
    store: RunStore,
    model_input: str | None,
    collapsed: Mapping[str, tuple[str, float]],
) -> Planned:
    epochs = TrainConfig.from_params(params.get("training")).epochs
    gates, source, waits = None, None, ""
    if spec.approach == "gating":
        gates = _gates(params, spec)
    elif spec.approach == "layerwise":
        spec = resolve_spec(spec, (params.get("train_fixed") or {}).get("layerwise"))
    elif spec.approach == "matched":
        found = _matched(spec, params, store, model_input)
        if found is None:
            waits = spec.source_key or ""
        else:
            spec, source = found
    name, fp, settings, assumed = _who(params, spec, gates, model_input, store, source)
    why = ""
    if spec.key in collapsed:
        why = (
            f"its schedule is fixed {100 * collapsed[spec.key][1]:g} % on every layer of this model"
        )
    return Planned(
        key=spec.key,
        name=None if waits else name,
        fingerprint=None if waits else fp,
        settings=settings,
        budget=epochs_budget(epochs, gates),
        not_trained=why,
        waits_for=waits,
        assumed=assumed,
    )


def _gates(params: Mapping[str, Any], spec: RunSpec) -> GateConfig:
    variants = (params.get("train_gated") or {}).get("variants") or {}
    return GateConfig.from_params(variants[spec.variant], f"train_gated.variants.{spec.variant}")


def _matched(
    spec: RunSpec, params: Mapping[str, Any], store: RunStore, model_input: str | None
) -> tuple[RunSpec, dict[str, str]] | None:
    """A matched spec at its stored gated run's hardened shares, and its source; None
    while the gated run has no complete record (`matched.train_matched` reads it so)."""
    from .matched import hardened_shares

    gated = replace(spec, approach="gating", schedule={})
    name, fp, _, _ = _who(params, gated, _gates(params, spec), model_input, store)
    if fp is None or not store.complete(name, fp):
        return None
    data = (store.meta(name) or {})["config"]["data"]
    kind = "image" if data["kind"] == "features" else data["kind"]
    shares = hardened_shares(
        load_model(store, name), example_input(kind, tuple(data["input_shape"]))
    )
    return replace(spec, pattern="random", ratio=0.0, schedule=shares), {
        "run": name,
        "fingerprint": fp,
    }


# --- timings ----------------------------------------------------------------------------
def _device_type(meta: Mapping[str, Any]) -> str:
    training = (meta.get("settings") or {}).get("training") or {}
    return (
        training.get("device_type")
        or str((meta.get("config") or {}).get("device", "cpu")).split(":")[0]
    )


def _seconds_per_epoch(store: RunStore, name: str, meta: Mapping[str, Any]) -> float | None:
    """Mean `epoch_time_s` of timing.json; else meta's train_time_s over the run's epochs."""
    try:
        timing = store.timing(name)
    except (OSError, ValueError):
        timing = {}
    epochs = timing.get("epochs") if isinstance(timing, dict) else None
    times = [
        e["epoch_time_s"]
        for e in epochs or []
        if isinstance(e, dict) and isinstance(e.get("epoch_time_s"), (int, float))
    ]
    if times:
        return sum(times) / len(times)
    total = (meta.get("metrics") or {}).get("train_time_s")
    n = (meta.get("config") or {}).get("epochs_total")
    if isinstance(total, (int, float)) and isinstance(n, int) and n > 0:
        return total / n
    return None


def timed_runs(store: RunStore) -> list[Timed]:
    """Every stored complete run (pruned runs aside) with a recorded training time."""
    out = []
    for name in store.names():
        meta = store.meta(name) or {}
        config = meta.get("config") or {}
        settings = meta.get("settings") or {}
        if not is_result(meta) or config.get("approach") == "pruning":
            continue
        model = (settings.get("model") or config.get("model") or {}).get("name")
        dataset = settings.get("dataset") or config.get("dataset")
        seconds = _seconds_per_epoch(store, name, meta)
        if seconds is None or not model or not dataset:
            continue
        threads = (meta.get("provenance") or {}).get("threads")
        out.append(Timed(name, (dataset, model, _device_type(meta)), seconds, settings, threads))
    return out


def costs(timed: Iterable[Timed], groups: Iterable[tuple[str, str, str]]) -> dict:
    """Each group's `Cost`, or None when no run of it is timed."""
    by_group: dict[tuple[str, str, str], list[Timed]] = {}
    for t in timed:
        by_group.setdefault(t.group, []).append(t)
    return {g: Cost(g, by_group[g]) if g in by_group else None for g in dict.fromkeys(groups)}


# --- status and rows ----------------------------------------------------------------------
def _checkpoint(store: RunStore, name: str) -> dict | None:
    """The checkpoint in partial/<name>/ (its tensors mapped, not read), or None."""
    try:
        return store.checkpoint(name, mmap=True)
    except Exception:  # torn or foreign: the run starts over (store.load_checkpoint)
        return None


def _epochs_done(ckpt: Mapping[str, Any]) -> int:
    records = [*ckpt.get("prior", []), *((ckpt.get("loop") or {}).get("history", []))]
    return sum(isinstance(r.get("epoch"), int) for r in records)


def _phases(budget: Mapping[str, int], done: int) -> tuple[int, ...]:
    """Epochs left by phase after `done` epochs: (train,) or (soft, finetune)."""
    if "soft" not in budget:
        return (budget["total"] - done,)
    soft = max(budget["soft"] - done, 0)
    return soft, budget["finetune"] - max(done - budget["soft"], 0)


def run_status(run: Planned, store: RunStore, rerun: bool = False) -> tuple[str, int, str]:
    """(status, epochs already done, note) of a run, as `train.train_run` would find it."""
    if run.not_trained:
        return NOT_TRAINED, 0, run.not_trained
    if run.name is None:
        return TO_TRAIN, 0, f"named when {run.waits_for} is stored"
    complete = bool(run.fingerprint) and store.complete(run.name, run.fingerprint or "")
    if complete and not rerun:
        assumed = " (if data_prep makes the model input it trained on)" if run.assumed else ""
        return DONE, 0, f"complete record, same fingerprint{assumed}"
    status, done, notes = TO_TRAIN, 0, []
    if complete:
        notes.append("rerun=true: trains its complete record again")
    ckpt = _checkpoint(store, run.name)
    if ckpt is not None and run.fingerprint in (None, ckpt.get("fingerprint")):
        status, done = PARTIAL, _epochs_done(ckpt)
        unchecked = "" if run.fingerprint else " (if the checkpoint is of this model input)"
        notes.append(f"resumes at epoch {done + 1} of {run.budget['total']}{unchecked}")
    elif ckpt is not None:
        notes.append("its checkpoint is of another fingerprint: starts over")
    meta = store.meta(run.name) or {}
    if meta.get("fingerprint") == run.fingerprint and meta.get("status") == FAILED:
        status = FAILED
        notes.append(f"trains again ({str(meta.get('error')).removeprefix(run.name + ': ')})")
    elif meta and meta.get("fingerprint") != run.fingerprint:
        notes.append("the stored record of another fingerprint moves to superseded/")
    return status, done, "; ".join(notes)


def plan_rows(
    runs: Iterable[Planned],
    store: RunStore,
    group_costs: Mapping[tuple[str, str, str], Cost | None],
    rerun: bool = False,
) -> list[Row]:
    """Each run's status, epochs to train and estimated seconds (None: cost unknown)."""
    rows = []
    for run in runs:
        status, done, note = run_status(run, store, rerun)
        trains = status not in (DONE, NOT_TRAINED)
        phases = _phases(run.budget, done) if trains else (0,) * (1 + ("soft" in run.budget))
        epochs = sum(phases)
        cost = group_costs.get(run.group)
        seconds = 0.0 if not trains else (epochs * cost.median if cost else None)
        rows.append(
            Row(
                key=run.key,
                name=run.name,
                fingerprint=run.fingerprint,
                status=status,
                epochs=epochs,
                epochs_total=run.budget["total"],
                phases=phases,
                seconds=seconds,
                group=run.group,
                resume_epoch=done + 1 if status == PARTIAL else None,
                note=note,
            )
        )
    return rows


def make_plan(
    runs: list[Planned], store: RunStore, rerun: bool = False, model_input: str = NO_INPUT
) -> Plan:
    """Rows and costs of `runs` from the store's records, checkpoints and timings."""
    timed = timed_runs(store)
    group_costs = costs(timed, [r.group for r in runs])
    rows = plan_rows(runs, store, group_costs, rerun)
    return Plan(runs, rows, group_costs, timed, model_input)


# --- what the user reads ------------------------------------------------------------------
NOT_COUNTED = (
    "only training epochs are estimated: a run's setup, test evaluation and latency "
    "measurement, and the pipeline's other nodes, are not"
)


def seconds_text(s: float) -> str:
    """`0.42 s`, `53.0 s`, `754 s (13 min)`, `9000 s (2.5 h)`."""
    if s < 10:
        return f"{s:.2f} s"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s:.0f} s ({s / 60:.0f} min)"
    return f"{s:.0f} s ({s / 3600:.1f} h)"


def _setting(group: tuple[str, str, str], device: bool = True) -> str:
    dataset, model, dev = group
    return f"{dataset} · {model}" + (f" on {dev}" if device else "")


def _cost_settings(s: Mapping[str, Any]) -> dict[str, Any]:
    training = {k: v for k, v in (s.get("training") or {}).items() if k != "epochs"}
    return {"data": s.get("data"), "model": s.get("model"), "training": training}


def _other_settings(cost: Cost, settings: Mapping[str, Any]) -> str:
    """Which data, model or training settings (epochs aside) timed runs differ in from
    the planned ones: their time may not be these runs' time."""
    mine, keys, n = _cost_settings(settings), [], 0
    for t in cost.runs:
        diff = settings_diff(_cost_settings(t.settings), mine)
        n += bool(diff)
        keys += [k for k in diff if k not in keys]
    if not n:
        return ""
    shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
    return f"; {n} of them with other settings ({shown})"


def cost_lines(plan: Plan) -> list[str]:
    """One line per group of the planned runs: what its estimate rests on."""
    settings = {r.group: r.settings for r in plan.runs}
    lines = []
    for group, cost in plan.costs.items():
        if cost is None:
            elsewhere = sorted({t.group[2] for t in plan.timed if t.group[:2] == group[:2]})
            also = f" (timed on {', '.join(elsewhere)} only)" if elsewhere else ""
            lines.append(f"no timed run of {_setting(group, bool(elsewhere))}: cost unknown{also}")
            continue
        threads = sorted({t.threads for t in cost.runs if t.threads})
        plural = "s" * (threads != [1])
        with_threads = f", {'/'.join(map(str, threads))} thread{plural}" if threads else ""
        n = len(cost.runs)
        lines.append(
            f"cost of {_setting(group)}: {cost.median:.4g} s/epoch, the median of {n} timed "
            f"run{'s' * (n != 1)} ({cost.low:.4g}–{cost.high:.4g} s/epoch{with_threads})"
            f"{_other_settings(cost, settings[group])}"
        )
    return lines


def summary_line(plan: Plan, workers: int = 1) -> str:
    """`N runs: a done, b to train (c partial); estimated total X s sequential (...)`."""
    counts = plan.counts()
    failed = f", {counts['failed']} failed" if counts["failed"] else ""
    runs = f"{counts['runs']} run{'s' * (counts['runs'] != 1)}"
    head = (
        f"{runs}: {counts['done']} done, {counts['to_train']} to train "
        f"({counts['partial']} partial{failed})"
    )
    if counts["not_trained"]:
        head += f", {counts['not_trained']} not trained"
    unknown = counts["cost_unknown"]
    known = counts["to_train"] - unknown
    if not counts["to_train"]:
        return f"{head}: nothing to train"
    if not known:
        return f"{head}; cost unknown (no timed run of their setting)"
    total = plan.total()
    devices = sorted({r.group[2] for r in plan.rows if r.trains and r.seconds is not None})
    text = (
        f"{head}; estimated total {seconds_text(total)}"
        f"{f' for the {known} runs with a cost' if unknown else ''} sequential "
        f"(on {', '.join(devices)}, the device those runs were timed on)"
    )
    if workers > 1:
        text += (
            f", about {seconds_text(total / workers)} with {workers} workers (an estimate: "
            "it assumes the runs spread evenly and each worker runs as fast as the timed runs)"
        )
    return text + (f"; cost unknown for {unknown} runs" if unknown else "")


def _table_row(r: Row) -> tuple[str, ...]:
    if not r.trains:
        secs = "–"
    else:
        secs = "?" if r.seconds is None else f"{r.seconds:.1f}"
    epochs = "+".join(map(str, r.phases)) if len(r.phases) > 1 and r.trains else str(r.epochs)
    if r.name is None:  # a matched run before its gated run: the note says when
        return r.key, f"({r.note})", r.status, epochs, secs, ""
    return r.key, r.name, r.status, epochs, secs, r.note


def render(plan: Plan, title: str, workers: int = 1) -> str:
    """The plan as the user reads it: what it rests on, one row per run, the totals."""
    if not plan.rows:
        return f"{title}\nthe pipeline trains no runs: nothing to estimate"
    table = [("key", "run", "status", "epochs", "est. s", "note")]
    table += [_table_row(r) for r in plan.rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = [title, plan.model_input, *cost_lines(plan), NOT_COUNTED, ""]
    for row in table:
        cells = [row[i].ljust(w) if i < 3 else row[i].rjust(w) for i, w in enumerate(widths)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    return "\n".join([*lines, "", summary_line(plan, workers)])


def as_json(plan: Plan, pipeline: str, workers: int = 1) -> dict[str, Any]:
    """The plan for scripts: one object per run, the cost of each group, the totals."""
    runs = []
    for r in plan.rows:
        row = {k: v for k, v in asdict(r).items() if k != "group"}
        dataset, model, device = r.group
        where = {"dataset": dataset, "model": model, "device_type": device}
        runs.append({**row, "phases": list(r.phases), **where})
    groups = []
    for (dataset, model, device), cost in plan.costs.items():
        entry: dict[str, Any] = {"dataset": dataset, "model": model, "device_type": device}
        if cost is None:
            entry.update(timed_runs=[], seconds_per_epoch=None)
        else:
            entry.update(
                timed_runs=[t.name for t in cost.runs],
                seconds_per_epoch={"median": cost.median, "min": cost.low, "max": cost.high},
            )
        groups.append(entry)
    total = plan.total()
    return {
        "pipeline": pipeline,
        "model_input": plan.model_input,
        "not_counted": NOT_COUNTED,
        "runs": runs,
        "costs": groups,
        "summary": {
            **plan.counts(),
            "seconds": total,
            "workers": workers,
            "seconds_per_worker": total / workers,
            "line": summary_line(plan, workers),
        },
    }


def check_specs(specs: Iterable[RunSpec], keys: Iterable[str]) -> list[RunSpec]:
    """The specs of `keys` (the pipeline's training nodes), in sweep order."""
    by_key = {s.key: s for s in specs}
    wanted = set(keys)
    if missing := sorted(wanted - set(by_key)):
        raise ConfigError(f"run {missing[0]!r} of the pipeline is not in the sweep's params")
    return [s for s in by_key.values() if s.key in wanted]
