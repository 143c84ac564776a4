"""The chaos run, one job per module; ``python -m bench.chaos`` runs it (see ``run.py``).

``run`` drives the run and holds its command line, ``processes`` its stack, ``customers``
the virtual customers, ``faults`` the fault injector, ``checks`` the verdict once converged,
``report`` the printed report.
"""
