"""Render untrusted text (model responses, prompts) as safe HTML.

markdown-it (its Rust port, markdown-it-pyrs: 20x faster than markdown-it-py on a chat model's 1 KB
answer, the same HTML) runs with raw HTML off, so tags in the text come out escaped; nh3 (Ammonia)
then keeps only a small allow-list of tags and attributes as a second line of defence.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it_pyrs import MarkdownIt

register = template.Library()

_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
_MAX_CHARS = 200_000
# Pairs do not change once imported and every annotator of a pair sees the same text, so short texts
# are rendered once per process; long ones are rendered each time to keep the cache's memory small.
_CACHED_CHARS = 16_000


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # CommonMark's rules without html_block and html_inline (raw HTML shows as text), plus GFM tables
    # and strikethrough; no linkify or typographic replacements.
    return MarkdownIt("zero").enable_many(
        [
            "blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph", "reference",
            "autolink", "backticks", "emphasis", "entity", "escape", "image", "link", "newline",
            "table", "strikethrough",
        ]
    )  # fmt: skip


def markdown_to_safe_html(text: str) -> str:
    return _render_cached(text) if len(text) <= _CACHED_CHARS else _render(text)


@lru_cache(maxsize=1024)
def _render_cached(text: str) -> str:
    return _render(text)


def _render(text: str) -> str:
    rendered = _parser().render(text[:_MAX_CHARS])
    return nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    return mark_safe(markdown_to_safe_html(text or ""))  # noqa: S308 -- sanitised by nh3 just above
