"""Chaos run: the real stack under faults, then proof that every invariant held.

Starts PostgreSQL-backed shop processes on loopback — two gunicorn web servers, two django-q2
clusters, localstripe behind ``bench.fault_proxy`` — drives N concurrent checkouts through
the HTTP front door like customers do (product page, add to cart, checkout form, card
created at "Stripe", pay, poll the pending page, retry the same form when the page fails),
and meanwhile injects faults: dropped, lost, delayed and 500 Stripe responses, gunicorn
workers SIGKILLed mid-request, django-q2 workers SIGKILLed mid-task, a whole cluster killed
and replaced, PostgreSQL restarted (full mode). Then it stops the faults, lets the system
converge by itself (the scheduled reconciler and outbox, nothing run by hand), and checks
I1-I6 from both sides with ``bench.invariants`` and with the shop's own ``audit_payments``.

Prints the orders placed, the faults injected, the time to converge and every violation;
exits 1 on any violation, 2 if the stack could not be started.

    .venv/bin/python -m bench.chaos                 # full: 200 checkouts, PostgreSQL restart
    .venv/bin/python -m bench.chaos --ci            # CI-sized: 40 checkouts, no restart
    .venv/bin/python -m bench.chaos --ci --stripe-semantics off   # localstripe alone

By default Stripe's semantics sit behind the wire faults (``bench.fault_proxy``,
``devtools.stripe_semantics``): answers saved per idempotency key and replayed, 25 requests/s,
and 5% of writes answered 500 by Stripe itself (saved), so an order must move to new keys to
be paid.

This module drives the run and holds its command line; the other jobs are the modules
beside it (``processes``, ``customers``, ``faults``, ``checks``, ``report``).
"""

import argparse
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.chaos import checks
from bench.chaos.customers import Customers
from bench.chaos.faults import PG_VERSION, Faults, stripe_faults
from bench.chaos.processes import ChaosStack
from bench.chaos.report import print_report
from bench.convergence import wait_for_convergence
from bench.report import log


class Chaos:
    def __init__(self, args):
        self.args = args
        self.stack = ChaosStack(
            seed=args.seed,
            max_seconds=args.max_seconds,
            wait_lock=args.wait_lock,
            stripe_semantics=args.stripe_semantics,
        )
        self.faults = Faults(self.stack, args)

    def drive(self) -> Customers:
        """The customers' checkouts, ``--concurrency`` at a time, while the faults are injected."""
        wire = stripe_faults(self.args.stripe_semantics)
        self.faults.set_stripe_faults(wire)
        customers = Customers(
            self.stack.web_bases,
            self.stack.stripe_base,
            self.stack.product,
            deadline=time.monotonic() + self.args.load_seconds,
            seed=self.args.seed,
        )
        done = threading.Event()
        injector = threading.Thread(target=self.faults.inject, args=(done,), daemon=True)
        log(
            f"==> {self.args.orders} checkouts, {self.args.concurrency} at a time, "
            f"Stripe faults {wire}"
        )
        started = time.monotonic()
        injector.start()
        try:
            with ThreadPoolExecutor(self.args.concurrency) as pool:
                list(pool.map(customers.checkout, range(self.args.orders)))
        finally:
            done.set()
            injector.join(timeout=180)
            self.faults.set_stripe_faults({})
        self.faults.count_stripe_faults()
        log(f"==> load done in {time.monotonic() - started:.1f}s: {dict(customers.outcomes)}")
        return customers

    def run(self) -> int:
        try:
            self.stack.start_all()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            log(f"!! could not start the stack: {exc}")
            return 2
        customers = self.drive()
        log(
            f"==> faults stopped; waiting up to {self.args.settle_seconds}s for the shop to "
            "converge by itself"
        )
        converged = wait_for_convergence(self.args.settle_seconds, log)
        verdict = checks.check(self.stack, customers, converged, self.args.settle_seconds)
        print_report(
            self.args,
            customers,
            verdict,
            self.faults.counts,
            self.stack.q_self_restarts(),
            converged,
        )
        return 1 if verdict.violations else 0

    def stop(self) -> None:
        self.stack.stop_all()


def main(argv=None) -> int:
    # prog: argparse would name the package's __main__.py.
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--ci", action="store_true", help="CI-sized: 40 checkouts, no PostgreSQL restart"
    )
    parser.add_argument("--orders", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument(
        "--pg-restart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="restart PostgreSQL once mid-run (full mode only; needs root)",
    )
    parser.add_argument("--fault-interval", type=float)
    parser.add_argument(
        "--load-seconds", type=float, help="stop sending new checkouts after this long"
    )
    parser.add_argument("--settle-seconds", type=float, help="how long the shop has to converge")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--stripe-semantics",
        choices=("on", "off"),
        default="on",
        help="Stripe's idempotency layer, 25 requests/s and its own saved 500s in front of "
        "localstripe (off: localstripe alone)",
    )
    parser.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another chaos run on this machine to finish",
    )
    parser.add_argument(
        "--kill-idle-workers",
        action="store_true",
        help="SIGKILL django-q2 workers idle on their queue, holding its lock, instead of mid-task",
    )
    args = parser.parse_args(argv)
    defaults = (
        {
            "orders": 40,
            "concurrency": 4,
            "fault_interval": 3.0,
            "load_seconds": 120,
            "settle_seconds": 240,
        }
        if args.ci
        else {
            "orders": 200,
            "concurrency": 8,
            "fault_interval": 4.0,
            "load_seconds": 300,
            "settle_seconds": 420,
        }
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.max_seconds = args.load_seconds + args.settle_seconds + 300
    if args.pg_restart and not args.ci and not PG_VERSION:
        parser.error("no /etc/postgresql cluster to restart: use --no-pg-restart")
    chaos = Chaos(args)
    try:
        return chaos.run()
    finally:
        chaos.stop()
