"""Launch the Gradio app in-process on a free local port, for the API and browser tests."""
import contextlib
import socket
import time

import httpx
import pytest
from gradio import networking

STARTUP_TIMEOUT_S = 120  # Gradio's own check gives up after ~3 s; a CPU shared with training runs needs longer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def patient_url_ok(url: str) -> bool:
    """Like gradio.networking.url_ok, but waits up to STARTUP_TIMEOUT_S for the first page to render."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.head(url, timeout=STARTUP_TIMEOUT_S).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.5)
    return False


@contextlib.contextmanager
def running_app(results_dir):
    """The app's local URL, with results written to results_dir; the server is closed afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROBUST_SYNTH_RESULTS", str(results_dir))
        patch.setattr(networking, "url_ok", patient_url_ok)
        import app
        demo = app.build_demo()
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                quiet=True, **app.LAUNCH_OPTIONS)
        try:
            yield url
        finally:
            demo.close()
