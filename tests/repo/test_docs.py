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
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")


SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (`#` lines, and text underlined with `===` or `---`): the
    heading's words (a link's words, no image, code without its backticks, no HTML tags), lower case, punctuation
    dropped, spaces to hyphens, a repeat numbered `-1`, `-2`. A `#` line inside a fenced code block (a shell comment)
    or an HTML comment is not a heading."""
    slugs: set[str] = set()
    fence, in_comment, paragraph = None, False, None

    def add(heading: str) -> None:
        words = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", heading)
        words = re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])", r"\1", words)
        words = re.sub(r"<[A-Za-z/!][^>]*>", "", words)
        slug = re.sub(r"[^\w\- ]", "", words.lower()).replace(" ", "-")
        numbered, repeat = slug, 0
        while numbered in slugs:
            repeat += 1
            numbered = f"{slug}-{repeat}"
        slugs.add(numbered)

    for line in text.splitlines():
        if in_comment:
            in_comment = "-->" not in line
            continue
        opened = FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) and not line.strip(" `~"):
                fence = None
            continue
        if opened:
            fence, paragraph = opened.group(1), None
        elif line.lstrip().startswith("<!--"):
            in_comment, paragraph = "-->" not in line, None
        elif heading := HEADING.match(line):
            add(heading.group(1))
            paragraph = None
        elif paragraph is not None and SETEXT_UNDERLINE.match(line):
            add(paragraph.strip())
            paragraph = None
        elif line.strip() and not line.lstrip().startswith(("|", "-", "*", ">")) and paragraph is None:
            paragraph = line
        elif not line.strip():
            paragraph = None
    return slugs


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "# Quick start\n\n```sh\n# 1. Create the job\ncurl ...\n```\n\n## After the block\n",
            {"quick-start", "after-the-block"},
        ),
        ("<!--\n# x\n-->\n## Kept\n", {"kept"}),
        ("## See [the contract](docs/contract.md)\n", {"see-the-contract"}),
        ("## `make run` ##\n", {"make-run"}),
        ("## Limits\n## Limits\n", {"limits", "limits-1"}),
        ("## ![img](x.png) Pic\n## [link][ref]\n## 5 < 6 > 4\n", {"-pic", "link", "5--6--4"}),
        ("Title\n=====\n\nText\n\n---\n\nSub\n---\n", {"title", "sub"}),
    ],
)
def test_anchors_are_the_ones_github_makes(text, expected):
    # given Markdown with code blocks, comments, links and code in headings, or a repeated heading
    # when its anchors are read, then they are GitHub's, and nothing else
    assert anchors(text) == expected


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
    assert [line for line in listed.stdout.splitlines() if not line.startswith("tests/repo/test_docs.py")] == []
