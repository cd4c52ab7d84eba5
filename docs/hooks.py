"""MkDocs hooks for ember's site (named in mkdocs.yml; not a page).

- `<!-- readme: Title -->` alone on a line includes README.md's "## Title" section, so the
  site shows README's text (and its generated tables) without a second copy to keep in step.
  Links are rewritten for the site: images under docs/ point at the page's folder, other
  repository paths at `repo_url` when mkdocs.yml sets one (otherwise they stay as plain text).
- An index written in a docstring without backticks, such as out[i][j], is Markdown's
  reference-link syntax: mkdocs-autorefs would take `[j]` for a cross-reference and fail the
  strict build. A "reference" that directly follows a name or a bracket (indexing, never a
  link), or whose target cannot be a Python name, is put back as the text it was.
"""

from __future__ import annotations

import html
import pathlib
import re

from mkdocs.exceptions import PluginError

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INCLUDE = re.compile(r"^<!-- readme: (?P<title>.+?) -->[ \t]*$", re.MULTILINE)
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
AUTOREF = re.compile(
    r"(?P<before>[\w\])]?)<autoref (?P<attrs>[^>]*)>(?P<title>.*?)</autoref>", re.DOTALL
)
IDENTIFIER = re.compile(r'\bidentifier="(?P<id>[^"]*)"')
PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def readme_section(title: str) -> str:
    """The body of README's `## title` section (heading excluded), up to the next `## `."""
    lines = README.read_text(encoding="utf-8").splitlines()
    heading = f"## {title}"
    if heading not in lines:
        raise PluginError(f"README.md has no section '{heading}' (named in a docs page)")
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip("\n")


def _rewrite_link(match: re.Match, depth: int, repo_url: str | None) -> str:
    bang, text, target = match["bang"], match["text"], match["target"]
    if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
        return match[0]
    if target.startswith("docs/"):  # a file the site has too
        return f"{bang}[{text}]({'../' * depth}{target[len('docs/') :]})"
    if repo_url:
        path = "README.md" + target if target.startswith("#") else target
        return f"{bang}[{text}]({repo_url.rstrip('/')}/blob/main/{path})"
    return text  # a repository file the site does not have: keep the words


def on_page_markdown(markdown, page, config, files):
    """Replace each `<!-- readme: Title -->` line with that README section."""
    depth = page.file.src_uri.count("/")

    def include(match):
        body = readme_section(match["title"])
        return LINK.sub(lambda m: _rewrite_link(m, depth, config.repo_url), body)

    return INCLUDE.sub(include, markdown)


def on_page_content(html_text, page, config, files):
    """Put back `x[i][j]` that autorefs took for a cross-reference (see the module's doc)."""

    def restore(match):
        found = IDENTIFIER.search(match["attrs"])
        if found is None:
            return match[0]
        if not match["before"] and PYTHON_NAME.match(html.unescape(found["id"])):
            return match[0]
        return f"{match['before']}[{match['title']}][{found['id']}]"

    return AUTOREF.sub(restore, html_text)
