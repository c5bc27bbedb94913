"""The app server that benchmarks/load.py drives: a child process on localhost, its log, and its /proc figures."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOG_PROBLEMS = ("Traceback", "LocalProtocolError")  # what a clean server log never holds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """app.build_demo() launched in a child process on `port`, results in `results_dir`, stdout+stderr to `log`."""

    def __init__(self, port: int, results_dir: Path, log: Path, env: dict[str, str] | None = None):
        self.port, self.results_dir, self.log, self.env = port, results_dir, log, env or {}
        self.url = f"http://127.0.0.1:{port}/"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 600) -> "Server":
        # _frontend=False skips Gradio's own 3-second localhost check, which fails on a loaded CPU; the wait below
        # checks
        code = ("import app; app.build_demo().launch(server_name='127.0.0.1', server_port=%d, quiet=True, "
                "_frontend=False)" % self.port)
        env = {**os.environ, "ROBUST_SYNTH_RESULTS": str(self.results_dir), "GRADIO_ANALYTICS_ENABLED": "False",
               **self.env}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        self._wait_until_up(timeout_s)
        return self

    def _wait_until_up(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode}; see {self.log}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError(f"the server did not answer within {timeout_s} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the container dies."""
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def status(self, field: str) -> float:
        """A number from /proc/<pid>/status, e.g. VmRSS / VmHWM (in kB) or Threads."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return float("nan")

    def rss_mib(self) -> float:
        return self.status("VmRSS") / 1024

    def peak_rss_mib(self) -> float:
        return self.status("VmHWM") / 1024

    def threads(self) -> int:
        return int(self.status("Threads"))

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_problems(self) -> dict[str, int]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return {problem: text.count(problem) for problem in LOG_PROBLEMS}


def folder_mib(folder: Path) -> float:
    """Bytes under `folder` (the results store), in MiB."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:  # evicted while we counted
                pass
    return total / 2**20
