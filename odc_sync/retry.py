"""When to try an undelivered outbox row again: capped exponential backoff, with full jitter if asked.

After the failed attempt number ``attempts + 1`` the row waits

* ``min(max_s, base_s * 2**attempts)`` seconds (``full_jitter=False``), or
* a uniform random time in ``[0, min(max_s, base_s * 2**attempts)]``
  (``full_jitter=True``: many deliverers retrying one destination spread out),

and never less than the destination's own ``Retry-After`` (capped at ``max_s``) when it sent one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_DOUBLINGS = 62
"""Past this many doublings every delay is at its cap anyway; stops the float power from overflowing."""


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff.

    Parameters
    ----------
    base_s : float
        The delay after the first failed attempt (its upper bound with full jitter), in seconds.
    max_s : float
        The longest delay, in seconds; at least ``base_s``.
    full_jitter : bool
        Draw the delay uniformly between 0 and the exponential bound.
    """

    base_s: float
    max_s: float
    full_jitter: bool = True

    def __post_init__(self):
        if not self.base_s > 0:
            raise ValueError(f"base_s={self.base_s!r} must be positive")
        if not self.max_s >= self.base_s:
            raise ValueError(f"max_s={self.max_s!r} must be at least base_s={self.base_s!r}")

    def delay_s(self, attempts: int, *, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the failed attempt number ``attempts + 1``.

        Parameters
        ----------
        attempts : int
            Attempts made before the one that just failed (0 after the first).
        retry_after_s : float, optional
            The destination's ``Retry-After``, in seconds: the delay is at least this (capped at ``max_s``).
        rng : random.Random, optional
            The random source of the jitter (the module's shared one if not given).
        """
        if attempts < 0:
            raise ValueError(f"{attempts=} must not be negative")
        bound_s = min(self.max_s, self.base_s * 2.0 ** min(attempts, MAX_DOUBLINGS))
        delay_s = (rng or random).uniform(0, bound_s) if self.full_jitter else bound_s
        if retry_after_s is not None:
            delay_s = max(delay_s, min(retry_after_s, self.max_s))
        return delay_s
