"""Remake docs/screenshot.png with the browser test's helpers: python scripts/screenshot.py [--out PATH].

The app (offline: the embedded CIFAR-10 pair) in Debian's chromium, headless: the Generate tab's first example run,
then Compare across robustness, so the page shows the tab strip, the robustness ladder, the results and the strip.
--every-tab DIR instead runs every tab's first example at its defaults, Settings open and Compare on, and saves the
whole page (settings, results, notes, comparison) as DIR/<task>.png: what a visitor sees of each tab's contrast.
"""
import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pytest  # noqa: E402
from huggingface_hub import constants as hub_constants  # noqa: E402

import app_server  # noqa: E402
from robust_synth import task_registry  # noqa: E402
from test_browser import (CHROMIUM, CHROMIUM_ARGS, error_toasts, load_first_example, open_app,  # noqa: E402
                          open_settings, open_tab, run_and_wait, run_ladder_and_wait, sync_api)

WIDTH, HEIGHT = 1280, 900  # the browser test's window
PORT = 7860  # the app's own default, so the share link shows the address the README gives


def take(page, out: Path) -> None:
    """Run the Generate tab's first example and the ladder on it, then save the page down to the strip."""
    panel = open_tab(page, "Generate")
    load_first_example(panel)
    run_and_wait(page, "generate")
    run_ladder_and_wait(page, "generate", levels=2)
    if error_toasts(page):
        raise RuntimeError(f"the app showed an error: {error_toasts(page)}")
    page.wait_for_function("() => [...document.images].every(img => img.complete)")
    bottom = page.evaluate("() => document.querySelector('#ladder-generate').getBoundingClientRect().bottom"
                           " + window.scrollY")
    page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": int(bottom) + 12})


def take_every_tab(page, folder: Path) -> None:
    """Each tab's first example at its defaults with its Settings open and Compare on, the whole page saved."""
    folder.mkdir(parents=True, exist_ok=True)
    for task in task_registry.all_tasks():
        load_first_example(open_tab(page, task.title))
        open_settings(page, task.name)
        page.click(f"#compare-{task.name} input")
        run_and_wait(page, task.name)
        page.wait_for_function("(t) => document.querySelectorAll(`#comparison-${t} img`).length > 0", arg=task.name)
        page.wait_for_function("() => [...document.images].every(img => img.complete)")
        page.screenshot(path=str(folder / f"{task.name}.png"), full_page=True)
        page.click(f"#compare-{task.name} input")
        print(folder / f"{task.name}.png", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--every-tab", type=Path, metavar="DIR", help="one page per tab, Compare on, into DIR")
    args = parser.parse_args()
    if CHROMIUM is None or sync_api is None:
        sys.exit("needs Debian's chromium (apt-get install chromium) and playwright (requirements-dev.txt)")
    with tempfile.TemporaryDirectory() as results, pytest.MonkeyPatch.context() as patch:
        patch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # the offline default, the same on every machine
        patch.setattr(app_server, "free_port", lambda: PORT)
        with app_server.running_app(Path(results)) as url, sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = open_app(browser, url)
                page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
                take_every_tab(page, args.every_tab) if args.every_tab else take(page, args.out)
            finally:
                browser.close()
    if not args.every_tab:
        print(args.out)


if __name__ == "__main__":
    main()
