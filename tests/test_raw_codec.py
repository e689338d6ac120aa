"""The ADF raw codec on the real KM3NeT file, against km3io, and on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hydroserve.codecs import raw
from hydroserve.codecs.raw import RawFileName, RawFormatError, SensorId

FRAME = raw.frame_bytes(raw.DEFAULT_FRAME_LENGTH)


def decode(data: bytes, **kw):
    return raw.decode(data, frame_length=raw.DEFAULT_FRAME_LENGTH, source="x.bin", **kw)


def test_real_file_matches_km3io(real_adf_path):
    from km3io.acoustics import RawAcousticReader

    frames = raw.read_file(real_adf_path, frame_length=raw.DEFAULT_FRAME_LENGTH)
    reference = RawAcousticReader(real_adf_path)
    assert len(frames) == 2 and frames.issues == ()
    np.testing.assert_array_equal(frames.samples.reshape(-1), reference.pcm)
    seconds, cycles = reference.timestamps
    np.testing.assert_array_equal(frames.records["utc_seconds"], seconds)
    np.testing.assert_array_equal(frames.records["cycles_16ns"], cycles)
    assert list(frames.records["window_size"]) == [131072, 131072]


def test_real_file_frames_are_contiguous_to_the_tick(real_adf_path):
    frames = raw.read_file(real_adf_path, frame_length=raw.DEFAULT_FRAME_LENGTH)
    first, second = (int(t) for t in frames.start_ticks)
    assert second - first == 123260 * raw.TICKS_PER_SAMPLE
    # 123260 / 195312.5 s, exactly
    assert (second - first) / raw.TICKS_PER_SECOND == pytest.approx(0.6310912, abs=1e-12)
    assert first == 1608751679 * raw.TICKS_PER_SECOND + 47_216_000


def test_encode_reproduces_the_real_file_bit_for_bit(real_adf_path):
    data = Path(real_adf_path).read_bytes()
    frames = decode(data)
    assert raw.encode(frames.start_ticks, frames.samples, window_size=131072) == data


def test_encoded_synthetic_frames_read_by_km3io(tmp_path):
    from km3io.acoustics import RawAcousticReader

    rng = np.random.default_rng(1)
    samples = rng.standard_normal((3, raw.DEFAULT_FRAME_LENGTH)).astype(np.float32)
    ticks = 1_700_000_000 * raw.TICKS_PER_SECOND + np.arange(3) * raw.DEFAULT_FRAME_LENGTH * raw.TICKS_PER_SAMPLE
    path = tmp_path / "DOM_808974724_CH1_1700000000.bin"
    path.write_bytes(raw.encode(ticks, samples))
    reader = RawAcousticReader(str(path))
    np.testing.assert_array_equal(reader.pcm, samples.reshape(-1))
    assert reader.id == "808974724"
    assert list(reader.timestamps[1]) == [int(t % raw.TICKS_PER_SECOND) for t in ticks]


def test_file_name_carries_the_sensor():
    name = RawFileName.parse("/spool/DOM_808956920_CH1_1608751683.bin")
    assert name.sensor == SensorId(808956920, 1) and name.unix_time_s == 1608751683
    assert str(name) == "DOM_808956920_CH1_1608751683.bin"
    with pytest.raises(RawFormatError, match=r"hydrophone\.bin: file name does not carry a sensor id"):
        RawFileName.parse("/spool/hydrophone.bin")


@pytest.mark.parametrize("cut", [1, FRAME - 1, FRAME + 12, 2 * FRAME - 4])
def test_truncated_last_frame_is_reported_at_its_offset(real_adf_path, cut):
    data = Path(real_adf_path).read_bytes()[:cut]
    frames = decode(data)
    whole = len(data) // FRAME
    assert len(frames) == whole
    [issue] = frames.issues
    assert issue.offset == whole * FRAME
    assert "truncated frame" in str(issue) and f"x.bin at byte {whole * FRAME}" in str(issue)


def test_growing_file_leaves_the_partial_tail_without_complaint(real_adf_path):
    data = Path(real_adf_path).read_bytes()[: FRAME + 1000]
    frames = decode(data, complete=False)
    assert len(frames) == 1 and frames.issues == () and frames.consumed_bytes == FRAME


def test_nan_and_inf_samples_are_reported_and_their_frame_dropped(real_adf_path):
    data = bytearray(Path(real_adf_path).read_bytes())
    bad_offset = raw.HEADER_BYTES + 4 * 5000
    data[bad_offset : bad_offset + 4] = np.float32(np.inf).tobytes()
    data[FRAME + raw.HEADER_BYTES : FRAME + raw.HEADER_BYTES + 4] = np.float32(np.nan).tobytes()
    frames = decode(bytes(data))
    assert len(frames) == 0
    assert [i.offset for i in frames.issues] == [bad_offset, FRAME + raw.HEADER_BYTES]
    assert "sample 5000 is inf" in str(frames.issues[0])


def test_nan_padding_at_the_end_of_a_frame_is_a_shorter_frame():
    samples = np.ones((1, raw.DEFAULT_FRAME_LENGTH), dtype=np.float32)
    samples[0, 1000:] = np.nan
    frames = decode(raw.encode([raw.TICKS_PER_SECOND], samples))
    assert frames.issues == () and list(frames.valid_lengths) == [1000]


def test_time_going_backwards_names_the_frame(real_adf_path):
    data = Path(real_adf_path).read_bytes()
    swapped = data[FRAME:] + data[:FRAME]
    frames = decode(swapped)
    assert len(frames) == 1
    [issue] = frames.issues
    assert issue.offset == FRAME and "time goes backwards" in issue.reason


def test_sub_second_field_out_of_range_is_reported():
    samples = np.zeros((1, raw.DEFAULT_FRAME_LENGTH), dtype=np.float32)
    data = bytearray(raw.encode([0], samples))
    data[4:8] = np.uint32(raw.TICKS_PER_SECOND).tobytes()
    frames = decode(bytes(data))
    assert len(frames) == 0 and frames.issues[0].offset == 4 and "cycles_16ns" in frames.issues[0].reason


def test_empty_input_is_no_frames_and_no_issue():
    frames = decode(b"")
    assert len(frames) == 0 and frames.issues == ()


def test_frame_plan_pads_only_the_last_frame_of_each_run():
    class Run:
        def __init__(self, start_tick, first_sample, n_samples):
            self.start_tick, self.first_sample, self.n_samples = start_tick, first_sample, n_samples

    plan = raw.plan_frames([Run(0, 0, 25), Run(10_000, 25, 10)], frame_length=10)
    assert [(f.start_tick, f.first_sample, f.n_samples) for f in plan] == [
        (0, 0, 10), (3200, 10, 10), (6400, 20, 5), (10_000, 25, 10),
    ]


def test_wrong_frame_length_rejects_the_whole_file_instead_of_a_garbled_first_frame(real_adf_path):
    # a file of 100000-sample frames read as 123260-sample frames: the first "frame" would hold the
    # second real header among its samples (finite floats), so no single-frame check could catch it
    samples = np.random.default_rng(2).normal(0, 1e-3, (5, 100_000)).astype(np.float32)
    ticks = 1_700_000_000 * raw.TICKS_PER_SECOND + np.arange(5) * 100_000 * raw.TICKS_PER_SAMPLE
    frames = decode(raw.encode(ticks, samples))
    assert len(frames) == 0
    [issue] = frames.issues
    assert issue.offset == 0 and "wrong ADF frame length" in issue.reason and "adf_frame_length = 123260 samples" in issue.reason
    assert isinstance(issue, raw.FrameLengthError) and issue.inferred_frame_length == 100_000
    assert f"a frame header continuing the first frame lies at byte {12 + 4 * 100_000}" in issue.reason
    assert "the right value is likely adf_frame_length = 100000" in issue.reason


@pytest.mark.parametrize("configured", [131_072, 123_261, 61_630, 1000])
def test_a_wrong_frame_length_on_the_real_file_is_refused_naming_the_right_one(real_adf_path, configured):
    # 131072 is the window size written in every header: the mistake the issue found publishing header bytes as samples
    frames = raw.read_file(real_adf_path, frame_length=configured)
    assert len(frames) == 0
    [issue] = frames.issues
    assert isinstance(issue, raw.FrameLengthError) and issue.inferred_frame_length == raw.DEFAULT_FRAME_LENGTH
    assert str(issue).startswith(f"{real_adf_path} at byte 0: the bytes do not split into frames of adf_frame_length")
    assert f"adf_frame_length = {configured} samples" in str(issue) and "likely adf_frame_length = 123260" in str(issue)


def test_inference_finds_the_real_frame_length_and_nothing_in_samples(real_adf_path):
    data = Path(real_adf_path).read_bytes()
    assert raw.infer_frame_length(data, max_frame_length=10**6) == raw.DEFAULT_FRAME_LENGTH
    assert raw.infer_frame_length(data[:FRAME], max_frame_length=10**6) is None  # one frame: nothing to compare
    # frames 1 s apart (a gap after the first): no length fits, and the configured one is accepted
    samples = np.random.default_rng(3).normal(0, 1e-3, (3, raw.DEFAULT_FRAME_LENGTH)).astype(np.float32)
    gapped = raw.encode(np.arange(3) * raw.TICKS_PER_SECOND, samples)
    assert raw.infer_frame_length(gapped, max_frame_length=10**6) is None
    frames = decode(gapped)
    assert len(frames) == 3 and frames.issues == ()


def test_jittered_time_stamps_still_confirm_the_frame_length():
    samples = np.zeros((3, 5000), dtype=np.float32)
    ticks = 7 * raw.TICKS_PER_SECOND + np.arange(3) * 5000 * raw.TICKS_PER_SAMPLE + np.array([0, 150, -3])
    data = raw.encode(ticks, samples)
    assert raw.infer_frame_length(data, max_frame_length=10**6) == 5000
    frames = raw.decode(data, frame_length=5000, source="j.bin")
    assert len(frames) == 3 and frames.issues == ()
