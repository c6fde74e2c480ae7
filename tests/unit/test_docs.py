"""The project's Markdown: every relative link and anchor resolves, and no document tells its own history."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
#: how a document that narrates its own making speaks; the project's documents speak of the project
HISTORY = re.compile(r"\b(this|that|another|earlier|previous|next|one|each) session\b|\bsession \d|\bsessions?'s? "
                     r"(work|tests?|runs?)\b|\bhelper session|\bI (changed|tried|measured|found|built)\b",
                     re.IGNORECASE)


def markdown_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.md"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return sorted(ROOT / line for line in out.splitlines() if (ROOT / line).exists())


def prose(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose(path):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    out.update(re.findall(r'<a (?:id|name)="([^"]+)"', path.read_text()))
    return frozenset(out)


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, line in prose(path):
        for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            target = m.group(1) or m.group(2)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                problems.append(f"{path.relative_to(ROOT)}:{number}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {target} (no such heading)")
    return problems


def test_markdown_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "docs/RELAY.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documents_speak_of_the_project_not_of_their_making(path: Path) -> None:
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}" for n, line in prose(path) if HISTORY.search(line)]
    assert hits == []


def test_the_checks_catch_what_they_guard(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Top\n## Two words\n[ok](#two-words) [bad](#nowhere) [gone](missing.md)\n"
                   "```\n[in code](nowhere.md)\n```\nWhat I changed this session.\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert broken_links(doc) == ["a.md:3: #nowhere (no such heading)", "a.md:3: missing.md (no such file)"]
        assert [n for n, line in prose(doc) if HISTORY.search(line)] == [7]
    finally:
        ROOT = saved
    assert slug("The order saga (`shop.saga`)") == "the-order-saga-shopsaga"
