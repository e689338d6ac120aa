"""Timeline stitching and sample-exact fixed-interval cutting."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hydroserve.acoustics.cutter import CutSettings, SkippedWindow, Snippet, SnippetCutter, samples_in_window
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
    timeline = SensorTimeline(SENSOR, tolerance_ticks=settings.timing_tolerance_ticks)
    out = []
    for piece in pieces:
        accepted = timeline.accept(piece)
        if accepted is not None:
            out += cutter.feed(accepted)
    return out + (cutter.flush() if flush else [])


def test_expected_samples_are_the_sample_instants_in_the_window():
    # hand-counted: instants 0, 320, ... below 62.5e6 ticks are 0..195312 (195313 of them)
    assert samples_in_window(0, SEC, 0) == 195313
    assert samples_in_window(SEC, 2 * SEC, 0) == 195312  # the second second starts half a sample after an instant
    assert samples_in_window(0, SEC, 160) == 195312 and samples_in_window(0, SEC, 159) == 195313
    assert samples_in_window(0, 2 * SEC, 77) == 390625  # even seconds: any phase
    assert samples_in_window(0, 300 * SEC, 12345) == 58_593_750
    assert CutSettings(Fraction(1), 1).max_samples == 195313 and CutSettings(Fraction("0.1"), 1).max_samples == 19532
    with pytest.raises(ValueError, match="whole number of 16 ns ticks"):
        CutSettings(Fraction(1, 10**9), 1)


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
    # a sample instant at 30 s and 36 s (whole multiples of 2 s from t=0), none at 33 s: 195313, 195312, 195313 samples
    assert [s.n_samples for s in out if isinstance(s, Snippet)] == [195313, 195312, 195313]


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


@pytest.mark.parametrize("duration_s", [1, 2, 3, 7])
@pytest.mark.parametrize("phase_ticks", [0, 100, 200])
def test_packages_partition_the_stream_for_every_duration(duration_s, phase_ticks):
    settings = CutSettings(Fraction(duration_s), duration_s, min_coverage=1e-9)
    start = 1000 * SEC + phase_ticks
    n = (3 * duration_s + 1) * 195313 + 777
    out = cut(stream(start, n, [123260] * 100), settings)
    snippets = [s for s in out if isinstance(s, Snippet)]
    assert len(snippets) == len(out) >= 4
    joined = np.concatenate([s.samples for s in snippets])
    np.testing.assert_array_equal(joined, np.arange(n, dtype=np.float32))  # nothing lost, nothing in two packages
    for snippet in snippets:
        times = start + snippet.samples.astype(np.int64) * T320
        assert times[0] >= snippet.boundary_tick and times[-1] < snippet.boundary_tick + duration_s * SEC
        assert snippet.window_end_tick == snippet.boundary_tick + duration_s * SEC
    for snippet in snippets[1:-1]:  # complete windows: the count of instants, 195312 or 195313 per odd second
        assert snippet.n_samples == snippet.n_expected and snippet.gaps == ()
        assert snippet.n_expected in (duration_s * 195312 + duration_s // 2, duration_s * 195312 + -(-duration_s // 2))


def test_a_300_s_package_partition_with_odd_phase():
    settings = CutSettings(Fraction(300), 300)
    start = 300 * SEC + 5
    n = 2 * 58_593_750 + 3
    out = cut(stream(start, n, [123260 * 40] * 30), settings)
    assert [s.package_id for s in out] == ["DOM_1_CH1_300", "DOM_1_CH1_600", "DOM_1_CH1_900"]
    first, second, rest = out
    assert isinstance(rest, SkippedWindow) and rest.n_samples == 3
    assert first.start_tick == start and second.start_tick == first.end_tick  # (float32 indices are not exact here)
    assert first.n_samples == second.n_samples == 58_593_750 and first.gaps == ()


def jittered(start, n, frame_length, deviations):
    """Frames of a contiguous stream (values = indices) whose time stamps deviate by ``deviations[i]`` ticks."""
    values = np.arange(n, dtype=np.float32)
    return [
        Piece(start + i * T320 + int(deviations[j % len(deviations)]), values[i : i + frame_length], 131072, "j.bin", i)
        for j, i in enumerate(range(0, n, frame_length))
    ]


@pytest.mark.parametrize("amplitude", [3, 150])
def test_timestamp_jitter_within_tolerance_loses_and_doubles_nothing(amplitude):
    rng = np.random.default_rng(amplitude)
    deviations = rng.integers(-amplitude, amplitude + 1, size=200)
    deviations[0] = 0  # the grid of the run: measured deviations are then the ones written
    deviations[1:3] = (-amplitude, amplitude)  # both extremes occur
    start = 40 * SEC + 33
    n = 5 * 390625 + 1234
    out = cut(jittered(start, n, 12_326, deviations), CutSettings(Fraction(2), 2, min_coverage=1e-9))
    snippets = [s for s in out if isinstance(s, Snippet)]
    assert len(snippets) == len(out) == 6
    joined = np.concatenate([s.samples for s in snippets])
    first = int(snippets[0].samples[0])
    np.testing.assert_array_equal(joined, np.arange(first, first + len(joined), dtype=np.float32))
    assert first + len(joined) == n  # up to the last sample
    assert all(len(s.runs) == 1 for s in snippets) and all(s.gaps == () for s in snippets[1:-1])  # one run per stretch
    for s in snippets:  # the samples sit on the grid of the first frame
        assert (s.runs[0].start_tick - start) % T320 == 0
    stats = [s.timestamp_deviation for s in snippets]
    n_frames = -(-n // 12_326)
    assert n_frames < len(deviations) and sum(d.n_frames for d in stats) == n_frames - 1  # every junction, once
    assert max(d.max_abs_ticks for d in stats) == amplitude
    assert sum(d.n_deviated for d in stats) == int(np.count_nonzero(deviations[1:n_frames]))


def test_deviation_statistics_are_exact():
    deviations = [0, 3, -3, 0, 150, -1]
    start = 10 * SEC
    out = cut(jittered(start, 6 * 1000, 1000, deviations), CutSettings(Fraction(2), 2, min_coverage=0.001))
    [snippet] = out
    d = snippet.timestamp_deviation
    assert (d.n_frames, d.n_deviated, d.max_abs_ticks, d.sum_squares_ticks2) == (5, 4, 150, 9 + 9 + 22500 + 1)
    assert d.sum_abs_ticks == 157 and d.as_json()["histogram_abs_ns"]["le"][:3] == [0, 16, 32]
    assert d.max_abs_ns == 2400 and d.rms_ns == pytest.approx(16 * np.sqrt(22519 / 5))
    assert d.histogram == (1, 1, 0, 2, 0, 0, 0, 0, 0, 1)


@pytest.mark.parametrize("deviation", [160, 319, -160, -319])
def test_deviation_beyond_the_tolerance_is_a_gap_or_an_overlap(deviation, caplog):
    out = cut(jittered(10 * SEC, 2000, 1000, [0, deviation]), CutSettings(Fraction(2), 2, min_coverage=0.001))
    [snippet] = out
    assert len(snippet.runs) == 2 and snippet.timestamp_deviation.n_frames == 0
    if deviation > 0:
        [gap, _tail] = snippet.gaps
        assert (gap.end_tick - gap.start_tick, gap.at_sample) == (deviation, 1000) and snippet.n_samples == 2000
    else:
        assert snippet.n_samples == 1999 and "overlaps the previous data" in caplog.text and "by 1 samples" in caplog.text
