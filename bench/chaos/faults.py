"""The chaos run's fault injector: Stripe's answers spoiled, workers and clusters killed,
PostgreSQL restarted.

Stripe's faults are probabilities set at ``bench.fault_proxy``; the rest follow a plan, one
fault every ``--fault-interval`` seconds while the customers shop. ``counts`` is what was done.
"""

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from bench import stack
from bench.report import log

PG_VERSION = (
    next(iter(sorted(p.name for p in Path("/etc/postgresql").glob("*"))), "")
    if Path("/etc/postgresql").exists()
    else ""
)
STRIPE_FAULTS = {
    "drop": 0.04,
    "lost": 0.02,
    "delay": 0.03,
    "error500": 0.03,
    "error500_after": 0.02,
}
# With Stripe's semantics on: the fraction of writes Stripe itself answers 500, half before and
# half after the write, saved under the key and replayed to every retry with it.
STRIPE_OWN_500 = 0.05
# What the proxy's Stripe layer counted, as the report names it.
STRIPE_STATS = {
    "Stripe 500 before the write (saved)": "Stripe's own 500 before the write (saved)",
    "Stripe 500 after the write (saved)": "Stripe's own 500 after the write (saved)",
    "replayed 500": "Stripe replayed a saved 500",
    "429 rate limited": "Stripe 429 rate limited (25/s)",
    "409 key in use": "Stripe 409 key in use",
    "400 idempotency_error (key reused, other parameters)": "Stripe 400 idempotency_error",
}


def stripe_faults(stripe_semantics: str) -> dict:
    if stripe_semantics == "on":
        return {**STRIPE_FAULTS, "stripe_500": STRIPE_OWN_500}
    return dict(STRIPE_FAULTS)


class Faults:
    def __init__(self, chaos_stack, args):
        self.stack = chaos_stack
        self.args = args
        self.counts: Counter = Counter()
        self.random = random.Random(args.seed)

    # --- Stripe, at the proxy --------------------------------------------------------------

    def set_stripe_faults(self, probabilities: dict) -> None:
        requests.post(
            f"{self.stack.proxy_base}/_proxy/faults", json=probabilities, timeout=5
        ).raise_for_status()

    def count_stripe_faults(self) -> None:
        """Add what the proxy did to Stripe's answers to ``counts``."""
        answer = requests.get(f"{self.stack.proxy_base}/_proxy/stats", timeout=5).json()
        stats = answer["faults"]
        for mode in ("drop", "lost", "delay", "error500", "error500_after"):
            if stats.get(mode):
                self.counts[f"Stripe {mode}"] = stats[mode]
        self.counts["Stripe requests through the proxy"] = stats.get("requests", 0)
        stripe = answer.get("stripe") or {}  # None when the semantics are off
        replayed = sum(v for k, v in stripe.items() if k.startswith("replayed"))
        if replayed:
            self.counts["Stripe replayed a saved answer (any status)"] = replayed
        for name, label in STRIPE_STATS.items():
            if stripe.get(name):
                self.counts[label] = stripe[name]

    # --- processes ---------------------------------------------------------------------------

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
        port = self.stack.ports[name]
        master = self.stack.procs[name].pid
        # A sync worker holding an accepted connection on the server's port is mid-request.
        victim, busy = self.pick_busy(
            lambda: stack.children(master), lambda pid, _: port in stack.established_ports(pid)
        )
        if victim:
            self.kill(victim)
            what = "mid-request" if busy else "while idle"
            self.counts[f"web worker SIGKILLed {what}"] += 1
            log(f"   fault: SIGKILL gunicorn worker {victim} of {name} {what}")

    def kill_q_worker(self) -> None:
        name = self.random.choice(["q1", "q2"])

        def mid_task(pid, _):
            return stack.q_role(pid) == "busy"

        # An idle worker blocked reading the task queue's pipe holds the queue's lock: killed
        # there it would wedge plain django-q2's cluster for good (see README); run_worker's
        # cluster replaces itself. --kill-idle-workers kills those.
        def waiting_on_queue(pid, _):
            return stack.q_role(pid) == "idle" and stack.wchan(pid) in (
                "anon_pipe_read",
                "pipe_read",
            )

        wanted = waiting_on_queue if self.args.kill_idle_workers else mid_task
        victim, busy = self.pick_busy(lambda: self.stack.q_workers(name), wanted, seconds=10)
        if not busy:
            self.counts["django-q2 worker kill skipped (none in the wanted state)"] += 1
            return
        if victim:
            self.kill(victim)
            what = (
                "while idle (holding its queue's lock)"
                if self.args.kill_idle_workers
                else "mid-task"
            )
            self.counts[f"django-q2 worker SIGKILLed {what}"] += 1
            log(f"   fault: SIGKILL django-q2 worker {victim} of {name} {what}")

    def replace_cluster(self) -> None:
        name = self.random.choice(["q1", "q2"])
        host = self.stack.procs[name].pid
        for pid in [host, *stack.descendants(host)]:  # all at once, like a lost machine
            self.kill(pid)
        self.stack.stop(name, sig=signal.SIGKILL)
        self.stack.start_cluster(name)
        self.counts["django-q2 cluster SIGKILLed and replaced"] += 1
        log(f"   fault: SIGKILL the whole cluster {name}, started a new one")

    def restart_postgres(self) -> None:
        log(f"   fault: restarting PostgreSQL (pg_ctlcluster {PG_VERSION} main restart)")
        started = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "restart"],
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )
        self.stack.pg_restarted = True
        self.counts["PostgreSQL restarted"] += 1
        log(f"   PostgreSQL back after {time.monotonic() - started:.1f}s")

    @staticmethod
    def kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # --- the plan ---------------------------------------------------------------------------

    def inject(self, done: threading.Event) -> None:
        """One fault of the plan every ``--fault-interval`` seconds until ``done`` (three
        rounds at most).
        """
        plan = ["kill_web_worker", "kill_q_worker", "kill_web_worker", "kill_q_worker"]
        if not self.args.ci:
            plan += ["replace_cluster", "kill_web_worker"]
            if self.args.pg_restart:
                plan.insert(3, "restart_postgres")
        step = 0
        while not done.wait(self.args.fault_interval):
            fault = plan[step % len(plan)]
            if (
                fault != "restart_postgres" or not self.stack.pg_restarted
            ):  # once a run: others share it
                getattr(self, fault)()
            step += 1
            if step >= len(plan) * 3:
                break
