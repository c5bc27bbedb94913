"""The app in Debian's chromium through Playwright, used as a visitor does: every tab run with Settings open,
results shown whole and enlarged, Stop, share links, the session history, the Results and Models tabs.

Screenshots of every tab go to test-artifacts/ (git-ignored). Without chromium or playwright the tests skip,
except with CI=true, where they fail: CI must run them.
"""
import io
import json
import os
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from robust_synth import models, task_registry, result_store as results
from robust_synth.app import result_sharing as results_view

from app_server import running_app

try:
    from playwright import sync_api
except ImportError:  # reported by the `browser` fixture: a skip locally, a failure in CI
    sync_api = None

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PAGE_TIMEOUT_MS = 180_000  # generous: a CPU shared with training runs can take minutes to render the page
RUN_TIMEOUT_MS = 300_000
SMALL_PX = 128             # results smaller than this must be shown enlarged, nearest-neighbour
TOLERANCE_PX = 1.5         # sub-pixel layout rounding

# What to type into Settings for each task (every field left out stays empty = the task's default). Tasks
# whose default runs take minutes on a CPU get fewer steps typed; super-resolution, sketch-to-image and refine
# run with every field empty, the case that once sent steps=0.
TYPED = {"generate": {"seed": "7", "steps": "20"}, "inpaint": {"steps": "20"}, "translate": {"steps": "20"},
         "paint_features": {"steps": "20"}, "invert": {"steps": "20"}, "interpolate": {"steps": "10"},
         "visualize_feature": {"steps": "20"}, "style_transfer": {"steps": "10"}}
TABS = [(task.name, task.title, TYPED.get(task.name, {})) for task in task_registry.all_tasks()]
# Tabs whose first example sets an image: their result is shown beside that input in the input | result slider.
IMAGE_TABS = {task.name for task in task_registry.all_tasks()
              if any(task.examples[0].get(i.name) for i in task.inputs if i.kind in ("image", "sketch"))}
STRIP_WIDTHS = (1280, 800)  # a laptop window and a narrow one: every tab must be in the strip at both

# Where each displayed <img> really shows pixels: its object-fit content box and the box its scrolling or
# clipping ancestors leave visible.
MEASURE_IMAGES = """(selector) => [...document.querySelectorAll(selector + " img")]
  .filter(img => img.offsetParent !== null).map(img => {
    const box = img.getBoundingClientRect(), style = getComputedStyle(img);
    const nw = img.naturalWidth, nh = img.naturalHeight;
    let w = box.width, h = box.height;
    if (style.objectFit === "contain" || style.objectFit === "scale-down") {
      const k = Math.min(box.width / nw, box.height / nh, style.objectFit === "scale-down" ? 1 : Infinity);
      w = nw * k; h = nh * k;
    } else if (style.objectFit === "cover") {
      const k = Math.max(box.width / nw, box.height / nh); w = nw * k; h = nh * k;
    } else if (style.objectFit === "none") { w = nw; h = nh; }
    const shown = {left: box.left + (box.width - w) / 2, top: box.top + (box.height - h) / 2, width: w, height: h};
    let clip = {left: -1e9, top: -1e9, right: 1e9, bottom: 1e9};
    for (let el = img.parentElement; el; el = el.parentElement) {
      const s = getComputedStyle(el);
      if (s.overflowX !== "visible" || s.overflowY !== "visible") {
        const r = el.getBoundingClientRect();
        clip = {left: Math.max(clip.left, r.left), top: Math.max(clip.top, r.top),
                right: Math.min(clip.right, r.right), bottom: Math.min(clip.bottom, r.bottom)};
      }
    }
    return {src: img.currentSrc, natural: [nw, nh], box: [box.width, box.height], shown, clip,
            rendering: style.imageRendering};
  })"""


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("results")) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    missing = ("Debian's chromium is not installed (apt-get install chromium)" if CHROMIUM is None else
               "playwright is not installed (requirements-dev.txt)" if sync_api is None else None)
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}; with CI=true the browser tests must run")
        pytest.skip(missing)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_app(browser, address: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(address)
    page.wait_for_selector("#run-generate")
    return page


@pytest.fixture(scope="module")
def page(browser, url):
    """One visitor's page for the whole module: the session history collects every tab's result."""
    page = open_app(browser, url)
    yield page
    page.close()


def error_toasts(page) -> list[str]:
    return page.locator(".toast-body.error").all_inner_texts()


def text_field(page, elem_id: str):
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first


def open_tab(page, title: str):
    page.get_by_role("tab", name=title, exact=True).click()
    return page.locator("[role=tabpanel]:visible").first


def open_settings(page, task: str) -> None:
    """Open the tab's Settings accordion (if closed) and wait for its fields to render."""
    seed = text_field(page, f"{task}-seed")
    if not seed.is_visible():
        page.click(f"#settings-{task}")
    seed.wait_for()


def load_first_example(panel) -> None:
    row = panel.locator("tr.tr-body").first
    wanted = row.locator("img").count()  # image inputs the example sets
    row.click()
    panel.locator("[data-testid='image'] img").nth(wanted - 1).wait_for() if wanted else None


def share_link(page, task: str) -> str | None:
    link = page.locator(f"#share-{task} a[href*='?result=']")
    return link.get_attribute("href") if link.count() else None


def gallery_src(page, task: str) -> str | None:
    image = page.locator(f"#gallery-{task} img")
    return image.first.get_attribute("src") if image.count() else None


def run_and_wait(page, task: str) -> str:
    """Press Run; the share link of the new result (fails on an error toast)."""
    before = share_link(page, task)
    page.click(f"#run-{task}")
    page.wait_for_function("""([task, before]) => {
        const link = document.querySelector(`#share-${task} a[href*='?result=']`);
        return (link && link.getAttribute("href") !== before) || document.querySelector(".toast-body.error");
    }""", arg=[task, before], timeout=RUN_TIMEOUT_MS)
    assert error_toasts(page) == []
    return share_link(page, task)


def run_ladder_and_wait(page, task: str, levels: int) -> None:
    """Press Compare across robustness; wait until its strip holds `levels` images and none is running, or an error
    toast shows (the caller checks for it)."""
    page.click(f"#ladder-run-{task}")
    page.wait_for_function("""([task, levels]) => {
        const strip = document.querySelector(`#ladder-${task}`);
        return (strip && strip.querySelectorAll('img').length === levels && !strip.innerText.includes('running'))
            || document.querySelector('.toast-body.error');
    }""", arg=[task, levels], timeout=RUN_TIMEOUT_MS)


def shown_images(page, selector: str) -> list[dict]:
    page.wait_for_function("(s) => [...document.querySelectorAll(s + ' img')].every(i => i.complete)", arg=selector)
    return page.evaluate(MEASURE_IMAGES, selector)


def assert_whole_and_enlarged(images: list[dict], what: str) -> None:
    """Each image visible, not cropped or squashed, and a small one enlarged with visible pixels.

    Catches: object-fit cover or a fixed-height box cutting a single result into a band, a stretched image,
    a 32-px result shown at 32 px or blurred by bilinear scaling."""
    assert images, f"no visible image in {what}"
    for image in images:
        (nw, nh), shown, clip = image["natural"], image["shown"], image["clip"]
        assert nw > 0 and shown["width"] > 0, f"{what}: image not loaded or not shown"
        assert shown["left"] >= clip["left"] - TOLERANCE_PX and shown["top"] >= clip["top"] - TOLERANCE_PX
        assert shown["left"] + shown["width"] <= clip["right"] + TOLERANCE_PX, f"{what}: cut on the right {image}"
        assert shown["top"] + shown["height"] <= clip["bottom"] + TOLERANCE_PX, f"{what}: cut at the bottom {image}"
        assert abs(shown["width"] / shown["height"] - nw / nh) < 0.02, f"{what}: aspect ratio changed {image}"
        if max(nw, nh) < SMALL_PX:
            assert shown["width"] >= 3 * nw, f"{what}: a {nw}-px result is shown only {shown['width']:.0f} px wide"
            assert image["rendering"] == "pixelated", f"{what}: enlarged with {image['rendering']} scaling"


def screenshot(page, name: str) -> None:
    """The whole page as the visitor's 1280-px-wide window shows it, saved as test-artifacts/browser-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def png_at(src: str) -> bytes:
    response = httpx.get(src, timeout=30)
    response.raise_for_status()
    return response.content


@pytest.mark.parametrize("task, title, typed", TABS, ids=[t[0] for t in TABS])
def test_every_tab_runs_its_first_example_with_settings_open(page, task, title, typed):
    panel = open_tab(page, title)
    load_first_example(panel)
    open_settings(page, task)
    for name in ("seed", "steps", "eps", "step_size"):
        field = text_field(page, f"{task}-{name}")
        assert field.input_value() == "", f"{name} is not empty once Settings is open"
        if name in typed:
            field.fill(typed[name])
    assert page.locator(f"#stop-{task}").is_disabled(), "Stop is enabled with no run in progress"
    run_and_wait(page, task)

    gallery = shown_images(page, f"#gallery-{task}")
    assert_whole_and_enlarged(gallery, f"{task} result")
    assert not page.locator(f"#comparison-{task}").is_visible(), "comparison panel shown with compare off"
    if task in IMAGE_TABS:  # the slider is filled by its own listener after the run: wait for both sides
        page.wait_for_function("(s) => document.querySelectorAll(s + ' img').length === 2",
                               arg=f"#before-after-{task}")
        pair = shown_images(page, f"#before-after-{task}")
        assert len(pair) == 2, "the input | result slider shows no pair"
        assert_whole_and_enlarged(pair, f"{task} input | result")
    assert page.locator(f"#stop-{task}").is_disabled(), "Stop stays enabled after the run"

    with Image.open(io.BytesIO(png_at(gallery[0]["src"]))) as png:  # what the download button gives
        assert png.format == "PNG" and list(png.size) == gallery[0]["natural"]
        recipe = json.loads(png.text[results.RECIPE_KEY])
    assert recipe["task"] == task and recipe["params"]["steps"] > 0  # empty fields became defaults, not 0
    if task != "style_transfer":  # unconstrained: it records eps as given (None) and ignores it
        assert recipe["params"]["eps"] > 0 and recipe["params"]["step_size"] > 0
    if "steps" in typed:
        assert recipe["params"]["steps"] == int(typed["steps"])
    if recipe.get("model_resolution"):  # the lead image is the one app.result_sharing.model_image_leads says
        lead_is_model = results_view.model_image_leads(recipe)
        assert recipe["shown_first"] == ("model resolution" if lead_is_model else "full size")
        assert (max(gallery[0]["natural"]) == 32) if lead_is_model else gallery[0]["natural"] == recipe["output_size"]
    if task == "generate":
        assert recipe["seed"] == 7
        page.click("#recipe-generate-accordion")
        shown_recipe = re.sub(r"\s+", "", page.locator("#recipe-generate").inner_text())  # one token per line
        assert '"seed":7,' in shown_recipe and '"steps":20,' in shown_recipe
    screenshot(page, task)


@pytest.mark.parametrize("width", STRIP_WIDTHS)
def test_every_tab_is_in_the_tab_strip(browser, url, width):
    """Catches tabs pushed into Gradio's "⋯" overflow menu (Models and Results were, once Refine was added)."""
    visitor = browser.new_page(viewport={"width": width, "height": 900})
    try:
        visitor.set_default_timeout(PAGE_TIMEOUT_MS)
        visitor.goto(url)
        visitor.wait_for_selector("#run-generate")
        shown = [tab.inner_text() for tab in visitor.get_by_role("tab").all() if tab.is_visible()]
        assert shown[:len(TABS)] == [title for _, title, _ in TABS] and shown[len(TABS):] == ["Models", "Results"]
        for title in shown:
            box = visitor.get_by_role("tab", name=title, exact=True).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"tab {title} is cut off at {width} px"
        screenshot(visitor, f"tab-strip-{width}")
    finally:
        visitor.close()


def test_share_link_reopens_the_same_images_and_settings(page, browser, url):
    panel = open_tab(page, "Generate")
    load_first_example(panel)
    open_settings(page, "generate")
    text_field(page, "generate-seed").fill("11")
    text_field(page, "generate-steps").fill("5")
    share = run_and_wait(page, "generate")
    original = [png_at(image["src"]) for image in shown_images(page, "#gallery-generate")]

    visitor = open_app(browser, share)
    try:
        visitor.wait_for_selector("#gallery-generate img")
        reopened = [png_at(image["src"]) for image in shown_images(visitor, "#gallery-generate")]
        assert len(reopened) == len(original) == 4
        for before, after in zip(original, reopened):  # the same pixels, not just the same count
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(before))), np.asarray(Image.open(io.BytesIO(after))))
        open_settings(visitor, "generate")
        assert text_field(visitor, "generate-seed").input_value() == "11"
        assert text_field(visitor, "generate-steps").input_value() == "5"
        assert error_toasts(visitor) == []
    finally:
        visitor.close()

    open_tab(page, "Results")
    links = page.locator("#history-links").inner_text().splitlines()
    assert share in links[0], "the session history does not start with the latest result"
    assert page.locator("#history img").count() == len(links), "a thumbnail for every result in the history"
    assert not page.locator("#opened-result").is_visible(), "an empty result panel before anything is opened"
    text_field(page, "opened-id").fill(share)
    page.click("#open-result")
    page.locator("#opened-result img").first.wait_for()
    opened = shown_images(page, "#opened-result")
    assert_whole_and_enlarged(opened, "opened result")
    assert len(opened) == len(original)
    for before, image in zip(original, opened):  # catches Open showing another result, or none
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(before))),
                              np.asarray(Image.open(io.BytesIO(png_at(image["src"])))))
    assert '"seed":11,' in re.sub(r"\s+", "", page.locator("#opened-recipe").inner_text())
    screenshot(page, "results")


def test_stop_returns_the_best_result_so_far(page):
    panel = open_tab(page, "Invert")
    load_first_example(panel)
    open_settings(page, "invert")
    text_field(page, "invert-steps").fill("5000")  # 30 s or more on a CPU: Stop has time to act even on a busy one
    before, shown = share_link(page, "invert"), gallery_src(page, "invert")
    page.click("#run-invert")
    page.wait_for_function("() => !document.querySelector('#stop-invert').disabled")
    page.wait_for_function("""([shown]) => {  // a streamed preview: the run is under way
        const image = document.querySelector("#gallery-invert img");
        return image && image.getAttribute("src") !== shown;
    }""", arg=[shown])
    page.click("#stop-invert")
    page.wait_for_function("""([before]) => {
        const link = document.querySelector("#share-invert a[href*='?result=']");
        return link && link.getAttribute("href") !== before;
    }""", arg=[before], timeout=RUN_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#notes-invert').innerText.includes('Stopped early')")
    assert "before the stop button ended it" in page.locator("#notes-invert").inner_text()
    assert error_toasts(page) == []
    page.wait_for_function("() => document.querySelector('#stop-invert').disabled")
    src = shown_images(page, "#gallery-invert")[0]["src"]
    recipe = json.loads(Image.open(io.BytesIO(png_at(src))).text[results.RECIPE_KEY])
    assert recipe["cancelled"] is True and 0 < recipe["metrics"]["steps_run"] < 5000
    text_field(page, "invert-steps").fill("")


def pixels_at(images: list[dict]) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(png_at(image["src"])))) for image in images]


def test_compare_pairs_every_image_only_when_on_and_the_share_link_reopens_the_pairs(page, browser):
    """Generate's first example (n=4) with Compare: catches a comparison of the first image only, an empty panel
    shown with compare off, sides not named by their models, a robust image that is not the result's, the robust
    run twice, small images shown blurred, and a share link that reopens without its comparison."""
    panel = open_tab(page, "Generate")
    load_first_example(panel)
    open_settings(page, "generate")
    text_field(page, "generate-steps").fill("5")
    page.click("#compare-generate input")
    page.locator("#comparison-generate").wait_for()  # shown as soon as compare is on
    share = run_and_wait(page, "generate")
    page.wait_for_function("() => document.querySelectorAll('#comparison-generate img').length === 8")
    pairs = shown_images(page, "#comparison-generate")
    assert_whole_and_enlarged(pairs, "robust | standard")
    captions = page.locator("#comparison-generate .caption-label").all_inner_texts()
    assert captions == [f"{side} · {i} of 4" for i in range(1, 5) for side in ("robust", "standard")]
    shown = pixels_at(pairs)
    assert all(np.array_equal(a, b) for a, b in zip(shown[::2], pixels_at(shown_images(page, "#gallery-generate"))))
    assert all(not np.array_equal(robust, standard) for robust, standard in zip(shown[::2], shown[1::2]))
    label = page.locator("#comparison-generate").inner_text()
    assert "robust: cifar10-resnet-l2-0.5" in label and "standard: cifar10-resnet-standard" in label
    screenshot(page, "compare")

    visitor = open_app(browser, share)
    try:
        visitor.wait_for_function("() => document.querySelectorAll('#comparison-generate img').length === 8")
        reopened = pixels_at(shown_images(visitor, "#comparison-generate"))
        assert all(np.array_equal(a, b) for a, b in zip(reopened, shown, strict=True))
        assert visitor.locator("#compare-generate input").is_checked()
        assert error_toasts(visitor) == []
    finally:
        visitor.close()
    page.click("#compare-generate input")
    page.locator("#comparison-generate").wait_for(state="hidden")
    text_field(page, "generate-steps").fill("")


@pytest.mark.parametrize("task, title, typed", TABS, ids=[t[0] for t in TABS])
def test_every_tab_runs_its_first_example_with_compare_on(page, task, title, typed):
    """Issue 26: every tab's first example with Compare on shows no error, pairs every image of the run with the
    standard model's, and leads with the image app.result_sharing.model_image_leads says."""
    panel = open_tab(page, title)
    load_first_example(panel)
    open_settings(page, task)
    for name, value in typed.items():
        text_field(page, f"{task}-{name}").fill(value)
    page.click(f"#compare-{task} input")
    try:
        share = run_and_wait(page, task)
        gallery = shown_images(page, f"#gallery-{task}")
        page.wait_for_function("([s, n]) => document.querySelectorAll(s + ' img').length === n",
                               arg=[f"#comparison-{task}", 2 * len(gallery)])
        pairs = shown_images(page, f"#comparison-{task}")
        assert_whole_and_enlarged(pairs, f"{task} robust | standard")
        shown = pixels_at(pairs)
        differ = [not np.array_equal(robust, standard) for robust, standard in zip(shown[::2], shown[1::2])]
        assert all(differ[1:-1] if task == "interpolate" else differ), differ  # interpolation's ends: the photos
        with Image.open(io.BytesIO(png_at(gallery[0]["src"]))) as png:
            recipe = json.loads(png.text[results.RECIPE_KEY])
        assert recipe["comparison"]["model"] == models.STANDARD_COUNTERPART[recipe["model"]]
        if recipe.get("model_resolution"):
            lead_is_model = results_view.model_image_leads(recipe)
            assert recipe["shown_first"] == ("model resolution" if lead_is_model else "full size")
        assert share and error_toasts(page) == []
        screenshot(page, f"compare-{task}")
    finally:
        page.click(f"#compare-{task} input")
        for name in typed:
            text_field(page, f"{task}-{name}").fill("")


def test_refine_shows_the_probabilities_before_and_after_and_the_change_amplified(page):
    """Catches a Refine result that looks like its input with nothing saying what changed: the probability of the
    class before -> after for both models, and both changes amplified by one captioned factor."""
    panel = open_tab(page, "Refine")
    load_first_example(panel)
    page.click("#compare-refine input")
    run_and_wait(page, "refine")
    page.wait_for_function("() => document.querySelectorAll('#change-refine img').length === 2")
    notes = page.locator("#notes-refine").inner_text()
    assert re.search(r"Probability of cat, before → after: robust cifar10-resnet-l2-0\.5 [\d.]+% → [\d.]+%; "
                     r"standard cifar10-resnet-standard [\d.]+% → [\d.]+%\.", notes), notes
    captions = page.locator("#change-refine .caption-label").all_inner_texts()
    factor = re.fullmatch(r"robust: change ×(\d+)", captions[0]).group(1)
    assert captions[1] == f"standard: change ×{factor}" and int(factor) > 1
    assert "amplified" in page.locator("#change-refine").inner_text()
    changes = shown_images(page, "#change-refine")
    assert_whole_and_enlarged(changes, "what changed")
    robust = pixels_at(changes)[0].astype(int)
    assert np.abs(robust - 128).mean() > 4, "the amplified change is flat grey"
    screenshot(page, "refine-compare")
    page.click("#compare-refine input")


def test_compare_across_robustness_shows_each_level_captioned(page):
    """The ladder as a visitor uses it: the ε slider sets the model dropdown (and back), and Compare across
    robustness fills one strip with the embedded pair, each image under its ε and clean accuracy. Catches a
    slider that leaves the model as it was, a slider showing a level index, a strip with one image or uncaptioned ones, the same image twice,
    and small images shown blurred."""
    panel = open_tab(page, "Generate")
    load_first_example(panel)
    model = panel.get_by_label("model").first
    level = panel.locator(".ladder-level input[type=range]").first
    assert not panel.locator(".ladder-level input[type=number]").first.is_visible()  # it would show an index
    level.fill("0")
    page.wait_for_function("(el) => el.value.startsWith('cifar10-resnet-standard')", arg=model.element_handle())
    label = panel.locator(".ladder-level").first.element_handle()  # the dropdown's .change relabels the slider
    page.wait_for_function("(el) => el.innerText.includes('ε=0 (standard) · clean 88.5%')", arg=label)
    level.fill("1")
    page.wait_for_function("(el) => el.value.startsWith('cifar10-resnet-l2-0.5')", arg=model.element_handle())
    open_settings(page, "generate")
    text_field(page, "generate-steps").fill("5")
    run_ladder_and_wait(page, "generate", levels=2)
    assert error_toasts(page) == []
    strip = page.locator("#ladder-generate")
    text = strip.inner_text()
    assert "ε=0 (standard) · clean 88.5%" in text and "ε=0.5 (L2) · clean 81.8%" in text
    images = shown_images(page, "#ladder-generate")
    assert_whole_and_enlarged(images, "robustness strip")
    standard, robust = (np.asarray(Image.open(io.BytesIO(png_at(image["src"])))) for image in images)
    assert standard.shape == robust.shape and not np.array_equal(standard, robust)
    strip.scroll_into_view_if_needed()
    screenshot(page, "ladder")
    text_field(page, "generate-steps").fill("")
    open_tab(page, "Results")
    page.wait_for_function(  # the history joins after the strip, in its own event: wait for it, not for the queue
        "() => (document.querySelector('#history-links')?.innerText || '').includes('ladder, ε=0)')",
        timeout=RUN_TIMEOUT_MS)
    links = page.locator("#history-links").inner_text().splitlines()
    assert "(robustness ladder, ε=0.5)" in links[0] and "(robustness ladder, ε=0)" in links[1], links[:2]
    assert all("?result=" in link for link in links[:2])


def test_result_png_loads_into_its_tab(page, tmp_path):
    panel = open_tab(page, "Generate")
    load_first_example(panel)
    open_settings(page, "generate")
    text_field(page, "generate-seed").fill("21")
    text_field(page, "generate-steps").fill("3")
    run_and_wait(page, "generate")
    png = tmp_path / "result.png"
    png.write_bytes(png_at(shown_images(page, "#gallery-generate")[0]["src"]))
    text_field(page, "generate-seed").fill("")
    text_field(page, "generate-steps").fill("")

    open_tab(page, "Results")
    page.locator("#result-upload input[type=file]").set_input_files(str(png))
    page.click("#load-recipe")
    page.wait_for_selector("[role=tab][aria-selected=true]:text-is('Generate')")  # its tab is opened
    page.wait_for_function("() => document.querySelector('#generate-seed input, #generate-seed textarea')"
                           ".value === '21'")
    assert text_field(page, "generate-steps").input_value() == "3"
    assert error_toasts(page) == []


def test_bad_input_shows_a_clear_error_toast(browser, url):
    visitor = open_app(browser, url)
    try:
        open_tab(visitor, "Translate")
        visitor.click("#run-translate")  # no image given
        toast = visitor.wait_for_selector(".toast-body.error", timeout=PAGE_TIMEOUT_MS)
        assert "image is required" in toast.inner_text()
        visitor.wait_for_function("() => document.querySelector('#stop-translate').disabled")
    finally:
        visitor.close()


def table_rows(page, elem_id: str) -> list[list[str]]:
    """The rendered rows of a gr.Dataframe (a virtual list: only rows in view exist)."""
    rows = page.locator(f"#{elem_id} [role=row].virtual-row")
    return [row.locator("[role=gridcell]").all_inner_texts() for row in rows.all()]


def test_models_tab_shows_the_models_and_searches_classes(page):
    open_tab(page, "Models")
    page.locator("#models-table [role=row].virtual-row").first.wait_for()
    first = table_rows(page, "models-table")[0]
    assert models.is_usable(models.get_spec(first[0])), "an unusable model is listed first"
    page.locator("#models-table input[placeholder^='Filter']").fill("cifar10-resnet")
    page.wait_for_function("() => document.querySelectorAll('#models-table [role=row].virtual-row').length === 2")
    table = {cells[0]: cells for cells in table_rows(page, "models-table")}
    assert table["cifar10-resnet-l2-0.5"][1:6] == ["cifar10", "10", "robust L2 ε=0.5", "32 px", "embedded"]
    assert table["cifar10-resnet-standard"][3] == "standard"
    page.locator("#models-table input[placeholder^='Filter']").fill("imagenet-resnet50-l2-3")
    page.wait_for_function("() => document.querySelectorAll('#models-table [role=row].virtual-row').length === 1")
    [hub] = table_rows(page, "models-table")
    assert hub[5] == models.availability(models.get_spec("imagenet-resnet50-l2-3"))

    page.locator("#models-classes input[placeholder^='Search']").fill("tru")
    page.wait_for_function("() => document.querySelectorAll('#models-classes [role=row].virtual-row').length === 1")
    assert table_rows(page, "models-classes") == [["9", "truck"]]
    screenshot(page, "models")


def test_a_model_that_cannot_be_had_is_marked_and_cannot_run(browser, url, monkeypatch):
    from huggingface_hub import constants as hub_constants
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # the server runs in this process: it is offline now
    visitor = open_app(browser, url)
    try:
        picker = visitor.locator("[role=tabpanel]:visible").first.get_by_label("model").first
        picker.click()
        option = visitor.get_by_role("option", name="imagenet-resnet50-l2-3 (robust L2 ε=3, imagenet, ")
        assert option.inner_text().endswith("unavailable offline)"), "the picker does not say it cannot run"
        option.click()
        visitor.wait_for_function("() => document.querySelector('#run-generate').disabled")
        assert "imagenet-resnet50-l2-3 is unavailable" in visitor.locator(".toast-body").first.inner_text()
    finally:
        visitor.close()
