"""Helpers for the storefront's browser tests: the overflow check and the screenshots.

Screenshots go to var/screenshots/<test>/<width>-<step>.png (var/ is gitignored), so a run
leaves a picture of every page a test visited at each width.
"""

import re
from pathlib import Path

SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


class PageCheck:
    """Visit pages at one width: each visit fails on horizontal overflow and is photographed."""

    def __init__(self, page, test_name: str, width_name: str):
        self.page = page
        self.width_name = width_name
        self.folder = SCREENSHOTS_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.step = 0

    def check(self, name: str) -> None:
        """Fail if the page is wider than the window; then save a full-page screenshot."""
        self.page.wait_for_load_state("load")
        widths = self.page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth, window: window.innerWidth,"
            " wide: [...document.querySelectorAll('body *')]"
            "   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            "   .slice(0, 5).map(e => e.tagName + '.' + e.className)})"
        )
        self.step += 1
        self.page.screenshot(
            path=str(self.folder / f"{self.width_name}-{self.step:02d}-{name}.png"), full_page=True
        )
        assert widths["scroll"] <= widths["window"], (
            f"{name} at {self.width_name}: the page is {widths['scroll']} px wide in a "
            f"{widths['window']} px window; too wide: {widths['wide']}"
        )

    def images_loaded(self, selector: str) -> int:
        """How many images under ``selector`` load and decode (lazy ones are loaded now)."""
        return self.page.evaluate(
            """async (sel) => {
                const images = [...document.querySelectorAll(sel + ' img')];
                await Promise.all(images.map(i => {
                    i.loading = 'eager';
                    return i.decode().catch(() => null);
                }));
                return images.filter(i => i.complete && i.naturalWidth > 0).length;
            }""",
            selector,
        )
