"""The object-store plugin: object buckets as conventions over JetStream streams (``OBJ_<bucket>``).

Remote clients use their own object-store APIs (nats-py's ``js.object_store``); the
embedding application uses :meth:`natskern.Broker.object_store`, which goes through
this plugin's in-process API (:mod:`natskern.plugins.objectstore.api`).
"""

from natskern.plugins.objectstore.api import ObjectInfo, ObjectNotFoundError, ObjectStore

__all__ = ["ObjectInfo", "ObjectNotFoundError", "ObjectStore"]
