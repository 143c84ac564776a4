"""Converge one pending order as far as Stripe allows now: drive it, or give up on it.

The reconciler's sweep (``payments.reconcile``), support's "reconcile now" and the
``reconcile_order`` task all converge an order through ``converge_order``.
"""

import stripe_gateway
from orders import clock, logcontext, policy
from orders.models import Order
from orders.payment import backoff, driver, unwind
from stripe_gateway import GatewayError, PaymentIntentSnapshot, budget

GIVE_UP_REASON = "The payment did not complete in time; the order was cancelled and nothing kept."


@logcontext.order_scope
def converge_order(
    order_id: int,
    *,
    lease_token: str | None = None,
    leased_order: Order | None = None,
    known_payment_intent: PaymentIntentSnapshot | None = None,
) -> str:
    """Converge one order; return what happened to it (its final status or "still_pending").

    ``leased_order``: the order as read under ``lease_token`` by the caller (not read again);
    ``known_payment_intent``: its PaymentIntent as just listed in bulk (not read again).
    """
    # Staff's "reconcile now" names its own class; the reconciler's threads start with none.
    with budget.work_class(budget.RECONCILE, unless_set=True):
        return _converge(
            order_id,
            lease_token=lease_token,
            leased_order=leased_order,
            known_payment_intent=known_payment_intent,
        )


def _converge(
    order_id: int,
    *,
    lease_token: str | None,
    leased_order: Order | None,
    known_payment_intent: PaymentIntentSnapshot | None,
) -> str:
    order = leased_order or Order.objects.get(pk=order_id)
    logcontext.note_order(order)
    if not order.is_pending:
        return "already_final"
    if policy.past_give_up(order):
        order = unwind.unwind_order(
            order_id, cause="reconciler:give_up", reason=GIVE_UP_REASON, lease_token=lease_token
        )
    else:
        # The order was read under the caller's lease: drive it without claiming it again.
        order = driver.drive_payment(
            order_id,
            cause="reconciler",
            lease_token=lease_token,
            leased_order=order,
            known_payment_intent=known_payment_intent,
        )
        if order.is_pending and _not_backed_off(order):
            # Stripe answered but the payment is still in flight (processing, 3-D Secure):
            # look again later rather than at once.
            backoff.note_attempt_failed(
                order_id, f"payment still {order.status}", cause="reconciler"
            )
    return order.status if not order.is_pending else "still_pending"


def _not_backed_off(order: Order) -> bool:
    """Whether the attempt left no backoff behind (so the next sweep would pick it at once)."""
    return order.next_attempt_at is None or order.next_attempt_at <= clock.now()


def describe_plan(order: Order) -> str:
    """Say what converging an order would do, without doing it (a read at Stripe at most)."""
    if policy.past_give_up(order):
        action = "give up: cancel its PaymentIntent and unwind (or mark paid if it succeeded)"
    elif order.payment_intent_id is None:
        action = "create its PaymentIntent (same idempotency key), record it, confirm it"
    else:
        action = f"read {order.payment_intent_id} from Stripe and apply its status"
        try:
            pi = stripe_gateway.retrieve_payment_intent(order.payment_intent_id)
            action += f" (Stripe says: {pi.status})"
        except GatewayError as exc:
            action += f" (Stripe unreachable now: {exc})"
    age = clock.now() - order.created_at
    return f"{order.reference} [{order.status}, {int(age.total_seconds())}s old]: would {action}"
