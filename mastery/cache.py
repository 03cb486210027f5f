"""The cache backend: Redis, where an outage means "nothing is cached", never a failed request.

Everything we keep in the cache can be rebuilt or done without: session copies (cached_db sessions
live in the database), portal page fragments, throttling counters. Django's RedisCache raises on a
dead server, and sessions touch the cache on every request, so without this a Redis outage would
stop teachers from scoring. Failures are logged (at most once a minute per process) and answered
as a cache miss; throttling counters fail open while Redis is away.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisCache(RedisCache):
    _last_warning = 0.0

    def _outage(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - ResilientRedisCache._last_warning > 60:
            ResilientRedisCache._last_warning = now
            logger.warning("Cache unavailable (%s: %s); serving without it.", operation, exc)

    def _try(self, operation: str, default, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except OUTAGE as exc:
            self._outage(operation, exc)
            return default

    def get(self, key, default=None, version=None):
        return self._try("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._try("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._try("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=None, version=None):
        # False ("already there") keeps callers from treating the key as theirs.
        return self._try("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=None, version=None):
        return self._try("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=None, version=None):
        return self._try("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=None, version=None):
        return self._try("touch", False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._try("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._try("delete_many", None, super().delete_many, keys, version)

    def incr(self, key, delta=1, version=None):
        return self._try("incr", 0, super().incr, key, delta, version)

    def bump_many(self, keys, version=None) -> None:
        """Add one to each counter, a missing one counting from 0, in one round trip.

        Django's add() then incr() costs three round trips per key (incr asks EXISTS first);
        Redis's INCR creates a missing key by itself, with no expiry, and keeps a plain integer
        that get() reads back as an int. The portal's version numbers are bumped this way twice
        per score (mastery/pagecache.py).
        """

        def run():
            pipeline = self._cache.get_client(None, write=True).pipeline(transaction=False)
            for key in keys:
                pipeline.incr(self.make_and_validate_key(key, version=version))
            pipeline.execute()

        self._try("bump_many", None, run)

    def clear(self):
        return self._try("clear", False, super().clear)
