"""Redraw docs/html-report.png, the README's picture of the examples' HTML report.

Runs the bundled examples with ``--conv-html``, the page a CI job would keep
as an artifact, and photographs it in headless Chromium with the test
suite's browser helper. Run from the repository root: ``python docs/html_report_screenshot.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import open_page, start_browser  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--conv-html={page}"],
                       cwd=ROOT / "examples", check=True)
        print(f"examples page: {page.stat().st_size:,} bytes")
        driver = start_browser()
        try:
            open_page(driver, page)
            driver.set_window_size(1400, 1000)
            driver.save_screenshot(str(ROOT / "docs" / "html-report.png"))
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
