"""Database sessions, saved in one round trip instead of three.

Django's ``db`` backend wraps every save in ``transaction.atomic()``: BEGIN, UPDATE,
COMMIT. For an update of an existing session the UPDATE is one statement, atomic on its
own, so the transaction only adds two round trips, to every request that changes the
session (each cart change, each checkout). Creating a session still goes through Django's
own path, whose transaction turns a key collision into ``CreateError``, and so does a save
inside someone else's transaction (there Django's savepoint keeps a failed save from
spoiling it).
"""

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import DatabaseError, InterfaceError, OperationalError, router, transaction


class SessionStore(DatabaseSessionStore):
    def save(self, must_create=False):
        if must_create or self.session_key is None:
            return super().save(must_create=must_create)
        obj = self.create_model_instance(self._get_session())
        using = router.db_for_write(self.model, instance=obj)
        if transaction.get_connection(using).in_atomic_block:
            return super().save(must_create=must_create)
        try:
            obj.save(force_update=True, using=using)
        except (OperationalError, InterfaceError):
            # The database is unreachable: not a session deleted meanwhile. Let it surface as
            # the shop's error page, which tells a paying customer not to pay again (Django
            # would answer a bare "Bad Request" to an UpdateError).
            raise
        except DatabaseError as exc:
            # A session deleted meanwhile updates no row: Django raises DatabaseError.
            raise UpdateError from exc
