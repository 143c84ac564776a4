"""The outbox: side effects (emails, refunds, PaymentIntent cancellations) written as rows in
the same transaction as the state change that justifies them, performed after the commit.

- ``store``: write a message (idempotent per order, kind and discriminator), read the queue.
- ``dispatch``: claim a due message, perform it, book the result, retry with backoff.
- ``effects``: what performing each kind of message does (email, Stripe refund, cancel).
"""
