"""The one retry policy of the outbox deliverers (ODC push with full jitter, VTP without)."""

from __future__ import annotations

import random

import pytest

from hydroserve.odc_sync.retry import RetryPolicy


def test_without_jitter_the_delay_doubles_up_to_its_cap():
    policy = RetryPolicy(base_s=1.0, max_s=3.0, full_jitter=False)
    assert [policy.delay_s(attempts) for attempts in range(5)] == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.delay_s(10_000) == 3.0  # no overflow however long a destination stays down


def test_full_jitter_draws_below_the_exponential_bound():
    policy = RetryPolicy(base_s=1.0, max_s=300.0)
    rng = random.Random(7)
    draws = [policy.delay_s(3, rng=rng) for _ in range(2000)]
    assert 0 <= min(draws) < 0.1 and 7.9 < max(draws) <= 8.0  # uniform in [0, 1 * 2**3]
    assert policy.delay_s(3, rng=random.Random(7)) == random.Random(7).uniform(0, 8.0)  # the draw is the jitter itself


@pytest.mark.parametrize("full_jitter", [True, False])
def test_retry_after_is_a_floor_capped_at_the_longest_delay(full_jitter):
    policy = RetryPolicy(base_s=0.01, max_s=60.0, full_jitter=full_jitter)
    assert policy.delay_s(0, retry_after_s=7.0) == 7.0
    assert policy.delay_s(0, retry_after_s=3600.0) == 60.0


@pytest.mark.parametrize("base_s, max_s, message", [(0, 1, "base_s=0 must be positive"), (2, 1, "max_s=1 must be at least base_s=2")])
def test_a_policy_checks_its_bounds(base_s, max_s, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(base_s=base_s, max_s=max_s)
