"""Sweep-like background load for the budget benchmark: one process, ``--threads`` threads,
each reading PaymentIntents through the shop's gateway as ``reconcile`` work for
``--seconds``, the way the reconciler reads one stale order after another.

A read refused (a 429 from Stripe, or no token from the budget) moves on to the next order
after ``--pause-ms`` (the reconciler's backoff write and its next claim), as the reconciler
does. Prints one JSON line: reads done, refused by Stripe (429), refused by the budget.

Run by ``bench.benchmarks.budget`` with the run's environment (``STRIPE_API_BASE``, the
database, ``STRIPE_BUDGET_BACKEND``).
"""

import argparse
import json
import threading
import time
from collections import Counter

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pause-ms", type=float, default=50.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="wall clock (time.time())")
    args = parser.parse_args()
    django.setup()

    from django.db import connection

    import stripe_gateway
    from stripe_gateway import budget

    counts: Counter = Counter()
    lock = threading.Lock()
    time.sleep(max(0.0, args.start_at - time.time()))
    stop = time.monotonic() + args.seconds

    def sweep(worker: int) -> None:
        order = worker * 1_000_000
        try:
            with budget.work_class(budget.RECONCILE):
                while time.monotonic() < stop:
                    order += 1
                    try:
                        stripe_gateway.retrieve_payment_intent(f"pi_fake_{order}x1500xeur")
                        outcome = "read"
                    except stripe_gateway.TryLater as exc:
                        outcome = "429" if "RateLimitError" in str(exc) else "no token"
                    except stripe_gateway.GatewayError:
                        outcome = "error"
                    with lock:
                        counts[outcome] += 1
                    if outcome != "read":
                        time.sleep(args.pause_ms / 1000)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(dict(counts)))


if __name__ == "__main__":
    main()
