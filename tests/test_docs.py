"""The repository explains itself: every link in its Markdown leads to a file or heading inside it."""

from __future__ import annotations

import re
import subprocess

import pytest

from scripts.azurite import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [name for name in listed.stdout.split() if not name.startswith("node_modules/")]


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. A `#` line inside a fenced code
    block (a shell comment) is not a heading."""
    headings, fence = [], None
    for line in text.splitlines():
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) and not line.strip(" `~"):
                fence = None
        elif heading := re.match(r"^#{1,6} (.+)$", line):
            headings.append(heading.group(1))
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_a_comment_in_a_code_block_is_not_a_heading():
    # given Markdown with a heading and a shell block whose comment starts with #
    text = "# Quick start\n\n```sh\n# 1. Create the job\ncurl ...\n```\n\n## After the block\n"
    # when its anchors are read, then only the real headings give one
    assert anchors(text) == {"quick-start", "after-the-block"}


@pytest.mark.parametrize("name", markdown_files())
def test_every_relative_link_resolves_inside_the_repository(name):
    # given a Markdown file of the repository
    source = ROOT / name
    text = source.read_text()
    # when its links are followed
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        if not linked.is_relative_to(ROOT) or not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(target)
    # then each leads to a file of the repository and, where it names one, a heading of that file
    assert broken == []


def test_nothing_points_outside_the_repository():
    # given the tracked files
    listed = subprocess.run(["git", "grep", "-nE", r"\.\./shared|SPEC\.md", "--", "."], cwd=ROOT, capture_output=True, text=True)
    # then none refers to the contract page outside the checkout
    assert [line for line in listed.stdout.splitlines() if not line.startswith("tests/test_docs.py")] == []
