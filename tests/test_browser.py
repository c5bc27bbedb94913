"""The app in Debian's chromium through Playwright: generate on the embedded model, share link, error toasts."""
import shutil

import pytest

from app_server import running_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGE_TIMEOUT_MS = 180_000  # generous: a CPU shared with training runs can take minutes to render the page
RUN_TIMEOUT_MS = 300_000   # a 60-step run of four images on that CPU, with previews

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                 "(.ci/run installs it: apt-get install chromium)")]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("results")) as address:
        yield address


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def error_toasts(page) -> list[str]:
    return page.locator(".toast-body.error").all_inner_texts()


def test_generate_shows_images_and_a_share_link_that_reopens_them(page, url, tmp_path):
    page.goto(url)
    page.click("#run-generate")
    share = page.wait_for_selector("#gallery-generate ~ * a[href*='?result='], a[href*='?result=']",
                                   timeout=RUN_TIMEOUT_MS)
    assert page.locator("#gallery-generate img").count() == 4
    screenshot = tmp_path / "generate.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert error_toasts(page) == []

    page.goto(share.get_attribute("href"))
    page.wait_for_selector("#gallery-generate img", timeout=PAGE_TIMEOUT_MS)
    assert page.locator("#gallery-generate img").count() == 4
    assert error_toasts(page) == []


def test_bad_input_shows_a_clear_error_toast(page, url):
    page.goto(url)
    page.get_by_role("tab", name="Translate").click()
    page.click("#run-translate")
    toast = page.wait_for_selector(".toast-body.error", timeout=PAGE_TIMEOUT_MS)
    assert "image is required" in toast.inner_text()
