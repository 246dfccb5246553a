"""Redraw docs/html-report.png, the README's picture of the examples' HTML report.

Runs the bundled examples with ``--conv-json``, renders that run as the HTML
report, and photographs it in headless Chromium with the test suite's
browser helper. Run from the repository root: ``python docs/html_report_screenshot.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import open_page, start_browser  # noqa: E402

from pytest_convbudget.html_report import render_html  # noqa: E402
from pytest_convbudget.runfile import load_run_file  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        run_file = Path(folder) / "run.json"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--conv-json={run_file}"],
                       cwd=ROOT / "examples", check=True)
        page = Path(folder) / "report.html"
        run = load_run_file(run_file)
        page.write_text(render_html([entry.measurement for entry in run.entries]), encoding="utf-8")
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
