"""The support desk in the Django admin: orders, their timeline and the safe actions.

Support staff read everything and edit nothing here: every change goes through one of the
actions of ``orders.support.actions`` (idempotent, audited, refused when the order's state
does not allow it). The admin only parses the form and calls that one service.

- ``order``: the order list (stuck filter, search) and the order page (timeline, actions).
- ``actions``: the staff action forms and what each button does.
- ``history``: events, outbox messages and unmatched Stripe events, searchable across orders.
- ``shipping``: the shipping zones, their methods and prices, and the VAT rates the owner edits.
"""

from orders.admin import history, order, shipping  # noqa: F401  (registers the model admins)
