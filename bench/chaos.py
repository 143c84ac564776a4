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
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench import stack
from bench.forms import hidden_fields
from bench.stack import PY, Stack

# BENCH_CHAOS_DB: another database for a second checkout of the repo running its own chaos runs.
DB_NAME = os.environ.get("BENCH_CHAOS_DB", "shop_chaos")
TAG = "convergent-shop-chaos"
CARDS = [("4242424242424242", 0.85), ("4000000000000341", 0.15)]  # ok / declined at charge
PG_VERSION = next(iter(sorted(p.name for p in Path("/etc/postgresql").glob("*"))), "") if Path("/etc/postgresql").exists() else ""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Customers:
    """Virtual customers going through the front door; the load balancer is round-robin."""

    def __init__(self, web_bases: list[str], stripe_base: str, product, *, deadline: float, seed: int):
        self.web_bases = web_bases
        self.stripe_base = stripe_base
        self.product = product
        self.deadline = deadline
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.latencies: list[float] = []
        self.cards: dict[str, str] = {}
        self.rr = 0

    def base(self) -> str:
        with self.lock:
            self.rr += 1
            return self.web_bases[self.rr % len(self.web_bases)]

    def note(self, what: str) -> None:
        with self.lock:
            self.outcomes[what] += 1

    def request(self, http: requests.Session, method: str, path: str, *, expect=(200, 302), **kwargs):
        """One step, retried on a new server when the page fails (500, reset, timeout)."""
        for attempt in range(8):
            if time.monotonic() > self.deadline:
                raise TimeoutError("run deadline")
            try:
                response = http.request(method, self.base() + path, timeout=30, allow_redirects=False, **kwargs)
                if response.status_code in expect:
                    return response
                self.note(f"http_{response.status_code}")
            except requests.RequestException:
                self.note("connection_error")
            time.sleep(0.3 * (attempt + 1))
        raise RuntimeError(f"{method} {path} kept failing")

    def checkout(self, index: int) -> str:
        with self.lock:
            card = self.random.choices([c for c, _ in CARDS], [w for _, w in CARDS])[0]
            self.cards[f"customer{index}@example.com"] = card
        with requests.Session() as http:
            try:
                self.request(http, "GET", f"/products/{self.product.slug}/")
                csrf = http.cookies.get("csrftoken", "")
                self.request(http, "POST", "/cart/add/", data={
                    "product_id": self.product.pk, "quantity": 1 + index % 2, "csrfmiddlewaretoken": csrf})
                page = self.request(http, "GET", "/checkout/", expect=(200,))
                form = hidden_fields(page.text)
                if not form.get("checkout_token"):
                    raise ValueError("no checkout token on the checkout page")
                pm = requests.post(f"{self.stripe_base}/v1/payment_methods", timeout=30, data={
                    "key": "pk_test_chaos", "type": "card", "card[number]": card, "card[exp_month]": "12",
                    "card[exp_year]": "2034", "card[cvc]": "123"}).json()["id"]
                form.update({"email": f"customer{index}@example.com", "payment_method_id": pm,
                             "csrfmiddlewaretoken": csrf})
                started = time.monotonic()
                # The same form again after a failure: the shop must drive the same order.
                placed = self.request(http, "POST", "/checkout/", expect=(302,), data=form)
                location = placed.headers.get("Location", "")
                with self.lock:
                    self.latencies.append(time.monotonic() - started)
                if not location.startswith("/orders/"):
                    self.note("checkout_refused")
                    return "refused"
                for _ in range(20):  # a patient customer watches the pending page for ~10 s
                    status = self.request(http, "GET", location + "status/", expect=(200, 286))
                    if status.status_code == 286:
                        break
                    time.sleep(0.5)
                self.note("placed")
                return "placed"
            except (RuntimeError, TimeoutError, AttributeError, KeyError, ValueError) as exc:
                self.note(f"gave_up:{type(exc).__name__}")
                return "gave_up"


class Chaos:
    def __init__(self, args):
        self.args = args
        self.stack = Stack("chaos", wait_lock=args.wait_lock)
        self.faults: Counter = Counter()
        self.random = random.Random(args.seed)
        self.ports = {name: stack.free_port() for name in ("stripe", "proxy", "web1", "web2")}
        self.stripe_base = f"http://127.0.0.1:{self.ports['stripe']}"
        self.proxy_base = f"http://127.0.0.1:{self.ports['proxy']}"
        self.web_bases = [f"http://127.0.0.1:{self.ports[w]}" for w in ("web1", "web2")]
        self.mail_dir = self.stack.dir / "mail"
        self.env = stack.base_env(
            DATABASE_URL=f"{stack.PG_ADMIN_URL}/{DB_NAME}",
            STRIPE_API_BASE=self.proxy_base,
            SITE_URL=self.web_bases[0],
            STRIPE_TIMEOUT_SECONDS=3,
            STRIPE_METADATA_TAG=TAG,
            STRIPE_WEBHOOK_SECRET="whsec_chaos_run",
            PAYMENTS_GRACE_SECONDS=3,
            PAYMENTS_RETRY_BASE_SECONDS=1,
            PAYMENTS_RETRY_MAX_MINUTES=1,
            PAYMENTS_LEASE_SECONDS=10,
            PAYMENTS_OUTBOX_LEASE_SECONDS=20,
            PAYMENTS_GIVE_UP_MINUTES=30,
            Q_WORKERS=2,
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=self.mail_dir,
        )
        self.q_log_offsets: dict[str, int] = {}
        self.pg_restarted = False

    # --- the stack ------------------------------------------------------------------------

    def reset_state(self) -> tuple:
        """Start each run from empty order, queue and session tables; one product with stock."""
        from django.db import connection
        from django.utils import timezone
        from django_q.models import Schedule

        from shop.models import Product

        tables = ["orders_orderevent", "orders_outboxmessage", "orders_orderline", "orders_order",
                  "orders_unmatchedpaymentevent", "payments_reconcilerrun", "django_q_task", "django_q_ormq",
                  "django_session", "djstripe_event", "djstripe_webhookeventtrigger"]
        existing = set(connection.introspection.table_names())
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE " + ", ".join(t for t in tables if t in existing) + " CASCADE")
        Schedule.objects.update(next_run=timezone.now())
        product, _ = Product.objects.update_or_create(
            slug="chaos-mug", defaults={"name": "Chaos mug", "price": 1500, "currency": "eur",
                                        "stock": 1_000_000, "is_active": True})
        for path in self.mail_dir.glob("*"):
            path.unlink()
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        return product, {product.pk: product.stock}

    def start_cluster(self, name: str) -> None:
        """A worker host: `run_worker`, which runs (and when wedged, replaces) a cluster."""
        log = self.stack.dir / f"{name}.log"
        self.q_log_offsets.setdefault(name, log.stat().st_size if log.exists() else 0)
        self.stack.start(name, [PY, "manage.py", "run_worker"], self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(self.q_workers(name)) >= int(self.env["Q_WORKERS"]):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start its workers; see {log}")

    def q_workers(self, name: str) -> list[int]:
        """The workers of the cluster that host ``name`` runs now (by their process titles)."""
        return [pid for pid in stack.q_members(self.stack.procs[name].pid) if stack.q_role(pid) in ("idle", "busy")]

    def q_self_restarts(self) -> int:
        """How often a cluster stopped itself to be replaced during this run (from the logs)."""
        count = 0
        for name, offset in self.q_log_offsets.items():
            with (self.stack.dir / f"{name}.log").open("rb") as log:
                log.seek(offset)
                count += log.read().count(b"cluster queues may be wedged")
        return count

    def start(self) -> None:
        log(f"==> database {DB_NAME}")
        stack.ensure_database(DB_NAME, self.env, log=log)
        stack.setup_django(self.env)
        self.product, self.stock_expected = self.reset_state()
        log("==> localstripe (memory) behind the fault proxy; 2 gunicorn web servers; 2 django-q2 clusters (run_worker)")
        self.stack.start("localstripe", [PY, "-m", "devtools.localstripe_server", "--port", str(self.ports["stripe"]),
                                         "--memory"], self.env, port=self.ports["stripe"])
        self.stack.start("fault_proxy", [PY, "-m", "bench.fault_proxy", "--port", str(self.ports["proxy"]),
                                         "--upstream", self.stripe_base, "--delay-seconds", "4",
                                         "--seed", str(self.args.seed), "--max-seconds", str(self.args.max_seconds)],
                         self.env, port=self.ports["proxy"])
        subprocess.run([PY, "manage.py", "connect_local_stripe", "--site-url", self.web_bases[0]],
                       cwd=stack.ROOT, env={**self.env, "STRIPE_API_BASE": self.stripe_base}, check=True,
                       stdout=subprocess.DEVNULL)
        for name in ("web1", "web2"):
            self.stack.start(name, stack.gunicorn_argv(self.ports[name], workers=2), self.env, port=self.ports[name])
        for name in ("q1", "q2"):
            self.start_cluster(name)

    # --- faults ---------------------------------------------------------------------------

    def set_stripe_faults(self, probabilities: dict) -> None:
        requests.post(f"{self.proxy_base}/_proxy/faults", json=probabilities, timeout=5).raise_for_status()

    def pick_busy(self, candidates, is_busy, seconds: float = 5.0):
        """Wait (briefly) for a candidate that is busy right now; return (pid, busy)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pids = candidates()
            ticks = {pid: stack.cpu_ticks(pid) for pid in pids}
            time.sleep(0.02)
            busy = [pid for pid in pids if is_busy(pid, ticks[pid])]
            if busy:
                return self.random.choice(busy), True
        pids = candidates()
        return (self.random.choice(pids), False) if pids else (None, False)

    def kill_web_worker(self) -> None:
        name = self.random.choice(["web1", "web2"])
        port = self.ports[name]
        master = self.stack.procs[name].pid
        # A sync worker holding an accepted connection on the server's port is mid-request.
        victim, busy = self.pick_busy(lambda: stack.children(master),
                                      lambda pid, _: port in stack.established_ports(pid))
        if victim:
            self.kill(victim)
            what = "mid-request" if busy else "while idle"
            self.faults[f"web worker SIGKILLed {what}"] += 1
            log(f"   fault: SIGKILL gunicorn worker {victim} of {name} {what}")

    def kill_q_worker(self) -> None:
        name = self.random.choice(["q1", "q2"])

        def mid_task(pid, _):
            return stack.q_role(pid) == "busy"

        # An idle worker blocked reading the task queue's pipe holds the queue's lock: killed
        # there it would wedge plain django-q2's cluster for good (see README); run_worker's
        # cluster replaces itself. --kill-idle-workers kills those.
        def waiting_on_queue(pid, _):
            return stack.q_role(pid) == "idle" and stack.wchan(pid) in ("anon_pipe_read", "pipe_read")

        wanted = waiting_on_queue if self.args.kill_idle_workers else mid_task
        victim, busy = self.pick_busy(lambda: self.q_workers(name), wanted, seconds=10)
        if not busy:
            self.faults["django-q2 worker kill skipped (none in the wanted state)"] += 1
            return
        if victim:
            self.kill(victim)
            what = "while idle (holding its queue's lock)" if self.args.kill_idle_workers else "mid-task"
            self.faults[f"django-q2 worker SIGKILLed {what}"] += 1
            log(f"   fault: SIGKILL django-q2 worker {victim} of {name} {what}")

    def replace_cluster(self) -> None:
        name = self.random.choice(["q1", "q2"])
        host = self.stack.procs[name].pid
        for pid in [host, *stack.descendants(host)]:  # all at once, like a lost machine
            self.kill(pid)
        self.stack.stop(name, sig=signal.SIGKILL)
        self.start_cluster(name)
        self.faults["django-q2 cluster SIGKILLed and replaced"] += 1
        log(f"   fault: SIGKILL the whole cluster {name}, started a new one")

    def restart_postgres(self) -> None:
        log(f"   fault: restarting PostgreSQL (pg_ctlcluster {PG_VERSION} main restart)")
        started = time.monotonic()
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "restart"],
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        self.pg_restarted = True
        self.faults["PostgreSQL restarted"] += 1
        log(f"   PostgreSQL back after {time.monotonic() - started:.1f}s")

    @staticmethod
    def kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def inject(self, done: threading.Event) -> None:
        plan = ["kill_web_worker", "kill_q_worker", "kill_web_worker", "kill_q_worker"]
        if not self.args.ci:
            plan += ["replace_cluster", "kill_web_worker"]
            if self.args.pg_restart:
                plan.insert(3, "restart_postgres")
        step = 0
        while not done.wait(self.args.fault_interval):
            fault = plan[step % len(plan)]
            if fault != "restart_postgres" or not self.pg_restarted:  # once a run: others share it
                getattr(self, fault)()
            step += 1
            if step >= len(plan) * 3:
                break

    # --- the run --------------------------------------------------------------------------

    def drive(self) -> Customers:
        stripe_faults = {"drop": 0.04, "lost": 0.02, "delay": 0.03, "error500": 0.03, "error500_after": 0.02}
        self.set_stripe_faults(stripe_faults)
        customers = Customers(self.web_bases, self.stripe_base, self.product,
                              deadline=time.monotonic() + self.args.load_seconds, seed=self.args.seed)
        done = threading.Event()
        injector = threading.Thread(target=self.inject, args=(done,), daemon=True)
        log(f"==> {self.args.orders} checkouts, {self.args.concurrency} at a time, Stripe faults {stripe_faults}")
        started = time.monotonic()
        injector.start()
        try:
            with ThreadPoolExecutor(self.args.concurrency) as pool:
                list(pool.map(customers.checkout, range(self.args.orders)))
        finally:
            done.set()
            injector.join(timeout=180)
            self.set_stripe_faults({})
        stats = requests.get(f"{self.proxy_base}/_proxy/stats", timeout=5).json()["faults"]
        for mode in ("drop", "lost", "delay", "error500", "error500_after"):
            if stats.get(mode):
                self.faults[f"Stripe {mode}"] = stats[mode]
        self.faults["Stripe requests through the proxy"] = stats.get("requests", 0)
        log(f"==> load done in {time.monotonic() - started:.1f}s: {dict(customers.outcomes)}")
        return customers

    def pending_counts(self) -> tuple[int, int]:
        from django.db import DatabaseError, close_old_connections, connection

        from orders.models import PENDING_STATUSES, Order, OutboxMessage

        try:
            close_old_connections()
            return (Order.objects.filter(status__in=PENDING_STATUSES).count(),
                    OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING).count())
        except DatabaseError:
            connection.close()
            return (-1, -1)

    def settle(self) -> float | None:
        log(f"==> faults stopped; waiting up to {self.args.settle_seconds}s for the shop to converge by itself")
        started = time.monotonic()
        last = None
        while time.monotonic() - started < self.args.settle_seconds:
            counts = self.pending_counts()
            if counts != last:
                log(f"   pending orders: {counts[0]}, pending outbox messages: {counts[1]}")
                last = counts
            if counts == (0, 0):
                return time.monotonic() - started
            time.sleep(1)
        return None

    def false_failures(self, customers: Customers) -> list[str]:
        """A good card must never end in "payment failed": an unknown outcome is not a decline."""
        from orders.models import Order, OrderStatus

        self.unpaid_reasons = Counter()
        out = []
        for order in Order.objects.exclude(status=OrderStatus.PAID):
            self.unpaid_reasons[f"{order.status}: {order.status_reason[:70]}"] += 1
            if customers.cards.get(order.email) == CARDS[0][0]:
                out.append(f"false failure: {order.reference} paid with a good card is {order.status}: "
                           f"{order.status_reason}")
        return out

    def audit(self) -> list[str]:
        env = {**self.env, "STRIPE_API_BASE": self.stripe_base}
        result = subprocess.run([PY, "manage.py", "audit_payments", "--json"], cwd=stack.ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            return [f"audit_payments failed: {result.stderr.strip()[-500:]}"]
        self.audit_warnings = Counter(f["invariant"] for f in report["findings"] if f["severity"] != "broken")
        return [f"audit {f['invariant']} {f['order']} {f['payment_intent']}: {f['message']}"
                for f in report["findings"] if f["severity"] == "broken" and not f["fixed"]]

    def run(self) -> int:
        try:
            self.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            log(f"!! could not start the stack: {exc}")
            return 2
        customers = self.drive()
        converged = self.settle()
        from bench.invariants import check_all

        from django.db import connection

        connection.close()
        findings = check_all(stripe_base=self.stripe_base, tag=TAG, mail_dir=self.mail_dir,
                             stock_expected=self.stock_expected)
        violations = findings.violations + self.false_failures(customers) + self.audit()
        if converged is None:
            violations.insert(0, f"I4: not converged within {self.args.settle_seconds}s")
        self.report(customers, findings, converged, violations)
        return 1 if violations else 0

    def report(self, customers, findings, converged, violations) -> None:
        lat = sorted(customers.latencies)
        orders = sum(findings.counts[s] for s in ("payment_starting", "requires_action", "paid", "payment_failed",
                                                  "canceled", "refunded"))
        print("\n==================== chaos run ====================")
        print(f"checkouts attempted : {self.args.orders} ({self.args.concurrency} concurrent customers)")
        print(f"customer outcomes   : {dict(sorted(customers.outcomes.items()))}")
        print(f"orders placed       : {orders}  " + ", ".join(
            f"{s}={findings.counts[s]}" for s in ("paid", "payment_failed", "canceled", "refunded",
                                                 "payment_starting", "requires_action") if findings.counts[s]))
        if lat:
            print(f"checkout POST       : p50 {lat[len(lat) // 2]:.2f}s, p99 {lat[int(len(lat) * 0.99)]:.2f}s, "
                  f"max {lat[-1]:.2f}s (retries included)")
        if getattr(self, "unpaid_reasons", None):
            print("orders not paid     :")
        for reason, count in sorted(getattr(self, "unpaid_reasons", {}).items()):
            print(f"   {count:5d}  {reason}")
        print(f"payment intents     : {findings.counts['payment_intents']} at Stripe " + ", ".join(
            f"{k[3:]}={v}" for k, v in sorted(findings.counts.items()) if k.startswith("pi_")))
        print(f"confirmation emails : {findings.counts['confirmation_emails']} distinct"
              + (f" (+{findings.counts['confirmation_copies_same_message_id']} resent after a crash with the "
                 "same Message-ID)" if findings.counts["confirmation_copies_same_message_id"] else ""))
        print("faults injected     :")
        for name, count in sorted(self.faults.items()):
            print(f"   {count:5d}  {name}")
        restarts = self.q_self_restarts()
        if restarts:
            print(f"cluster restarts    : {restarts} (stopped itself: a killed process may have held a queue lock)")
        print(f"time to converge    : {'%.1fs' % converged if converged is not None else 'DID NOT CONVERGE'}"
              " (after the faults stopped)")
        if getattr(self, "audit_warnings", None):
            print(f"audit warnings      : {dict(self.audit_warnings)} (not violations)")
        print(f"violations          : {len(violations)}")
        for line in violations:
            print(f"   VIOLATION {line}")
        print("===================================================")

    def stop(self) -> None:
        self.stack.stop_all()
        if self.pg_restarted:
            for _ in range(60):  # leave PostgreSQL up for everyone else
                if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
                    break
                time.sleep(1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="CI-sized: 40 checkouts, no PostgreSQL restart")
    parser.add_argument("--orders", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--pg-restart", action=argparse.BooleanOptionalAction, default=True,
                        help="restart PostgreSQL once mid-run (full mode only; needs root)")
    parser.add_argument("--fault-interval", type=float)
    parser.add_argument("--load-seconds", type=float, help="stop sending new checkouts after this long")
    parser.add_argument("--settle-seconds", type=float, help="how long the shop has to converge")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wait-lock", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long for another chaos run on this machine to finish")
    parser.add_argument("--kill-idle-workers", action="store_true",
                        help="SIGKILL django-q2 workers idle on their queue, holding its lock, instead of mid-task")
    args = parser.parse_args(argv)
    defaults = ({"orders": 40, "concurrency": 4, "fault_interval": 3.0, "load_seconds": 120, "settle_seconds": 240}
                if args.ci else
                {"orders": 200, "concurrency": 8, "fault_interval": 4.0, "load_seconds": 300, "settle_seconds": 420})
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


if __name__ == "__main__":
    sys.exit(main())
