"""The admin login locks a username out from an address after a few wrong passwords."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("boss", "boss@example.com", "right-password-123")


def login(client, password, username="boss"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
    )


def test_twenty_wrong_passwords_then_the_right_one_is_refused(admin_user):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [login(attacker, f"guess-{n}").status_code for n in range(20)]

    response = login(attacker, "right-password-123")

    assert statuses[:4] == [200] * 4  # the login form again, "enter a correct username..."
    assert set(statuses[5:]) == {429}
    assert response.status_code == 429
    assert "_auth_user_id" not in attacker.session
    page = response.content.decode()
    assert "Too many failed logins" in page and "boss" in page and "0:15:00" in page
    assert attacker.get("/admin/").status_code == 302  # still sent to the login page


def test_the_lockout_is_per_address_so_the_owner_elsewhere_still_logs_in(admin_user):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(6):
        login(attacker, f"guess-{n}")

    owner = Client(REMOTE_ADDR="198.51.100.20")
    assert login(owner, "right-password-123").status_code == 302
    assert owner.get("/admin/").status_code == 200


def test_staff_see_the_lockout_in_the_admin_and_lifting_it_lets_the_login_through(admin_user):
    locked = Client(REMOTE_ADDR="203.0.113.7")
    for n in range(6):
        login(locked, f"guess-{n}")
    assert login(locked, "right-password-123").status_code == 429

    staff = Client(REMOTE_ADDR="198.51.100.20")
    staff.force_login(admin_user)
    listing = staff.get("/admin/axes/accessattempt/").content.decode()
    assert "boss" in listing and "203.0.113.7" in listing
    attempt = AccessAttempt.objects.get(username="boss")
    staff.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}
    )  # "delete": the admin's way to lift a lockout

    assert not AccessAttempt.objects.exists()
    assert login(locked, "right-password-123").status_code == 302
