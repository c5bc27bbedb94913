"""robust-synth Gradio app (the Space's entry point): one tab and one API endpoint per registered task."""
from robust_synth.app.page import LAUNCH_OPTIONS, build_demo
from robust_synth.app.pickers import preload

__all__ = ["LAUNCH_OPTIONS", "build_demo"]

preload()  # the embedded robust/standard pair, once, on CPU (ZeroGPU moves work to the GPU per request)

if __name__ == "__main__":
    build_demo().launch(**LAUNCH_OPTIONS)
