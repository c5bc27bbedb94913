"""robust-synth Gradio app (the Space's entry point): one tab and one API endpoint per registered task."""
from robust_synth.app import memory

memory.cap_arenas()  # before the server's threads start: RSS stays flat under a steady load (docs/load.md)

from robust_synth.app.page import LAUNCH_OPTIONS, build_demo  # noqa: E402
from robust_synth.app.pickers import preload  # noqa: E402

__all__ = ["LAUNCH_OPTIONS", "build_demo"]

preload()  # the embedded robust/standard pair, once, on CPU (ZeroGPU moves work to the GPU per request)

if __name__ == "__main__":
    build_demo().launch(**LAUNCH_OPTIONS)
