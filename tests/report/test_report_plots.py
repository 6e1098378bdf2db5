"""``attune report --plot DIR`` writes valid, non-empty PNGs; ``--html FILE`` one self-contained
page, screenshotted with headless Chromium (skipped with the reason when it is absent)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from router.cli import main
from telemetry import TelemetryStore

pytest.importorskip("matplotlib", reason="the plots need matplotlib (the 'bench' extra)")

from reportkit import known_records  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
SHOTS = Path(os.environ.get("ATTUNE_REPORT_SCREENSHOT_DIR", "")) if os.environ.get("ATTUNE_REPORT_SCREENSHOT_DIR") else None


def _image(path: Path) -> Any:
    import matplotlib.image as mpimg

    return mpimg.imread(path)


@pytest.fixture
def filled(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/plots.db"
    with TelemetryStore.open(url) as st:
        st.write_batch(known_records())
    return url


def test_plot_writes_one_valid_png_per_view(filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plots"
    assert main(["report", "--db", filled, "--plot", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cost.png", "errors.png", "latency.png", "success.png"]
    for p in out.iterdir():
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, p
        img = _image(p)
        assert img.shape[0] > 300 and img.shape[1] > 800
        assert img[..., :3].std() > 0.05, f"{p.name} is blank"  # not one flat colour


def test_html_is_one_self_contained_page(filled: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", "--db", filled, "--html", str(page)]) == 0
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 4
    assert not re.search(r"""(src|href)=['"](?!data:)""", text), "an external resource"
    for word in ("openai/gpt-4o", "anthropic/claude", "local/llama", "p99 ms", "Breaker trips", "code_review"):
        assert word in text


def test_a_screenshot_of_the_page_shows_it(filled: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium where apt works)")
    page = tmp_path / "report.html"
    assert main(["report", "--db", filled, "--html", str(page)]) == 0
    shot = tmp_path / "report.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
           f"--screenshot={shot}", page.as_uri()]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=90, capture_output=True)
    img = _image(shot)
    assert img.shape[:2] == (2400, 1280)
    top = img[:300, :, :3]
    assert top.std() > 0.05, "the page rendered blank"  # the title and the table are drawn
    assert (img[600:, :, :3].std(axis=(0, 1)) > 0.05).all(), "no plot below the tables"
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / "report-page.png")


def test_plotting_an_empty_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    TelemetryStore.open(url).close()
    assert main(["report", "--db", url, "--plot", str(tmp_path / "p")]) == 2
    assert "--plot: nothing to plot: the report's window holds no calls" in capsys.readouterr().err
