"""Push of registered resources to the Open Data Center, from the outbox.

Contract with the ODC (documented in the README): for every resource,
``PUT <odc_url><path>`` where ``path`` is ``path_template`` with ``{kid}``
(default ``/resources/{kid}``), body the resource JSON
(:func:`~.schemas.resource_json`), header ``Authorization: Bearer <token>``.
The PUT is idempotent: the same kid and body may arrive more than once.
A resource whose bytes were deleted (retention) is sent the same way, as its
*tombstone* (:func:`~.schemas.tombstone_json`: ``"deleted": true``,
``deleted_at``, ``deletion_reason``): the ODC replaces its record by it. The
body is always the resource's state at delivery time.

Delivery rules:

* 2xx: delivered (only then);
* connection errors, timeouts, 5xx, 408 and 429: retried with exponential
  backoff and full jitter (:class:`~.retry.RetryPolicy`; ``Retry-After`` in
  seconds honoured when larger), forever;
* any other 4xx: the row is marked failed with the status and the response
  text, visible through ``hydroserve sync --status`` and the metrics; an
  operator can requeue it after fixing the cause (``--retry-failed``).

Each outcome is written in its own short transaction, after the request:
a crash can at most repeat the request in flight.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy.engine import Engine

from . import outbox, registry
from .retry import RetryPolicy
from .schemas import record_json
from .sync import deliver_due

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 429}
DEFAULT_RETRY = RetryPolicy(base_s=1.0, max_s=300.0, full_jitter=True)


class OdcPusher:
    """Delivers the outbox rows of :data:`~.outbox.ODC_DESTINATION`.

    Parameters
    ----------
    engine : Engine
        Catalog engine for write transactions.
    base_url : str
        The ODC's base URL.
    token : str or None
        Bearer token for the ODC.
    path_template : str
        Path of a resource under ``base_url``; ``{kid}`` is replaced.
    timeout_s : float
        Connect and read timeout of one request.
    retry : RetryPolicy
        When to try again after no answer, a 5xx, 408 or 429.
    rng : random.Random, optional
        The random source of the retry jitter.
    """

    destination = outbox.ODC_DESTINATION

    def __init__(
        self,
        engine: Engine,
        base_url: str,
        token: str | None,
        *,
        path_template: str = "/resources/{kid}",
        timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
    ):
        if "{kid}" not in path_template:
            raise ValueError(f"{path_template=} must contain {{kid}}")
        self.engine = engine
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.path_template = path_template
        self.timeout_s = timeout_s
        self.retry = retry
        self.session = session or requests.Session()
        self.rng = rng or random.Random()

    def url(self, kid: str) -> str:
        return self.base_url + self.path_template.format(kid=requests.utils.quote(kid, safe=""))

    def run_once(self, now: datetime | None = None, limit: int = 100) -> dict:
        """Try every due row once; return counts of delivered, retried and failed rows."""
        now = now or datetime.now(UTC)
        return deliver_due(self.engine, self.destination, now, attempt_s=self.timeout_s,
                           deliver=lambda item: self._deliver(item, now), limit=limit)

    def _deliver(self, item: outbox.OutboxItem, now: datetime) -> str:
        with self.engine.connect() as conn:
            resource = registry.get_resource(conn, item.resource_kid)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.session.put(self.url(item.resource_kid), json=record_json(resource), headers=headers,
                                        timeout=self.timeout_s)
        except requests.RequestException as error:
            return self._retry(item, now, None, f"{type(error).__name__}: {error}", None)
        status = f"{response.status_code} {response.reason}"
        if 200 <= response.status_code < 300:
            with self.engine.begin() as conn:
                outbox.mark_delivered(conn, item.id, status)
            return "delivered"
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            return self._retry(item, now, status, response.text[:500], response.headers.get("Retry-After"))
        with self.engine.begin() as conn:
            outbox.mark_failed(conn, item.id, status, response.text)
        log.error("odc: %s rejected with %s: %s", item.resource_kid, status, response.text[:200])
        return "failed"

    def _retry(self, item: outbox.OutboxItem, now: datetime, status: str | None, error: str, retry_after: str | None) -> str:
        retry_after_s = float(retry_after) if retry_after is not None and retry_after.isdigit() else None
        delay_s = self.retry.delay_s(item.attempts, retry_after_s=retry_after_s, rng=self.rng)
        with self.engine.begin() as conn:
            outbox.mark_retry(conn, item.id, now + timedelta(seconds=delay_s), status, error)
        log.warning("odc: %s not delivered (%s); retry in %.1f s", item.resource_kid, status or error, delay_s)
        return "retried"
