"""Driving an order's payment to its end.

- ``driver``: create the one PaymentIntent, record it on the row, confirm it (step 2).
- ``apply``: apply what Stripe says about a PaymentIntent under the row lock (step 3).
- ``unwind``: cancel an unpaid order: close its PaymentIntent, release stock, tell the customer.
- ``converge``: push one pending order as far as it can go now (drive it, or give up on it).
- ``backoff``: record a failed attempt and when to try again.
"""
