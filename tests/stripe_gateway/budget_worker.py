"""Another process sharing the test's Stripe request budget (started by the budget's tests).

``--config`` (JSON): the budget's settings, plus what to do: ``calls`` (a list of
``[work_class, payment_intent_id]`` made in order), or ``threads`` x ``work`` retrieving
``payment_intent`` from ``start_at`` (wall clock) for ``seconds``. Prints one JSON line:
the requests it sent (wall clock, work class), the calls refused with ``TryLater`` and the
errors.
"""

import argparse
import json
import threading
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    plan = json.loads(parser.parse_args().config)
    django.setup()

    import stripe
    from django.conf import settings
    from django.db import connection

    import stripe_gateway
    from stripe_gateway import budget

    settings.STRIPE_BUDGET_BACKEND = plan["backend"]
    settings.STRIPE_BUDGET_NAME = plan["name"]
    settings.STRIPE_RATE_LIMIT_PER_SECOND = plan["rate"]
    settings.STRIPE_BUDGET_BURST = plan["burst"]
    settings.STRIPE_BACKGROUND_SHARE = plan["background_share"]
    settings.STRIPE_BUDGET_CHECKOUT_WAIT_SECONDS = plan["checkout_wait"]
    settings.STRIPE_BUDGET_BACKGROUND_WAIT_SECONDS = plan["background_wait"]
    settings.STRIPE_BUDGET_COOL_DOWN_SECONDS = plan["cool_down"]
    settings.STRIPE_BUDGET_REDIS_URL = plan["redis_url"]

    sent, refused, errors = [], [], []
    lock = threading.Lock()

    class Noting(stripe.RequestsClient):
        def request(self, method, url, headers, post_data=None):
            with lock:
                sent.append([time.time(), budget.current_class()])
            return super().request(method, url, headers, post_data)

    import stripe_gateway.client

    stripe_gateway.client.build_http_client = lambda: Noting(timeout=5)

    def call(work: str, payment_intent_id: str) -> None:
        with budget.work_class(work):
            try:
                stripe_gateway.retrieve_payment_intent(payment_intent_id)
            except stripe_gateway.TryLater:
                with lock:
                    refused.append(work)
            except stripe_gateway.GatewayError as exc:
                with lock:
                    errors.append(str(exc))

    for work, payment_intent_id in plan.get("calls", []):
        call(work, payment_intent_id)

    if plan.get("threads"):
        time.sleep(max(0.0, plan["start_at"] - time.time()))
        stop = plan["start_at"] + plan["seconds"]

        def hammer() -> None:
            try:
                while time.time() < stop:
                    call(plan["work"], plan["payment_intent"])
            finally:
                connection.close()

        threads = [threading.Thread(target=hammer) for _ in range(plan["threads"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    print(json.dumps({"sent": sent, "refused": refused, "errors": errors}))


if __name__ == "__main__":
    main()
