"""The terms, privacy and returns pages a new shop starts with (django.contrib.flatpages).

Created by migration ``shop.0004_default_pages`` and again after every ``migrate`` or test
flush if missing (``post_migrate``); an existing page is never overwritten, so what staff
wrote in the admin stays. The texts never name the shop: the page template shows
``SHOP_NAME`` from settings.
"""

from django.apps import apps as global_apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

DEFAULT_PAGES = [
    (
        "/terms/",
        "Terms and conditions",
        """<p>These terms apply to every order placed in this shop. By placing an order you
accept them.</p>
<h2>Orders and payment</h2>
<p>Prices are shown in euros and include VAT. Your order is confirmed when your payment has
gone through; you receive a confirmation email with a link to your order. If a payment cannot
be completed, nothing is charged and the order is cancelled.</p>
<h2>Delivery</h2>
<p>We ship paid orders to the address you give at checkout and email you the carrier and the
tracking reference when the parcel leaves. Delivery times are estimates.</p>
<h2>Returns and refunds</h2>
<p>See our <a href="/pages/returns/">returns policy</a>. Refunds go back to the card you paid
with.</p>
<h2>Contact</h2>
<p>Questions about these terms? <a href="/contact/">Write to us</a>.</p>""",
    ),
    (
        "/privacy/",
        "Privacy policy",
        """<p>We collect only what we need to take and deliver your order, and we never sell it.</p>
<h2>What we keep</h2>
<ul>
<li>Your name, email and delivery address, to deliver your order and tell you about it.</li>
<li>The content and history of your order, for our accounts and for support.</li>
<li>Messages you send through the contact page, to answer them.</li>
</ul>
<h2>Payments</h2>
<p>Card payments are processed by Stripe. Your card number goes to Stripe directly; we never
see or store it.</p>
<h2>Cookies</h2>
<p>We use one session cookie to keep your cart and a security cookie for forms; no tracking
or advertising cookies.</p>
<h2>Your rights</h2>
<p>You may ask to see, correct or delete what we hold about you: <a href="/contact/">write to
us</a>. Orders are kept as long as the law requires for accounting.</p>""",
    ),
    (
        "/returns/",
        "Returns and refunds",
        """<p>Not happy with something you bought? You may return it within 30 days of
delivery.</p>
<h2>How to return</h2>
<ol>
<li><a href="/contact/">Write to us</a> with your order reference (it starts with ORD-).</li>
<li>Send the goods back unused, in their original packaging.</li>
<li>When they arrive we refund you, to the card you paid with, within 14 days.</li>
</ol>
<h2>Damaged or wrong goods</h2>
<p>If something arrived damaged or is not what you ordered, tell us within 14 days: we refund
or replace it, and you need not pay for the return.</p>""",
    ),
]


def ensure_default_pages(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Create the site and the default pages that are missing; existing pages are left alone."""
    Site = apps.get_model("sites", "Site")
    FlatPage = apps.get_model("flatpages", "FlatPage")
    site, _ = Site.objects.using(using).get_or_create(
        pk=settings.SITE_ID, defaults={"domain": "example.com", "name": "example.com"}
    )
    for url, title, content in DEFAULT_PAGES:
        page, created = FlatPage.objects.using(using).get_or_create(
            url=url, defaults={"title": title, "content": content}
        )
        if created:
            page.sites.add(site)
