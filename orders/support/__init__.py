"""Support staff's side of the order core.

- ``actions``: what staff may do to an order (reconcile now, cancel, refund, resend), each
  idempotent per form submission, audited, and refused when unsafe.
- ``selectors``: which orders are stuck, and an order's whole story.
"""
