"""Every relative link in README.md and docs/*.md leads somewhere (issue 31): to a file or
folder that exists and, where it names an #anchor, to a heading of that Markdown file, with
the anchor spelled as GitHub makes it from the heading's text. And no command they show
opens the bot's own plain-HTTP port to the world: that is Caddy's job (docs/deploy.md)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`[^`]*`")
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def code_lines(text: str) -> list[str]:
    """The lines inside fenced code blocks: the commands a reader copies."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif fenced:
            lines.append(line)
    return lines


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks: a link or a heading in code is only text."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lower-cased, every character that is
    not a letter, digit, underscore, hyphen or space dropped, spaces made hyphens."""
    text = LINK.sub(r"\1", heading).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """A file's anchors; a repeated heading's second anchor ends in -1, its third in -2."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    targets = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            target = match.group(2).strip("<>")
            if not SCHEME.match(target):
                targets.append(target)
    return targets


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken(path: Path, target: str) -> str | None:
    """Why a link from `path` to `target` leads nowhere, or None when it resolves."""
    file_part, _, anchor = target.partition("#")
    destination = (path.parent / file_part).resolve() if file_part else path
    if not destination.exists():
        return f"{shown(destination)} does not exist"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{shown(destination)} has no heading whose anchor is #{anchor}"
    return None


def test_the_slug_is_githubs() -> None:
    assert slug("A local number: an Android phone as the SMS gateway") == (
        "a-local-number-an-android-phone-as-the-sms-gateway"
    )
    assert slug("Generated input (`bench/fuzz.py`)") == "generated-input-benchfuzzpy"
    assert slug("Citizens' initiatives and signatures") == "citizens-initiatives-and-signatures"
    assert slug("1. Purpose and the people it serves") == "1-purpose-and-the-people-it-serves"
    assert slug("Мен өзгөрткүм келет!") == "мен-өзгөрткүм-келет"


def test_a_repeated_heading_gets_a_numbered_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Example\n\n```sh\n# not a heading\n```\n\n## Example\n")
    assert anchors(page) == {"notes", "example", "example-1"}
    assert broken(page, "#example-1") is None
    assert broken(page, "#not-a-heading") == f"{page} has no heading whose anchor is #not-a-heading"
    assert broken(page, "missing.md") == f"{tmp_path / 'missing.md'} does not exist"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    problems = [
        f"{target}: {reason}"
        for target in relative_links(document)
        if (reason := broken(document, target)) is not None
    ]
    assert problems == [], f"{shown(document)}: " + "; ".join(problems)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_command_serves_plain_http_to_the_world(document: Path) -> None:
    """The bot speaks plain HTTP: the webhook's secret, the console's login links and the web
    chat's cookies would cross the network in clear. A command that binds it to every
    address outside a container (`HOST=0.0.0.0 make run`) is not one to show."""
    opened = [
        line.strip()
        for line in code_lines(document.read_text(encoding="utf-8"))
        if re.search(r"\bHOST=(0\.0\.0\.0|::)(\s|$)", line)
    ]
    assert opened == [], f"{shown(document)}: " + "; ".join(opened)


def test_the_readme_links_every_file_in_docs() -> None:
    """The README is the map: a page in docs/ it does not name is a page nobody finds."""
    readme = ROOT / "README.md"
    linked = {
        (readme.parent / target.partition("#")[0]).resolve() for target in relative_links(readme)
    }
    assert [shown(doc) for doc in DOCUMENTS[1:] if doc not in linked] == []
