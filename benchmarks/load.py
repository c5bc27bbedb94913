"""Load benchmark against a live local server (app.build_demo() in a child process, localhost only).

Phase 1: a single client runs every distinct request once (the reference images).
Phase 2: N concurrent clients x M mixed requests (generate, inpaint, super-resolve, style transfer at small size) on
         the embedded model: refusals, failures, results that differ from phase 1 for the same request and seed,
         p50/p95 latency (queueing included), throughput, the server's peak memory.
Phase 3: dropped clients: scripts killed while their long run is going; the server's CPU use after the kill (a run
         that goes on burns it), how soon a new request is answered, and the log (no traceback, ever).
Phase 4: the bad-input corpus (tests/bad_inputs.py) through the API: each must give a clear error (or, for
         inputs that are only unusual, a result), and the server must answer a normal request after each one.
Phase 5 (--soak-minutes): steady mixed load from --soak-clients clients: RSS, open files and threads sampled
         every 10 s; every request answered; the results store's size against its cap (--results-cap-mb).
Phase 6: the server is killed (SIGKILL) with requests in flight and started again on the same results: every
         share link made before must reopen with the same images.

    python benchmarks/load.py [--clients 64] [--requests 3] [--steps 5] [--json results.json]
    python benchmarks/load.py --soak-minutes 20 --skip-burst --skip-corpus --results-cap-mb 8
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
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
from load_server import Server, folder_mib, free_port  # noqa: E402

MODEL = "cifar10-resnet-l2-0.5"
IMAGE_ARGS = ("image", "mask", "image_a", "image_b", "content_image", "style_image")
UNCLEAR = ("Traceback", "verbose error reporting", "has raised an exception")
PARAM_ENDPOINT = {"frames": "/interpolate", "side": "/style_transfer"}  # the rest go to /generate
BUSY = "the app is busy"  # the start of an admission refusal (robust_synth/app/admission.py)
STYLE_SIDE = 32           # "small size" for style transfer: the CIFAR side
SR_FACTOR = 2             # and for super-resolution: 32 -> 64 px
DROPPED_STEPS = 5000      # a run long enough (about a minute here) that it is clearly still going when dropped
SAMPLE_EVERY_S = 10
BUSY_CPU_S = 2.0          # server CPU seconds after the dropped clients' requests: their runs are going


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
            ("/super_resolve", {"image": files["photo"], "factor": SR_FACTOR}),
            ("/style_transfer", {"content_image": files["photo"], "style_image": files["other"],
                                 "size": STYLE_SIDE})]


def connect(url: str) -> Client:
    """A client whose HTTP calls wait for a busy server (the default 5 s is too short on a loaded CPU)."""
    return Client(url, verbose=False, httpx_kwargs={"timeout": 600})


def call(client: Client, api_name: str, args: dict):
    args = {k: handle_file(v) if k in IMAGE_ARGS and isinstance(v, str) else v for k, v in args.items()}
    return client.predict(**args, api_name=api_name)


def pixels(output) -> np.ndarray:
    """The decoded pixels of every image in the gallery (the first output), side by side as one flat array."""
    return np.concatenate([np.asarray(Image.open(item["image"]).convert("RGB")).ravel() for item in output[0]])


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(values.tobytes()).hexdigest()


def request_plan(jobs, clients: int, per_client: int, steps: int) -> list[list[tuple[str, dict]]]:
    """Client c's j-th request: job (c + j) mod len(jobs) with seed j, so each (job, seed) pair recurs."""
    return [[(jobs[(c + j) % len(jobs)][0], {"model": MODEL, **jobs[(c + j) % len(jobs)][1], "seed": j,
                                            "steps": steps}) for j in range(per_client)] for c in range(clients)]


def key(api_name: str, args: dict) -> str:
    return json.dumps([api_name, args], sort_keys=True)


def run_reference(url: str, plan) -> tuple[dict[str, np.ndarray], list[float]]:
    client, reference, latencies = connect(url), {}, []
    for api_name, args in {key(*r): r for requests in plan for r in requests}.values():
        start = time.perf_counter()
        reference[key(api_name, args)] = pixels(call(client, api_name, args))
        latencies.append(time.perf_counter() - start)
    return reference, latencies


def run_one(client: Client, api_name: str, args: dict) -> dict:
    """One request's record: latency, pixels and share link, or its error (a refusal counted apart)."""
    start = time.perf_counter()
    record = {"key": key(api_name, args), "pixels": None, "share_url": None, "error": None, "refused": False}
    try:
        output = call(client, api_name, args)
        record.update(pixels=pixels(output), share_url=output[-1].get("share_url"))
    except Exception as e:  # noqa: BLE001 - every failure is counted and reported
        record.update(error=f"{type(e).__name__}: {e}", refused=BUSY in str(e))
    record["latency_s"] = time.perf_counter() - start
    return record


def run_client(client: Client, requests) -> list[dict]:
    return [run_one(client, api_name, args) for api_name, args in requests]


def run_concurrent(url: str, plan) -> tuple[list[dict], float]:
    """Every client connected first, then all of them sending at once; returns the records and the wall time."""
    clients = [connect(url) for _ in plan]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(plan)) as pool:
        records = [r for rs in pool.map(run_client, clients, plan) for r in rs]
    return records, time.perf_counter() - start


def compare(records: list[dict], reference: dict[str, np.ndarray]) -> dict:
    """How results under load differ from the single client's: exactly, and by how many 8-bit levels at most."""
    done = [r for r in records if r["pixels"] is not None]
    gaps = [int(np.abs(r["pixels"].astype(int) - reference[r["key"]].astype(int)).max())
            if r["pixels"].shape == reference[r["key"]].shape else 255 for r in done]
    return {"differ_from_single_client": sum(gap > 0 for gap in gaps),
            "differ_by_more_than_1_level": sum(gap > 1 for gap in gaps),
            "max_level_difference": max(gaps, default=0)}


def latency_summary(records: list[dict], wall_s: float) -> dict:
    latencies = [r["latency_s"] for r in records if r["error"] is None]
    failures = [r for r in records if r["error"] and not r["refused"]]
    return {"requests": len(records), "wall_s": wall_s, "answered": len(latencies),
            "throughput_per_s": len(latencies) / wall_s, "refused": sum(r["refused"] for r in records),
            "failures": len(failures), "failure_examples": [f["error"] for f in failures[:5]],
            "refusal_examples": [r["error"] for r in records if r["refused"]][:2],
            "latency_p50_s": float(np.percentile(latencies, 50)) if latencies else None,
            "latency_p95_s": float(np.percentile(latencies, 95)) if latencies else None}


# ----- dropped clients -------------------------------------------------------------------------------------------

DROPPED_CLIENT = """
import sys
from gradio_client import Client
job = Client(sys.argv[1], verbose=False).submit(model=sys.argv[2], target="cat", n=1, seed=0, steps=int(sys.argv[3]),
                                                api_name="/generate")
print("submitted", flush=True)
job.result()
"""


def run_dropped(server: Server, count: int) -> dict:
    """`count` scripts each start a long run and are killed (SIGKILL) once the server is computing it.

    A dropped run that went on would hold its slot for minutes (DROPPED_STEPS steps each, one after another); how
    soon the next request is answered, and the queue left behind, show whether the runs were cancelled.
    """
    scripts = [subprocess.Popen([sys.executable, "-c", DROPPED_CLIENT, server.url, MODEL, str(DROPPED_STEPS)],
                                stdout=subprocess.PIPE, text=True) for _ in range(count)]
    for script in scripts:
        script.stdout.readline()
    cpu, deadline = server.cpu_seconds(), time.monotonic() + 120
    while server.cpu_seconds() - cpu < BUSY_CPU_S and time.monotonic() < deadline:
        time.sleep(0.5)  # the scripts' requests are on their way, then running
    queued_at_kill, cores_running = queue_size(server), cpu_cores(server, 5)
    for script in scripts:
        script.kill()
        script.wait()
    time.sleep(10)  # the server notices a closed stream at the run's next preview (every 1/12 of its steps)
    cores_after = cpu_cores(server, 10)
    client = connect(server.url)
    start = time.perf_counter()
    call(client, "/generate", {"model": MODEL, "target": "cat", "n": 1, "seed": 0, "steps": 5})
    return {"dropped": count, "steps_each": DROPPED_STEPS, "queued_when_killed": queued_at_kill,
            "server_cpu_cores_while_running": cores_running, "server_cpu_cores_10_s_after_drop": cores_after,
            "next_request_s": time.perf_counter() - start, "queued_after": queue_size(server)}


def cpu_cores(server: Server, seconds: float) -> float:
    """The server's CPU use over the next `seconds`, in cores (a dropped run that goes on keeps it up)."""
    before = server.cpu_seconds()
    time.sleep(seconds)
    return (server.cpu_seconds() - before) / seconds


def queue_size(server: Server) -> int:
    """Requests waiting in the server's queue (Gradio's public queue status)."""
    return httpx.get(server.url + "gradio_api/queue/status", timeout=60).json()["queue_size"]


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
        expected = item.api_expect or item.expect
        rows.append({"item": item.name, "kind": item.kind, "expected": expected, "outcome": outcome,
                     "clear": clear, "message": message[:200], "served_after": served_after})
    return rows


# ----- the soak --------------------------------------------------------------------------------------------------

def run_soak(server: Server, jobs, clients: int, minutes: float, steps: int) -> tuple[dict, list[dict]]:
    """`clients` clients sending mixed requests back to back for `minutes`; the server sampled every 10 s."""
    deadline, samples, records = time.monotonic() + minutes * 60, [], []
    lock = threading.Lock()

    def client_loop(c: int):
        client, j = connect(server.url), 0
        while time.monotonic() < deadline:
            api_name, args = jobs[(c + j) % len(jobs)]
            record = run_one(client, api_name, {"model": MODEL, **args, "seed": j % 3, "steps": steps})
            with lock:
                records.append(record)
            j += 1

    threads = [threading.Thread(target=client_loop, args=(c,), daemon=True) for c in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        samples.append({"t_s": round(time.monotonic() - start), "rss_mib": server.rss_mib(),
                        "open_files": server.open_files(), "threads": server.threads(),
                        "results_mib": folder_mib(server.results_dir)})
        time.sleep(SAMPLE_EVERY_S)
    for thread in threads:
        thread.join()
    after_minute = next(s for s in samples if s["t_s"] >= 60) if minutes >= 1 else samples[0]
    end = samples[-1]
    summary = {"minutes": minutes, "clients": clients, **latency_summary(records, time.monotonic() - start),
               "rss_after_minute_1_mib": after_minute["rss_mib"], "rss_end_mib": end["rss_mib"],
               "rss_change": end["rss_mib"] / after_minute["rss_mib"] - 1,
               "open_files_after_minute_1": after_minute["open_files"], "open_files_end": end["open_files"],
               "threads_after_minute_1": after_minute["threads"], "threads_end": end["threads"],
               "results_store_max_mib": max(s["results_mib"] for s in samples), "samples": samples}
    return summary, records


# ----- restart ---------------------------------------------------------------------------------------------------

def run_restart(server: Server, jobs, records: list[dict], steps: int) -> dict:
    """Kill the server with requests in flight, start it again, and reopen every share link made before."""
    in_flight = [threading.Thread(target=run_one, args=(connect(server.url), api_name,
                                                        {"model": MODEL, **args, "seed": 7, "steps": steps * 100}),
                                  daemon=True) for api_name, args in jobs * 2]
    for thread in in_flight:
        thread.start()
    time.sleep(3)
    server.kill()
    server.start()
    client, reopened, same = connect(server.url), 0, 0
    linked = [r for r in records if r["share_url"]]
    for record in linked:
        try:
            output = client.predict(record["share_url"], api_name="/open_result")
        except Exception:  # noqa: BLE001 - counted
            continue
        reopened += 1
        same += digest(pixels(output)) == digest(record["pixels"])
    return {"links_made_before": len(linked), "reopened_after_restart": reopened, "same_images": same,
            "in_flight_when_killed": len(in_flight)}


# ----- report ----------------------------------------------------------------------------------------------------

def progress(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    parser.add_argument("--steps", type=int, default=5, help="PGD steps per request")
    parser.add_argument("--concurrent-requests", type=int,
                        help="ROBUST_SYNTH_CONCURRENT_REQUESTS for the server (default: the app's)")
    parser.add_argument("--drops", type=int, default=4, help="clients killed in the middle of a long run")
    parser.add_argument("--skip-burst", action="store_true", help="no phases 1-2 (the concurrent burst)")
    parser.add_argument("--skip-corpus", action="store_true", help="no phase 4 (the bad-input corpus)")
    parser.add_argument("--soak-minutes", type=float, default=0)
    parser.add_argument("--soak-clients", type=int, default=8)
    parser.add_argument("--results-cap-mb", type=float, help="ROBUST_SYNTH_RESULTS_MAX_MB for the server")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="robust-synth-load-"))
    files = make_files(folder)
    env = {"ROBUST_SYNTH_CONCURRENT_REQUESTS": str(args.concurrent_requests)} if args.concurrent_requests else {}
    if args.results_cap_mb:
        env["ROBUST_SYNTH_RESULTS_MAX_MB"] = str(args.results_cap_mb)
    server = Server(free_port(), folder / "results", folder / "server.log", env)
    jobs, summary, linked = mixed_jobs(files), {"machine": machine(), "args": vars(args) | {"json": None}}, []
    try:
        server.start()
        if not args.skip_burst:
            plan = request_plan(jobs, args.clients, args.requests, args.steps)
            progress("server up; single-client reference run")
            reference, reference_latencies = run_reference(server.url, plan)
            progress(f"{args.clients} concurrent clients")
            records, wall_s = run_concurrent(server.url, plan)
            summary["burst"] = {**latency_summary(records, wall_s), **compare(records, reference),
                                "single_client_p50_s": float(np.percentile(reference_latencies, 50)),
                                "server_peak_rss_mib": server.peak_rss_mib()}
            linked += records
        if args.drops:
            progress(f"{args.drops} dropped clients")
            summary["dropped"] = run_dropped(server, args.drops)
        if not args.skip_corpus:
            progress("bad-input corpus")
            rows = run_corpus(server.url, files, folder)
            as_expected = [r for r in rows if r["outcome"] == r["expected"] and (r["outcome"] == "ok" or r["clear"])]
            summary["corpus"] = {"sent": len(rows), "as_expected": len(as_expected),
                                 "served_after_each": sum(r["served_after"] for r in rows),
                                 "unexpected": [r for r in rows if r not in as_expected]}
        if args.soak_minutes:
            progress(f"soak: {args.soak_clients} clients for {args.soak_minutes} min")
            summary["soak"], soak_records = run_soak(server, jobs, args.soak_clients, args.soak_minutes, args.steps)
            linked += soak_records if not args.results_cap_mb else []  # a cap evicts old links by design
        progress("kill the server mid-run and restart it")
        summary["restart"] = run_restart(server, jobs, linked, args.steps)
        summary["server_log_problems"] = server.log_problems()
        summary["server_log"] = str(server.log)
    finally:  # what was measured is reported even when a later phase fails
        server.stop()
        summary["load_average_at_end"] = os.getloadavg()  # other work on the machine, which slows every figure here
        print(json.dumps(summary, indent=2))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.1f} at the start")


if __name__ == "__main__":
    main()
