"""tinygan serve in a real browser: Chromium, driven through chromedriver by Selenium, loads the
page, keeps a face, asks for variations, downloads a kept face at 256 px and all kept faces as
a zip; the downloaded PNG must equal what `tinygan sample --id ID --scale 4` draws.

Needs Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`) and
selenium (the dev extra). Without them the test is skipped on a developer's machine and fails
in CI (CI=1), which installs them (.ci/run)."""

import os
import shutil
import tempfile
import threading
import time
import zipfile

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from tinygan.draw.avatars import load_model
from tinygan.draw.generate import shipped_model
from tinygan.serve.app import address, make_server
from tinygan.serve.faces import Faces

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1280,900")


def chromium_or_stop():
    """(browser, driver) paths, or a skip (a failure in CI) naming what is missing."""
    browser = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    driver = shutil.which("chromedriver")
    missing = [name for name, found in (("chromium", browser), ("chromedriver", driver))
               if not found]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        message = (f"the browser test needs {', '.join(missing)}: apt-get install -y chromium "
                   "chromium-driver")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@pytest.fixture(scope="module")
def page_address():
    server = make_server(Faces([load_model(shipped_model("anime"))]), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield address(server)
    server.shutdown()
    server.server_close()


@pytest.fixture
def chrome(tmp_path):
    browser, driver = chromium_or_stop()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.downloads = downloads
    yield session
    session.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(what, timeout=60):
    """what()'s first true value, within `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what.__doc__ or what}")


def downloaded(folder, name):
    """The finished download `name` in `folder`, waited for."""
    def done():
        path = folder / name
        return path if path.exists() and not list(folder.glob("*.crdownload")) else None
    done.__doc__ = f"{name} to download"
    return wait_for(done)


def test_keep_vary_and_download_in_a_browser(chrome, page_address, tmp_path):
    from selenium.webdriver.common.by import By
    find = lambda css: chrome.find_elements(By.CSS_SELECTOR, css)
    chrome.get(page_address + "#seed=11")                               # the first grid's seed
    faces = wait_for(lambda: len(find("#faces .face")) == 16 and find("#faces .face"))
    first_seed = chrome.find_element(By.ID, "seed").text
    kept = faces[3].get_attribute("data-id")
    assert kept.endswith("-11-3") and kept.startswith("anime-")
    assert kept == faces[3].find_element(By.CSS_SELECTOR, ".id").text   # the id is shown
    faces[3].click()                                                    # 1: keep it
    item = wait_for(lambda: find(f'#tray li[data-id="{kept}"]'))[0]
    item.find_element(By.CSS_SELECTOR, ".like").click()                 # more like this
    variations = wait_for(lambda: len(find("#like .face")) == 16 and find("#like .face"))
    assert [v.get_attribute("data-id") for v in variations[:2]] == [f"{kept}.v0s40",
                                                                    f"{kept}.v1s40"]
    variations[1].click()                                               # keep a variation
    wait_for(lambda: len(find("#tray li")) == 2)   # the tray is drawn anew
    item = find(f'#tray li[data-id="{kept}"]')[0]
    link = item.find_element(By.XPATH, ".//a[normalize-space()='256 px']")
    link.click()                                                        # 2: download 256 px
    saved = downloaded(chrome.downloads, f"{kept}.png")
    r = invoke("sample", "--id", kept, "--scale", 4, "--separate", tmp_path / "cli", "--out",
               tmp_path / "grid.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    picture = np.asarray(Image.open(saved))
    assert picture.shape == (256, 256, 3)
    np.testing.assert_array_equal(picture, np.asarray(Image.open(tmp_path / "cli" / f"{kept}.png")))
    chrome.find_element(By.ID, "zip").click()                           # every kept face
    with zipfile.ZipFile(downloaded(chrome.downloads, "tinygan-avatars.zip")) as archive:
        assert archive.namelist() == [f"{kept}.png", f"{kept}.v1s40.png"]
    chrome.find_element(By.TAG_NAME, "body").send_keys("n")             # N: new faces
    wait_for(lambda: chrome.find_element(By.ID, "seed").text != first_seed)
    errors = [entry for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors   # nothing failed to load, nothing the page's policy refused
