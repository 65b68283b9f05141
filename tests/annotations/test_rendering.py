"""Markdown as annotators and curators see it: CommonMark with GFM tables and strikethrough, raw HTML shown
as text (a response that talks about <br> still says so), and nothing unsafe through."""

from __future__ import annotations

from annotations.templatetags.rendering import markdown_to_safe_html


def test_markdown_renders_tables_code_and_strikethrough_and_shows_raw_html_as_text():
    html = markdown_to_safe_html(
        "Use the <br> tag, **bold** `a<b`, <https://example.org>, ~~old~~\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n<div onclick=x>block</div>\n\n```python\nx < 1\n```\n"
    )
    assert "Use the &lt;br&gt; tag, <strong>bold</strong> <code>a&lt;b</code>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">https://example.org</a>' in html
    assert "<s>old</s>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<p>&lt;div onclick=x&gt;block&lt;/div&gt;</p>" in html
    assert "<pre><code>x &lt; 1\n</code></pre>" in html  # the language class is not on the allow-list


def test_unsafe_links_are_dropped_and_hostile_nesting_renders():
    assert 'href="javascript' not in markdown_to_safe_html("[x](javascript:alert(1))")
    deep = markdown_to_safe_html("> " * 5_000 + "deep")
    assert "deep" in deep
    stars = markdown_to_safe_html("*a " * 20_000)
    assert stars.startswith("<p>")
