"""A visitor picks a CLIP model (the tiny random-weight one in the Hub's format, tests/clip_hub.py): the class picker
becomes a prompt box, and the typed prompt reaches the task and its recipe."""
import pytest

import clip_hub
from app_server import running_app
from robust_synth.app.pickers import PROMPT_LABEL
import test_browser
from test_browser import error_toasts, open_app, open_settings, open_tab, run_and_wait, text_field

browser = test_browser.browser  # the headless chromium fixture (a skip without it locally, a failure in CI)

PROMPT = "a lighthouse at dusk, oil painting"


@pytest.fixture(scope="module")
def clip_url(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        clip_hub.install(tmp_path_factory.mktemp("clip"), patch)
        try:
            with running_app(tmp_path_factory.mktemp("results")) as address:
                yield address
        finally:
            clip_hub.uninstall()


def test_a_clip_model_turns_the_class_picker_into_a_prompt_box_and_the_prompt_reaches_the_task(browser, clip_url):
    """Catches a picker that keeps the class list (or its label) for a CLIP model, a typed prompt that does not
    reach the run, and a picker that stays a prompt box after going back to a class model."""
    page = open_app(browser, clip_url)
    panel = open_tab(page, "Generate")
    model = panel.get_by_label("model").first
    model.fill(clip_hub.ROBUST.name)
    model.press("Enter")
    target = panel.get_by_label(PROMPT_LABEL).first
    target.wait_for()
    target.fill(PROMPT)
    target.press("Enter")
    open_settings(page, "generate")
    text_field(page, "generate-steps").fill("3")
    assert run_and_wait(page, "generate")
    page.click("#recipe-generate-accordion")
    recipe = page.locator("#recipe-generate")
    recipe.wait_for()
    assert PROMPT in recipe.inner_text() and clip_hub.ROBUST.name in recipe.inner_text()
    model.fill("cifar10-resnet-l2-0.5")
    model.press("Enter")
    panel.get_by_label("target class").first.wait_for()
    assert error_toasts(page) == []
