"""Product descriptions: Markdown in, a small safe subset of HTML out."""

import pytest

from catalog.text import plain_summary, render_description


def test_markdown_formatting_becomes_html():
    html = render_description("A **sturdy** mug.\n\n- 350 ml\n- *enamel*\n\n### Care")
    assert "<strong>sturdy</strong>" in html
    assert "<li>350 ml</li>" in html and "<em>enamel</em>" in html
    assert "<h3>Care</h3>" in html


@pytest.mark.parametrize(
    "text, forbidden",
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">click</a>', "javascript:"),
        ("[click](javascript:alert(1))", "javascript:"),
        ('<p style="position:fixed">x</p>', "style="),
        ('<iframe src="https://evil.example"></iframe>', "<iframe"),
        ("# Big heading", "<h1"),
    ],
)
def test_html_and_dangerous_links_in_a_description_are_removed(text, forbidden):
    assert forbidden not in render_description(text)


def test_links_are_kept_and_marked_nofollow():
    html = render_description("See [our workshop](https://example.com/workshop).")
    assert 'href="https://example.com/workshop"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_the_summary_is_plain_text():
    assert plain_summary("A **sturdy** mug & <b>more</b>.\n\n- one") == "A sturdy mug & more. one"


def test_the_product_page_shows_the_description_formatted_and_clean(client, make_product):
    product = make_product(description="**Bold** claim.<script>alert(1)</script>")
    page = client.get(product.get_absolute_url()).content.decode()
    assert "<strong>Bold</strong> claim." in page
    assert "alert(1)" not in page
