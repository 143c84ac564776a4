"""The catalog: products, their stock and the session cart. Below the order core, which
reserves and releases its stock; it imports nothing of the other apps."""
