"""Product descriptions: the owner writes Markdown, customers get a small, safe subset of HTML.

Python-Markdown (the reference implementation) turns the text into HTML but passes any raw
HTML the text contains straight through, so its output is cleaned by nh3 (bindings to the Rust
``ammonia`` sanitiser, the maintained successor of the deprecated ``bleach``) with an
allow-list: paragraphs, emphasis, lists, small headings, quotes, code and http(s)/mailto
links. Anything else (scripts, styles, event handlers, images, iframes) is dropped.
"""

from html import unescape

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "blockquote",
    "code",
    "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


def render_description(text: str) -> SafeString:
    """Return the description as sanitised HTML, safe to put in a page as is."""
    html = markdown.markdown(text or "", output_format="html")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - nh3 output: only the allow-list above survives


def plain_summary(text: str) -> str:
    """The description as plain text (for cards and meta tags): no markup, no HTML."""
    html = markdown.markdown(text or "", output_format="html")
    return " ".join(unescape(nh3.clean(html, tags=set())).split())
