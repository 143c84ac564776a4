"""The shop's django-q2 worker: supervised clusters that restart themselves when wedged."""
