"""`make viz` serves kedro-viz until it is stopped, and stopping it leaves nothing behind.

Each case runs the Makefile's own recipe (`make viz`, on a free port, in a scratch project)
in a process group of its own, as a terminal runs a job, waits until the page and the API
answer, then signals it: Ctrl-C (SIGINT to the whole group) or a SIGTERM to make alone (an
IDE's stop button, `kill`). `kedro viz run` failed the second (its server child kept the
port) and printed a KeyboardInterrupt traceback on the first.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, scratch_project

pytest.importorskip("kedro_viz")

VENV = Path(sys.executable).parent.parent


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until_served(port: int, make: subprocess.Popen, log: Path, timeout_s: float = 240):
    """The page and the API's pipelines, once the project is loaded (~10 s, more when busy)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                page = r.read().decode()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=30) as r:
                return page, json.load(r)
        except OSError:
            assert make.poll() is None, "make viz exited:\n" + log.read_text()[-3000:]
            time.sleep(0.5)
    raise AssertionError("make viz did not serve:\n" + log.read_text()[-3000:])


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm-to-make"])
def test_make_viz_stops_cleanly(tmp_path, stop):
    """Served page and API; after the signal, the port is free and no process is left."""
    project = scratch_project(tmp_path / "project")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    log = tmp_path / "viz.log"
    # An ignored SIGINT is inherited (pytest run as a shell's background job): a handler
    # here is SIGINT's default action in make, as in a terminal's job.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with log.open("wb") as out:
            make = subprocess.Popen(
                # the recipe as `make viz` runs it; -o: the venv counts as installed
                ["make", "-f", REPO / "Makefile", "-o", f"{VENV}/.installed"]
                + [f"VENV={VENV}", f"VIZ_PORT={port}", "viz"],
                cwd=project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a job of its own, as a terminal starts it
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        page, api = _wait_until_served(port, make, log)
        assert "<title>Kedro-Viz</title>" in page
        assert api["nodes"] and "__default__" in {p["id"] for p in api["pipelines"]}

        if stop == "ctrl-c":
            os.killpg(make.pid, signal.SIGINT)  # what the terminal sends its foreground job
        else:
            os.kill(make.pid, signal.SIGTERM)
        make.wait(timeout=20)
        end = time.monotonic() + 5
        while (_listening(port) or _group_alive(make.pid)) and time.monotonic() < end:
            time.sleep(0.2)
        text = log.read_text()
        assert not _listening(port), f"still served on {port} after make ended:\n{text[-3000:]}"
        assert not _group_alive(make.pid), "a process of make viz survived:\n" + text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        assert "Finished server process" in text  # uvicorn shut down, not killed
    finally:
        if _group_alive(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(timeout=30)
