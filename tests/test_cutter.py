"""Timeline stitching and sample-exact fixed-interval cutting."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hydroserve.acoustics.cutter import CutSettings, SkippedWindow, Snippet, SnippetCutter
from hydroserve.acoustics.stream import Piece, SensorTimeline, StreamOrderError
from hydroserve.codecs.raw import TICKS_PER_SAMPLE as T320
from hydroserve.codecs.raw import TICKS_PER_SECOND as SEC
from hydroserve.codecs.raw import SensorId

SENSOR = SensorId(1, 1)
TWO_SECONDS = CutSettings(Fraction(2), 2)


def stream(start_tick, n_samples, sizes, first_value=0):
    """Pieces of a contiguous stream whose sample values are their indices."""
    values = np.arange(first_value, first_value + n_samples, dtype=np.float32)
    pieces, offset = [], 0
    for size in sizes:
        if offset >= n_samples:
            break
        chunk = values[offset : offset + size]
        pieces.append(Piece(start_tick + offset * T320, chunk, 131072, "test.bin", offset))
        offset += len(chunk)
    return pieces


def cut(pieces, settings=TWO_SECONDS, flush=True, **kw):
    cutter = SnippetCutter(SENSOR, settings, **kw)
    timeline = SensorTimeline(SENSOR)
    out = []
    for piece in pieces:
        accepted = timeline.accept(piece)
        if accepted is not None:
            out += cutter.feed(accepted)
    return out + (cutter.flush() if flush else [])


def test_samples_per_snippet_is_round_of_duration_times_rate():
    assert CutSettings(Fraction(2), 2).n_samples == 390625
    assert CutSettings(Fraction(300), 300).n_samples == 58_593_750
    assert CutSettings(Fraction(1), 1).n_samples == 195312  # 195312.5 rounds half to even
    assert CutSettings(Fraction("0.1"), 1).n_samples == 19531  # 19531.25


def test_complete_snippets_start_at_the_first_sample_at_or_after_the_boundary():
    # start 0.3 s + 7 ticks after a whole second: sample times are off every boundary
    start = 1000 * SEC + SEC * 3 // 10 + 7
    n = 6 * 195312 + 5000
    out = cut(stream(start, n, [123260] * 20), flush=False)
    snippets = [s for s in out if isinstance(s, Snippet)]
    skipped = [s for s in out if isinstance(s, SkippedWindow)]
    # data covers 1000.3 .. 1006.33 s: windows 1002 and 1004 are complete, 1000 is not, 1006 is still open
    assert [s.package_id for s in snippets] == ["DOM_1_CH1_1002", "DOM_1_CH1_1004"]
    assert [s.package_id for s in skipped] == ["DOM_1_CH1_1000"]
    snippet = snippets[0]
    first_index = -(-(1002 * SEC - start) // T320)  # first sample at or after the boundary
    assert snippet.n_samples == 390625 and snippet.coverage == 1.0 and snippet.gaps == ()
    assert snippet.samples[0] == first_index and snippet.samples[-1] == first_index + 390624
    assert snippet.start_tick == start + first_index * T320
    assert 0 <= snippet.start_tick - 1002 * SEC < T320


def test_piece_boundaries_do_not_change_the_result():
    start = 77 * SEC + 12345 * 16
    n = 5 * 390625
    a = cut(stream(start, n, [123260] * 100))
    b = cut(stream(start, n, [1, 7, 99_999, 3, 250_000, 500_000] * 10))
    assert [s.package_id for s in a] == [s.package_id for s in b]
    for x, y in zip(a, b):
        if isinstance(x, Snippet):
            np.testing.assert_array_equal(x.samples, y.samples)
            assert x.runs == y.runs


def test_gap_inside_a_window_is_kept_as_missing_time_not_zeros():
    start = 10 * SEC
    values = stream(start, 390625, [390625])[0].samples
    first = Piece(start, values[:100_000], 131072, "a.bin")
    second = Piece(start + 110_000 * T320, values[110_000:], 131072, "b.bin")
    [snippet] = cut([first, second])
    assert snippet.n_samples == 390625 - 10_000 and snippet.coverage == pytest.approx(0.9744)
    [gap] = snippet.gaps
    assert (gap.start_tick, gap.end_tick, gap.at_sample) == (start + 100_000 * T320, start + 110_000 * T320, 100_000)
    assert gap.duration_s == pytest.approx(10_000 / 195312.5)
    np.testing.assert_array_equal(snippet.samples, np.concatenate([values[:100_000], values[110_000:]]))
    assert [(r.first_sample, r.n_samples) for r in snippet.runs] == [(0, 100_000), (100_000, 280_625)]
    assert snippet.sources == ("a.bin", "b.bin")


def test_low_coverage_window_is_skipped_with_its_reason():
    [skipped] = cut(stream(10 * SEC, 300_000, [300_000]))
    assert isinstance(skipped, SkippedWindow)
    assert skipped.coverage == pytest.approx(300_000 / 390625)
    assert "below the minimum 0.9" in skipped.reason


def test_overlapping_snippets_when_duration_exceeds_interval():
    settings = CutSettings(Fraction(2), 1)
    out = cut(stream(10 * SEC, 4 * 195312 + 2, [50_000] * 40), settings)
    full = [s for s in out if isinstance(s, Snippet) and s.coverage == 1.0]
    assert [s.package_id for s in full] == ["DOM_1_CH1_10", "DOM_1_CH1_11", "DOM_1_CH1_12"]
    # window 10 starts on sample 0; window 11 on the first sample at or after 1 s: ceil(195312.5) = 195313
    assert [s.samples[0] for s in full] == [0, 195313, 390625]


def test_short_snippets_leave_time_between_them():
    settings = CutSettings(Fraction(1), 3, min_coverage=0.5)
    out = cut(stream(30 * SEC, 9 * 195313, [100_000] * 30), settings)
    assert [s.package_id for s in out if isinstance(s, Snippet)] == ["DOM_1_CH1_30", "DOM_1_CH1_33", "DOM_1_CH1_36"]
    assert all(s.n_samples == 195312 for s in out if isinstance(s, Snippet))


def test_resuming_at_a_cursor_gives_the_same_later_snippets():
    start = 50 * SEC + 999
    pieces = stream(start, 6 * 390625, [123260] * 30)
    full = [s for s in cut(pieces) if isinstance(s, Snippet)]
    cursor = 54 * SEC
    timeline = SensorTimeline(SENSOR, not_before_tick=cursor)
    cutter = SnippetCutter(SENSOR, TWO_SECONDS, first_boundary_tick=cursor)
    resumed = []
    for piece in pieces:
        accepted = timeline.accept(piece)
        if accepted is not None:
            resumed += cutter.feed(accepted)
    resumed += cutter.flush()
    expected = [s for s in full if s.boundary_tick >= cursor]
    assert [s.package_id for s in resumed if isinstance(s, Snippet)] == [s.package_id for s in expected]
    for a, b in zip([s for s in resumed if isinstance(s, Snippet)], expected):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_overlap_is_trimmed_and_duplicates_dropped(caplog):
    timeline = SensorTimeline(SENSOR)
    a = Piece(0, np.arange(100, dtype=np.float32), 1, "a.bin")
    assert timeline.accept(a) is a
    assert timeline.accept(Piece(0, np.arange(100, dtype=np.float32), 1, "dup.bin")) is None
    trimmed = timeline.accept(Piece(90 * T320, np.arange(90, 130, dtype=np.float32), 1, "b.bin"))
    assert trimmed.start_tick == 100 * T320 and trimmed.samples[0] == 100 and len(trimmed.samples) == 30
    assert "duplicate" in caplog.text and "overlaps the previous data" in caplog.text and "by 10 samples" in caplog.text


def test_out_of_order_data_is_rejected_with_a_clear_error():
    timeline = SensorTimeline(SENSOR)
    timeline.accept(Piece(1000 * T320, np.zeros(10, np.float32), 1, "late.bin", 12))
    with pytest.raises(StreamOrderError, match=r"early.bin at byte 0: out-of-order data"):
        timeline.accept(Piece(0, np.zeros(10, np.float32), 1, "early.bin", 0))


@pytest.mark.parametrize("kwargs", [dict(duration_s=Fraction(0), interval_s=1), dict(duration_s=Fraction(1), interval_s=0)])
def test_invalid_cut_settings_name_the_argument(kwargs):
    with pytest.raises(ValueError, match="duration_s|interval_s"):
        CutSettings(**kwargs)
