"""Load and bad-input benchmark against a live local server (app.build_demo() in a child process, localhost only).

Phase 1: a single client runs every distinct request once (the reference images).
Phase 2: N concurrent clients x M mixed requests on the embedded model: failures, results that differ from
         phase 1 for the same request and seed, p50/p95 latency (queueing included), the server's peak memory.
Phase 3: the bad-input corpus (tests/bad_inputs.py) through the API: each must give a clear error (or, for
         inputs that are only unusual, a result), and the server must answer a normal request after each one.

    python benchmarks/load.py [--clients 16] [--requests 5] [--steps 10] [--json results.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from bad_inputs import CORPUS, MASK_SIZE, half_mask  # noqa: E402

MODEL = "cifar10-resnet-l2-0.5"
IMAGE_ARGS = ("image", "mask", "image_a", "image_b", "content_image", "style_image")
UNCLEAR = ("Traceback", "verbose error reporting", "has raised an exception")
PARAM_ENDPOINT = {"frames": "/interpolate", "side": "/style_transfer"}  # the rest go to /generate


# ----- the server ------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, results_dir: str) -> subprocess.Popen:
    # _frontend=False skips Gradio's own 3-second localhost check, which fails on a loaded CPU; wait_until_up checks
    code = ("import app; app.build_demo().launch(server_name='127.0.0.1', server_port=%d, quiet=True, "
            "_frontend=False)" % port)
    env = {**os.environ, "ROBUST_SYNTH_RESULTS": results_dir, "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the server did not answer within {timeout_s} s")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ----- requests --------------------------------------------------------------------------------------------------

def make_files(folder: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    paths = {"photo": folder / "photo.png", "other": folder / "other.png", "mask": folder / "mask.png"}
    Image.fromarray(rng.integers(0, 256, (MASK_SIZE[1], MASK_SIZE[0], 3), dtype=np.uint8)).save(paths["photo"])
    Image.fromarray(rng.integers(0, 256, (MASK_SIZE[1], MASK_SIZE[0], 3), dtype=np.uint8)).save(paths["other"])
    half_mask().save(paths["mask"])
    return {name: str(path) for name, path in paths.items()}


def mixed_jobs(files: dict[str, str]) -> list[tuple[str, dict]]:
    return [("/generate", {"target": "cat", "n": 1}),
            ("/inpaint", {"image": files["photo"], "mask": files["mask"]}),
            ("/super_resolve", {"image": files["photo"]}),
            ("/translate", {"image": files["photo"], "target": "dog"}),
            ("/invert", {"image": files["photo"]})]


def connect(url: str) -> Client:
    """A client whose HTTP calls wait for a busy server (the default 5 s is too short on a loaded CPU)."""
    return Client(url, verbose=False, httpx_kwargs={"timeout": 600})


def call(client: Client, api_name: str, args: dict):
    args = {k: handle_file(v) if k in IMAGE_ARGS and isinstance(v, str) else v for k, v in args.items()}
    return client.predict(**args, api_name=api_name)


def image_digest(output) -> str:
    """sha256 of the decoded pixels of every image in the gallery (the first output)."""
    digest = hashlib.sha256()
    for item in output[0]:
        digest.update(np.asarray(Image.open(item["image"]).convert("RGB")).tobytes())
    return digest.hexdigest()


def request_plan(jobs, clients: int, per_client: int, steps: int) -> list[list[tuple[str, dict]]]:
    """Client c's j-th request: job (c + j) mod len(jobs) with seed j, so each (job, seed) pair recurs."""
    return [[(jobs[(c + j) % len(jobs)][0], {"model": MODEL, **jobs[(c + j) % len(jobs)][1], "seed": j,
                                            "steps": steps}) for j in range(per_client)] for c in range(clients)]


def key(api_name: str, args: dict) -> str:
    return json.dumps([api_name, args], sort_keys=True)


def run_reference(url: str, plan) -> tuple[dict[str, str], list[float]]:
    client, reference, latencies = connect(url), {}, []
    for api_name, args in {key(*r): r for requests in plan for r in requests}.values():
        start = time.perf_counter()
        reference[key(api_name, args)] = image_digest(call(client, api_name, args))
        latencies.append(time.perf_counter() - start)
    return reference, latencies


def run_client(client: Client, requests) -> list[dict]:
    records = []
    for api_name, args in requests:
        start = time.perf_counter()
        try:
            digest, error = image_digest(call(client, api_name, args)), None
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            digest, error = None, f"{type(e).__name__}: {e}"
        records.append({"key": key(api_name, args), "latency_s": time.perf_counter() - start, "digest": digest,
                        "error": error})
    return records


def run_concurrent(url: str, plan) -> tuple[list[dict], float]:
    """Every client connected first, then all of them sending at once; returns the records and the wall time."""
    clients = [connect(url) for _ in plan]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(plan)) as pool:
        records = [r for rs in pool.map(run_client, clients, plan) for r in rs]
    return records, time.perf_counter() - start


# ----- the bad-input corpus through the API ----------------------------------------------------------------------

def json_safe(value):
    """Non-finite floats cannot be JSON-encoded by the client; a hostile client sends them as strings."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def corpus_request(index: int, item, files: dict[str, str], folder: Path):
    """(api_name, args) sending one corpus item through the API, or None for items that only test the library."""
    base = {"model": MODEL, "seed": 0, "steps": 2}
    if item.kind in ("image", "mask"):
        if not item.upload:
            return None
        path = folder / f"corpus-{index}.bin"
        path.write_bytes(item.make())
        if item.kind == "image":
            return "/super_resolve", {**base, "image": str(path)}
        return "/inpaint", {**base, "image": files["photo"], "mask": str(path)}
    if item.kind == "params":
        if item.expect == "ok":
            return None  # reference settings and numpy integers: library checks, not API requests
        ((name, value),) = item.make().items()
        endpoint = PARAM_ENDPOINT.get(name, "/generate")
        args = {"/generate": {**base, "target": "cat", "n": 1},
                "/interpolate": {**base, "image_a": files["photo"], "image_b": files["other"]},
                "/style_transfer": {"content_image": files["photo"], "style_image": files["other"], "steps": 2}}
        return endpoint, {**args[endpoint], {"side": "size"}.get(name, name): json_safe(value)}
    if item.kind == "model":
        return "/generate", {**base, "model": item.make(), "target": "cat", "n": 1}
    if item.kind == "target":
        return "/generate", {**base, "target": json_safe(item.make()), "n": 1}
    return "/open_result", {"result": item.make()}


def run_corpus(url: str, files: dict[str, str], folder: Path) -> list[dict]:
    client, rows = connect(url), []
    normal = ("/generate", {"model": MODEL, "target": "cat", "n": 1, "seed": 0, "steps": 1})
    for index, item in enumerate(CORPUS):
        request = corpus_request(index, item, files, folder)
        if request is None:
            continue
        try:
            call(client, *request)
            outcome, message = "ok", ""
        except Exception as e:  # noqa: BLE001 - the message is what is judged
            outcome, message = "error", str(e)
        try:
            call(client, *normal)
            served_after = True
        except Exception:  # noqa: BLE001
            served_after = False
        clear = outcome == "error" and bool(message.strip()) and not any(u in message for u in UNCLEAR)
        rows.append({"item": item.name, "kind": item.kind, "expected": item.expect, "outcome": outcome,
                     "clear": clear, "message": message[:200], "served_after": served_after})
    return rows


# ----- report ----------------------------------------------------------------------------------------------------

def summarise(reference, reference_latencies, records, wall_s, corpus_rows, peak_mib, args) -> dict:
    latencies = [r["latency_s"] for r in records]
    failures = [r for r in records if r["error"]]
    differing = [r for r in records if r["digest"] and r["digest"] != reference[r["key"]]]
    as_expected = [r for r in corpus_rows if r["outcome"] == r["expected"] and (r["outcome"] == "ok" or r["clear"])]
    return {
        "clients": args.clients, "requests_per_client": args.requests, "steps": args.steps, "model": MODEL,
        "requests": len(records), "concurrent_wall_s": wall_s, "throughput_per_s": len(records) / wall_s,
        "failures": len(failures), "failure_examples": [f["error"] for f in failures[:5]],
        "differ_from_single_client": len(differing),
        "latency_p50_s": float(np.percentile(latencies, 50)), "latency_p95_s": float(np.percentile(latencies, 95)),
        "single_client_p50_s": float(np.percentile(reference_latencies, 50)),
        "server_peak_rss_mib": peak_mib,
        "corpus_sent": len(corpus_rows), "corpus_as_expected": len(as_expected),
        "corpus_served_after_each": sum(r["served_after"] for r in corpus_rows),
        "corpus_unexpected": [r for r in corpus_rows if r not in as_expected],
    }


def progress(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--steps", type=int, default=10, help="PGD steps per request")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="robust-synth-load-"))
    files, port = make_files(folder), free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_server(port, str(folder / "results"))
    try:
        wait_until_up(url, server)
        plan = request_plan(mixed_jobs(files), args.clients, args.requests, args.steps)
        progress("server up; single-client reference run")
        reference, reference_latencies = run_reference(url, plan)
        progress(f"{args.clients} concurrent clients")
        records, wall_s = run_concurrent(url, plan)
        progress("bad-input corpus")
        corpus_rows = run_corpus(url, files, folder)
        summary = summarise(reference, reference_latencies, records, wall_s, corpus_rows, peak_rss_mib(server.pid),
                            args)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
