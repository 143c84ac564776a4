"""Sequences the machine found (or that pin what it must keep finding), replayed step by step.

Each test is the program Hypothesis printed for a failing example, shrunk, kept as written:
the same rules, the same arguments, the invariants checked after every step, convergence at
teardown. They run in a second or two each.
"""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_refund_reply_lost_then_charge_refunded_webhook_is_booked_once(machine):
    state = machine()
    state.first_checkout(card="ok", quantity=1, fault="none", stripe="ok")
    state.books_agree()
    state.support_refund(
        pick=0, amount=700, request=0, stripe="lost_response@refund", restock=False
    )
    state.books_agree()
    state.stripe_sends_webhook(how="next", pick=1)
    state.books_agree()
    state.time_passes(by="3min", webhooks_arrive=False)
    state.books_agree()
    state.outbox_sweep(stripe="ok", second_worker=False)
    state.books_agree()
    state.teardown()


def test_two_refunds_dispatched_at_once_are_both_booked(machine):
    state = machine()
    state.stripe_endpoint(webhooks_get_through=False)
    state.first_checkout(card="ok", quantity=1, fault="none", stripe="ok")
    state.books_agree()
    state.support_refund(pick=0, amount=700, request=0, stripe="timeout@refund", restock=True)
    state.books_agree()
    state.support_refund(pick=0, amount=1, request=1, stripe="timeout@refund", restock=False)
    state.books_agree()
    state.time_passes(by="3min", webhooks_arrive=False)
    state.books_agree()
    state.outbox_sweep(stripe="ok", second_worker=True)
    state.books_agree()
    state.teardown()
