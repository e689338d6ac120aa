"""Ticks (16 ns since the Unix epoch) as RFC 3339 text: the fast formatter against two references, the datetime path it
replaces (``rfc3339(tick_to_datetime(tick))``) and microseconds counted from the epoch by hand."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydroserve.codecs.raw import TICKS_PER_SECOND
from hydroserve.codecs.times import rfc3339, tick_rfc3339, tick_to_datetime
from support import tick_text_by_hand as by_hand

EPOCH = datetime(1970, 1, 1)
FIRST_TICK = int((datetime(1, 1, 1) - EPOCH).total_seconds()) * TICKS_PER_SECOND
END_TICK = int((datetime(9999, 12, 31, 23, 59, 59) - EPOCH).total_seconds() + 1) * TICKS_PER_SECOND
"""The ticks of 0001-01-01T00:00:00Z and of the end of the year 9999: the range a datetime holds."""


def instant(*args) -> int:
    """The tick of a UTC time (whole seconds) given as datetime's arguments."""
    return int((datetime(*args) - EPOCH).total_seconds()) * TICKS_PER_SECOND


EDGES = [
    (0, "1970-01-01T00:00:00.000000Z"),
    (62, "1970-01-01T00:00:00.000000Z"),  # 992 ns: truncated
    (63, "1970-01-01T00:00:00.000001Z"),  # 1008 ns
    (TICKS_PER_SECOND - 1, "1970-01-01T00:00:00.999999Z"),
    (-1, "1969-12-31T23:59:59.999999Z"),  # floored, not rounded towards zero
    (-63, "1969-12-31T23:59:59.999998Z"),
    (-TICKS_PER_SECOND, "1969-12-31T23:59:59.000000Z"),
    (1608751679 * TICKS_PER_SECOND + 47_216_000, "2020-12-23T19:27:59.755456Z"),  # the real ADF file's first frame
    (instant(2020, 2, 29, 23, 59, 59) + TICKS_PER_SECOND - 1, "2020-02-29T23:59:59.999999Z"),
    (instant(2020, 3, 1), "2020-03-01T00:00:00.000000Z"),
    (instant(2000, 2, 29, 12), "2000-02-29T12:00:00.000000Z"),  # divisible by 400: a leap year
    (instant(2100, 3, 1) - 1, "2100-02-28T23:59:59.999999Z"),  # divisible by 100: none
    (instant(2038, 1, 19, 3, 14, 8), "2038-01-19T03:14:08.000000Z"),  # past 32-bit Unix time
    (FIRST_TICK, "0001-01-01T00:00:00.000000Z"),
    (END_TICK - 1, "9999-12-31T23:59:59.999999Z"),
    (2**63 - 1, "6646-06-07T20:36:29.676412Z"),  # the largest tick the catalog holds (64-bit)
]


@pytest.mark.parametrize(("tick", "text"), EDGES)
def test_edge_ticks_as_written_by_hand_and_by_the_datetime_path(tick, text):
    assert tick_rfc3339(tick) == text == by_hand(tick) == rfc3339(tick_to_datetime(tick))


@settings(max_examples=2000, deadline=None)
@given(tick=st.integers(FIRST_TICK, END_TICK - 1) | st.integers(instant(1990, 1, 1), instant(2100, 1, 1)))
def test_any_tick_of_the_years_1_to_9999_as_both_references(tick):
    assert tick_rfc3339(tick) == by_hand(tick) == rfc3339(tick_to_datetime(tick))


def test_the_minutes_kept_do_not_leak_into_other_minutes():
    """The same second of consecutive minutes, days and years (one cached prefix each) keep their own minute."""
    base = instant(2023, 12, 31, 23, 58, 30) + 12_345
    ticks = [base + k * 60 * TICKS_PER_SECOND for k in range(4)] * 2
    assert [tick_rfc3339(t) for t in ticks] == [by_hand(t) for t in ticks]
    assert tick_rfc3339(ticks[2]) == "2024-01-01T00:00:30.000197Z"


@pytest.mark.parametrize("tick", [FIRST_TICK - 1, END_TICK, -(2**63), 2**80, -(2**80)])
def test_ticks_outside_the_years_1_to_9999_raise_as_the_datetime_path(tick):
    with pytest.raises((ValueError, OverflowError)) as datetime_path:
        tick_to_datetime(tick)
    with pytest.raises(datetime_path.type, match=f"^{re.escape(str(datetime_path.value))}$"):
        tick_rfc3339(tick)
