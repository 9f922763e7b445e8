"""The run: what it is, what it is called, what decides it, and where it is kept.

    spec.py         RunSpec (what a sweep varies) and the sweep's expansion into specs
    name.py         the name grammar, both ways: format_name / parse_name (no torch)
    fingerprint.py  fingerprints of settings and data; provenance (versions, git commit)
    record.py       RunRecord: history, meta, timing, weights; status; strict JSON
    store.py        RunStore: atomic records, safetensors weights, checkpoints, supersession
    train.py        train_run: one run end to end, skipped, resumed or failed; load_model
    validate.py     every parameter and every run of the sweep, checked before any work
    select.py       which stored runs the later pipelines act on, and their model inputs
    history.py      the records of history.json read back: linear share (no torch)
    plan.py         `kedro plan`: a sweep's runs, their status and cost from timed runs

Import the modules themselves (`from nonlinearity.run.store import RunStore`): this
package's root imports nothing, so that torch-free readers (reporting) stay torch-free.
"""
