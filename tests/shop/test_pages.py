"""The contact page (a form that emails the shop) and the staff-edited terms/privacy/returns."""

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.flatpages.models import FlatPage
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from shop import contact
from shop.default_pages import DEFAULT_PAGES
from shop.models import ContactMessage

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "message": "Where is my order ORD-ABCD2345? It has been a week.",
    "website": "",
}


# --- Contact page ------------------------------------------------------------------------------


@override_settings(SHOP_EMAIL="owner@shop.example", SHOP_NAME="Mugs & More")
def test_contact_form_emails_the_shop_and_thanks_the_customer(client):
    page = client.get(reverse("shop:contact"))
    assert page.status_code == 200
    assert 'name="website"' in page.content.decode()  # the honeypot is there, hidden
    response = client.post(reverse("shop:contact"), GOOD, follow=True)
    assert response.redirect_chain == [(reverse("shop:contact_thanks"), 302)]
    assert "Thank you, your message is on its way" in response.content.decode()
    [email] = mail.outbox
    assert email.to == ["owner@shop.example"]
    assert email.reply_to == ["ann@example.com"]
    assert email.subject == "[Mugs & More] Message from Ann Example"
    assert GOOD["message"] in email.body and "Ann Example <ann@example.com>" in email.body
    [kept] = ContactMessage.objects.all()
    assert kept.sent_at is not None


def test_contact_email_goes_only_after_the_commit(client):
    with transaction.atomic():
        contact.submit_contact_message(name="Ann", email="ann@example.com", message="x" * 20)
        assert mail.outbox == []
    assert len(mail.outbox) == 1
    # Sending it again (a retried task) sends nothing more.
    assert contact.send_contact_message(ContactMessage.objects.get().pk) is False
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", "", "Please tell us your name."),
        ("email", "", "Please give your email address so that we can answer."),
        ("email", "not-an-address", "Please enter a valid email address, like name@example.com."),
        ("message", "", "Please write your message."),
        ("message", "hi", "Please write a little more (at least 10 characters)."),
        ("message", "x" * 5001, "Please keep your message under 5000 characters."),
    ],
)
def test_contact_form_with_bad_input_says_what_is_wrong_and_sends_nothing(
    client, field, value, error
):
    response = client.post(reverse("shop:contact"), {**GOOD, field: value})
    assert response.status_code == 400
    html = response.content.decode()
    assert error in html
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    assert mail.outbox == []
    assert not ContactMessage.objects.exists()


def test_a_message_whose_email_was_never_queued_is_sent_by_the_sweep_once():
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    # As if the worker's queue was down at the commit: the row is there, no email went.
    kept = ContactMessage.objects.create(
        name="Bo",
        email="bo@example.com",
        message="Do you ship to Norway?",
        created_at=timezone.now() - timedelta(minutes=5),
    )
    fresh = ContactMessage.objects.create(
        name="Cy", email="cy@example.com", message="Just sent", created_at=timezone.now()
    )
    assert contact.send_unsent_contact_messages() == 1  # the fresh one is its task's to send
    assert contact.send_unsent_contact_messages() == 0
    [email] = mail.outbox
    assert "Do you ship to Norway?" in email.body
    kept.refresh_from_db()
    fresh.refresh_from_db()
    assert kept.sent_at is not None and fresh.sent_at is None
    name, func, minutes = contact.SCHEDULE
    assert Schedule.objects.get(name=name).func == func


def test_contact_form_filled_by_a_bot_is_thanked_and_ignored(client):
    response = client.post(reverse("shop:contact"), {**GOOD, "website": "http://spam.example"})
    assert response.status_code == 302
    assert mail.outbox == []
    assert not ContactMessage.objects.exists()


# --- Terms, privacy, returns -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "title", "content"), DEFAULT_PAGES)
@override_settings(SHOP_NAME="Mugs & More")
def test_default_pages_are_served_in_the_shops_layout(client, url, title, content):
    response = client.get(f"/pages{url}")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{title}</h1>" in html
    assert f"<title>{title} · Mugs &amp; More</title>" in html
    assert 'id="content"' in html  # base.html wraps it
    assert "Mugs" not in content  # the name is the template's, not the data's


def test_the_data_migration_creates_the_pages_and_never_overwrites_an_edited_one():
    from importlib import import_module

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    FlatPage.objects.exclude(url="/terms/").delete()
    FlatPage.objects.filter(url="/terms/").update(content="<p>Edited by staff.</p>")
    migration = import_module("shop.migrations.0004_default_pages")
    state = MigrationExecutor(connection).loader.project_state(("shop", "0004_default_pages"))
    with connection.schema_editor() as editor:
        migration.create_default_pages(state.apps, editor)
    pages = dict(FlatPage.objects.values_list("url", "content"))
    assert set(pages) == {"/terms/", "/privacy/", "/returns/"}
    assert pages["/terms/"] == "<p>Edited by staff.</p>"
    assert FlatPage.objects.get(url="/returns/").sites.get().pk == 1


def test_staff_with_the_permission_edit_the_returns_page(client):
    editor = User.objects.create_user("eve", "eve@example.com", "x-pass-123", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_flatpage", "change_flatpage"])
    )
    client.force_login(editor)
    page = FlatPage.objects.get(url="/returns/")
    change = reverse("admin:flatpages_flatpage_change", args=[page.pk])
    assert client.get(change).status_code == 200
    response = client.post(
        change,
        {
            "url": "/returns/",
            "title": "Returns",
            "content": "<p>Return anything within 60 days.</p>",
            "sites": [1],
            "template_name": "",
            "registration_required": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client.logout()
    html = client.get("/pages/returns/").content.decode()
    assert "Return anything within 60 days." in html


def test_staff_without_the_permission_cannot_edit_the_pages(client):
    plain = User.objects.create_user("pat", "pat@example.com", "x-pass-123", is_staff=True)
    client.force_login(plain)
    page = FlatPage.objects.get(url="/terms/")
    response = client.get(reverse("admin:flatpages_flatpage_change", args=[page.pk]))
    assert response.status_code in (302, 403)
    assert FlatPage.objects.get(url="/terms/").content == page.content


def test_an_unknown_page_is_the_shops_404(client):
    response = client.get("/pages/nothing-here/")
    assert response.status_code == 404
