"""Screenshots of kedro-viz for the README: docs/kedro-viz.png and docs/kedro-viz-run.png.

Serves the project as `make viz` does (on another port), drives a headless Chromium
through the DevTools protocol, and stops the server. Besides Chromium it needs only what
kedro-viz installs (`websockets` comes with its uvicorn[standard]): `make screenshots`, or

    python docs/screenshots/shoot_viz.py [--browser /usr/bin/chromium] [--port 4142]

Each page is what a visit shows, less what would cover the graph: the feature hints and
the mini-map are off (kedro-viz's `KedroViz` localStorage settings), and the version check
answers "up to date": offline, kedro-viz 12.5 announces "Kedro-Viz None is here!" (it
compares "12.5.0" < "None" as strings).
"""

import argparse
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kedro_viz import __version__
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[2]
# what a first visit would otherwise get: hints walking through the UI, the mini-map
# over the graph's corner
SETTINGS = {
    "showFeatureHints": False,
    "featureHintStep": 0,
    "textLabels": True,
    "expandAllPipelines": False,
    "theme": "dark",
    "visible": {"miniMap": False, "sidebar": True, "code": False},
}


@dataclass
class Shot:
    file: str
    query: str  # kedro-viz's URL parameters: pid pipeline, types shown, fid focused namespace
    width: int  # viewport, CSS px; kedro-viz zooms the graph to fit it
    height: int
    settings: dict = field(default_factory=dict)
    expand: str | None = None  # namespace to expand by clicking it in the graph


SHOTS = [
    # The whole default pipeline, namespaces collapsed, nodes only: with its 162
    # datasets the graph would not fit readably. Left to right, the 27 runs stacked,
    # the labels at ~60 % zoom.
    Shot("kedro-viz.png", "pid=__default__&types=nodes", 3000, 2200, {"orientation": "horizontal"}),
    # One run's namespace in focus mode, expanded: its node, inputs, parameters, outputs.
    Shot(
        "kedro-viz-run.png",
        "pid=__default__&fid=gated-base_s0&types=nodes,datasets,parameters",
        1900,
        1100,
        {"orientation": "vertical"},
        expand="gated-base_s0",
    ),
]


class Page:
    """A Chromium tab over the DevTools protocol, in a browser context of its own (its own
    localStorage: kedro-viz writes its state there); answers kedro-viz's version check."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.replies: dict[int, dict] = {}  # answers that came while waiting for another
        self.session = None
        context = self.call("Target.createBrowserContext")["browserContextId"]
        target = self.call("Target.createTarget", url="about:blank", browserContextId=context)
        self.session = self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )["sessionId"]
        self.call("Page.enable")
        self.call("Fetch.enable", patterns=[{"urlPattern": "*/api/version"}])

    def call(self, method: str, **params) -> dict:
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while msg_id not in self.replies:
            reply = json.loads(self.ws.recv(timeout=60))
            if "id" in reply:
                self.replies[reply["id"]] = reply
            elif reply.get("method") == "Fetch.requestPaused":
                self._answer_version(reply["params"]["requestId"])
        reply = self.replies.pop(msg_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _answer_version(self, request_id: str) -> None:
        body = {"installed": __version__, "is_outdated": False, "latest": __version__}
        self.call(
            "Fetch.fulfillRequest",
            requestId=request_id,
            responseCode=200,
            responseHeaders=[{"name": "Content-Type", "value": "application/json"}],
            body=base64.b64encode(json.dumps(body).encode()).decode(),
        )

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for_graph(self, timeout_s: float = 120) -> int:
        """Waits until the graph has nodes and stopped moving; returns the node count."""
        end, last, stable = time.monotonic() + timeout_s, None, 0
        while time.monotonic() < end:
            state = self.evaluate(
                "JSON.stringify([document.querySelectorAll('.pipeline-node').length,"
                " document.querySelector('.pipeline-flowchart__graph')"
                "?.getAttribute('transform')])"
            )
            count = json.loads(state)[0] if state else 0
            stable = stable + 1 if count and state == last else 0
            if stable >= 6:  # 3 s unchanged: layout done, zoom transition over
                return count
            last = state
            time.sleep(0.5)
        raise TimeoutError("kedro-viz did not draw the graph")

    def shoot(self, base_url: str, shot: Shot, path: Path) -> int:
        settings = json.dumps({**SETTINGS, **shot.settings})
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source=f"localStorage.setItem('KedroViz', {json.dumps(settings)});",
        )
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=shot.width,
            height=shot.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", url=f"{base_url}/?{shot.query}")
        nodes = self.wait_for_graph()
        if shot.expand:
            found = self.evaluate(
                "[...document.querySelectorAll('.pipeline-node--modularPipeline')]"
                f".filter(n => n.textContent.trim() === {json.dumps(shot.expand)})"
                ".map(n => n.dispatchEvent(new MouseEvent('click', {bubbles: true}))).length"
            )
            if found != 1:
                raise RuntimeError(f"no namespace {shot.expand} in the graph to expand")
            nodes = self.wait_for_graph()
        png = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(png))
        return nodes


def wait_for_viz(port: int, server: subprocess.Popen, timeout_s: float = 300) -> dict:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=30) as r:
                return json.load(r)
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(
                    f"the kedro-viz server exited with {server.returncode}"
                ) from None
            time.sleep(0.5)
    raise TimeoutError(f"kedro-viz did not answer on port {port}")


def devtools_url(profile: Path, browser: subprocess.Popen, timeout_s: float = 60) -> str:
    port_file = profile / "DevToolsActivePort"  # "<port>\n<browser target path>"
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if port_file.exists() and len(lines := port_file.read_text().split()) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if browser.poll() is not None:
            raise RuntimeError(f"Chromium exited with {browser.returncode}")
        time.sleep(0.2)
    raise TimeoutError("Chromium did not open its DevTools port")


def stop(process: subprocess.Popen, sig: int) -> None:
    """Signals the process group, then kills what is left of it."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4142, help="the server's port")
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder of the PNGs")
    args = parser.parse_args()

    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    server = f"run_server(host='127.0.0.1', port={args.port}, project_path='.')"
    viz = subprocess.Popen(  # `make viz`'s server
        [sys.executable, "-c", f"from kedro_viz.server import run_server; {server}"],
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    chromium = None
    with tempfile.TemporaryDirectory() as profile:
        try:
            api = wait_for_viz(args.port, viz)
            namespaces = {p["id"] for p in api["modular_pipelines"].values()}
            for shot in SHOTS:
                if shot.expand and shot.expand not in namespaces:
                    raise SystemExit(f"no namespace {shot.expand} in the project's pipelines")
            chromium = subprocess.Popen(
                [
                    args.browser,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    "--remote-debugging-port=0",
                    f"--user-data-dir={profile}",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            url = devtools_url(Path(profile), chromium)
            for shot in SHOTS:
                with connect(url, max_size=None) as ws:
                    path = args.out / shot.file
                    nodes = Page(ws).shoot(f"http://127.0.0.1:{args.port}", shot, path)
                print(f"{path}: {nodes} nodes, {shot.width}x{shot.height}")
        finally:
            if chromium is not None:
                stop(chromium, signal.SIGTERM)
            stop(viz, signal.SIGINT)


if __name__ == "__main__":
    main()
