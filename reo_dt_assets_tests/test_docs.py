"""The docs: the site builds with ``--strict`` (no broken link or anchor, no page left out of the
navigation), fetches nothing from the network, and the README is a short first screen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from reo_dt_assets_tests.helpers import REPO

README_MAX_LINES = 150
#: What a page may not load from elsewhere: web fonts, and scripts or styles from a CDN.
EXTERNAL = re.compile(
    r"fonts\.googleapis|fonts\.gstatic|<script[^>]*\ssrc=\"https?:"
    r"|<link(?=[^>]*\srel=\"(?:stylesheet|preload|modulepreload|preconnect|icon)\")[^>]*\shref=\"https?:"
)


def _nav_pages(entries: list[object]) -> set[str]:
    pages: set[str] = set()
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            if isinstance(value, list):
                pages |= _nav_pages(value)
            elif isinstance(value, str):
                pages.add(value)
    return pages


def test_the_docs_site_builds_strict_and_fetches_nothing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    pages = sorted(site.rglob("*.html"))
    assert site / "index.html" in pages and site / "configuration.html" in pages
    fetched = {
        f"{path.relative_to(site)}: {match.group(0)}"
        for path in [*pages, *site.rglob("*.css")]
        for match in EXTERNAL.finditer(path.read_text(encoding="utf-8"))
    }
    assert not fetched, f"the site loads from the network: {sorted(fetched)}"


def test_every_page_is_in_the_nav_and_nothing_is_downloaded_at_build() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    docs = {path.relative_to(REPO / "docs").as_posix() for path in (REPO / "docs").rglob("*.md")}
    nav = _nav_pages(config["nav"])
    assert "configuration.md" in nav  # generated from settings.py (reo_dt_assets_dev.reference)
    assert nav == docs, f"pages not in the nav: {sorted(docs - nav)}; missing: {sorted(nav - docs)}"
    assert config["theme"]["name"] == "material" and config["theme"]["font"] is False
    assert config.get("plugins") == ["search"], "a plugin may download (social, privacy)"
    assert not config.get("extra_javascript") and not config.get("extra_css")


def test_the_readme_is_short_and_its_first_lines_say_what_it_is_and_for_whom() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    first = " ".join(lines[:8])
    for words in ("Dagster", "data engineers", "Digital Turbine", "Reo.Dev", "ad revenue"):
        assert words in first, f"the README's first lines should say {words!r}"
    for page in re.findall(r"`(docs/[\w./-]+\.md)`", "\n".join(lines)):
        assert (REPO / page).exists(), f"README.md names {page}, which does not exist"


def test_the_commands_the_readme_gives_are_make_targets() -> None:
    makefile = (REPO / "Makefile").read_text()
    readme = (REPO / "README.md").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert phony is not None
    for target in re.findall(r"`make ([\w-]+)", readme):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"no make target {target}"
        assert target in phony.group(1).split(), f"{target} is not .PHONY"
    assert re.search(r"^docs: setup\b.*\n\t\$\(BIN\)/mkdocs serve$", makefile, re.MULTILINE)
