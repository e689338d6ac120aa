"""ADF raw dump bytes to frames: :func:`decode` and :func:`read_file`, with every problem located.

Frames have a fixed length, so a contiguous run whose length is not a
multiple of FRAME_LENGTH ends in a frame that is completed with NaN: NaN
*padding* is a suffix of NaN samples in a frame, and marks "no sample here".
The decoder accepts such a frame as a shorter one (see ``valid_lengths``);
NaN or infinity anywhere else is an error.

Decoding never raises on bad content: it returns the valid frames and a list
of :class:`~hydroserve.codecs.raw.RawFormatError` naming the file and byte
offset of every problem, so a caller can keep the good data and report the
rest. A file whose headers show another frame length than the configured
one is refused as a whole (:mod:`hydroserve.codecs.raw_frame_length`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .raw import HEADER_BYTES, SAMPLE_BYTES, TICKS_PER_SECOND, RawFormatError, RawFrames, format_tick, frame_dtype
from .raw_frame_length import frame_length_refusal


def decode(
    buffer,
    *,
    frame_length: int,
    source: str,
    complete: bool = True,
    previous_start_tick: int | None = None,
    base_offset: int = 0,
) -> RawFrames:
    """Decode ADF frames from a bytes-like buffer (bytes, memoryview, mmap).

    Parameters
    ----------
    buffer : bytes-like
        The raw bytes, starting at a frame boundary.
    frame_length : int
        Samples per frame (configuration; 123260 for KM3NeT ADF dumps).
    source : str
        Name of the input used in every message.
    complete : bool
        True if no more bytes will follow: a partial last frame is then
        reported as truncated. False while the file is still being written:
        a partial last frame is left unconsumed without complaint.
    previous_start_tick : int, optional
        Start tick of the frame before this buffer (when decoding a file in
        pieces), so that time going backwards across pieces is detected.
    base_offset : int
        Byte offset of ``buffer`` in the source, for messages.

    Returns
    -------
    RawFrames
        Valid frames and the problems found. A frame is invalid when its
        sub-second field is out of range, it does not start after the
        previous valid frame, or it holds NaN or infinite samples.
    """
    dtype = frame_dtype(frame_length)
    view = memoryview(buffer).cast("B")
    n_frames, tail_bytes = divmod(len(view), dtype.itemsize)
    truncated = bool(tail_bytes and complete)
    issues: list[RawFormatError] = []
    if truncated:
        issues.append(_truncated_tail(source, base_offset, n_frames, tail_bytes, dtype.itemsize, frame_length))
    records = np.frombuffer(view, dtype=dtype, count=n_frames)
    offsets = base_offset + np.arange(n_frames, dtype=np.int64) * dtype.itemsize

    bad_cycles = records["cycles_16ns"] >= TICKS_PER_SECOND
    issues += _cycle_issues(records, offsets, bad_cycles, source)
    if n_frames:
        refusal = _frame_length_check(view, records, offsets, bad_cycles, frame_length, source, base_offset, truncated)
        if refusal is not None:
            return RawFrames(source, records[:0], offsets[:0], np.zeros(0, dtype=np.int64), n_frames * dtype.itemsize, (refusal,))
    finite, valid_lengths, sample_issues = _sample_checks(records["samples"], offsets, frame_length, source)
    issues += sample_issues
    valid = ~bad_cycles & finite
    starts = records["utc_seconds"].astype(np.int64) * TICKS_PER_SECOND + records["cycles_16ns"]
    issues += _time_order_issues(starts, offsets, valid, previous_start_tick, source)

    issues.sort(key=lambda issue: issue.offset if issue.offset is not None else -1)
    all_valid = bool(valid.all())
    return RawFrames(
        source=source,
        records=records if all_valid else records[valid],
        offsets=offsets if all_valid else offsets[valid],
        valid_lengths=valid_lengths if all_valid else valid_lengths[valid],
        consumed_bytes=n_frames * dtype.itemsize,
        issues=tuple(issues),
    )


def _truncated_tail(source: str, base_offset: int, n_frames: int, tail_bytes: int, frame_bytes: int,
                    frame_length: int) -> RawFormatError:
    what = "file size is not a whole number of frames" if n_frames else "file is shorter than one frame"
    return RawFormatError(source, base_offset + n_frames * frame_bytes,
                          f"truncated frame: {what}; the last {tail_bytes} bytes are part of a "
                          f"{frame_bytes}-byte frame ({frame_length} samples)")


def _cycle_issues(records: np.ndarray, offsets: np.ndarray, bad_cycles: np.ndarray, source: str) -> list[RawFormatError]:
    """A sub-second field out of range makes its frame invalid."""
    return [
        RawFormatError(source, int(offsets[index]) + 4,
                       f"frame {index}: cycles_16ns={int(records['cycles_16ns'][index])} "
                       f"must be below {TICKS_PER_SECOND} (one second of 16 ns ticks)")
        for index in np.flatnonzero(bad_cycles)
    ]


def _frame_length_check(view, records: np.ndarray, offsets: np.ndarray, bad_cycles: np.ndarray, frame_length: int,
                        source: str, base_offset: int, truncated: bool) -> RawFormatError | None:
    """The refusal of the whole buffer if its frames are not ``frame_length`` long (see :mod:`.raw_frame_length`).

    The first frame of a file is always checked against its neighbour (cheap: one frame of words). A suspect
    framing (a truncated tail, or most boundary headers invalid) is checked over the whole buffer.
    """
    n_frames = len(records)
    broken = np.flatnonzero(bad_cycles | (records["window_size"] != records["window_size"][0]))
    suspect = truncated or 2 * np.count_nonzero(broken > 0) > n_frames - 1 > 0
    if not (suspect or base_offset == 0):
        return None
    return frame_length_refusal(
        view, frame_length, source, base_offset, offsets[broken] if truncated else (),
        scan_limit=len(view) // SAMPLE_BYTES if suspect else frame_length,
    )


def _sample_checks(samples: np.ndarray, offsets: np.ndarray, frame_length: int,
                   source: str) -> tuple[np.ndarray, np.ndarray, list[RawFormatError]]:
    """Which frames hold only finite samples, each frame's length without its NaN padding, and the problems.

    NaN at the end of a frame is padding (the frame is that much shorter); any other NaN or infinite
    sample makes its frame invalid.
    """
    valid_lengths = np.full(len(samples), frame_length, dtype=np.int64)
    finite = np.isfinite(samples).all(axis=1)
    issues = []
    for index in np.flatnonzero(~finite):
        first_bad = int(np.flatnonzero(~np.isfinite(samples[index]))[0])
        if first_bad > 0 and np.isnan(samples[index, first_bad:]).all():
            valid_lengths[index] = first_bad
            finite[index] = True
            continue
        issues.append(RawFormatError(
            source, int(offsets[index]) + HEADER_BYTES + SAMPLE_BYTES * first_bad,
            f"frame {index}: sample {first_bad} is {samples[index, first_bad]} (NaN or infinite samples are not data; "
            "NaN is allowed only as padding at the end of a frame)",
        ))
    return finite, valid_lengths, issues


def _time_order_issues(starts: np.ndarray, offsets: np.ndarray, valid: np.ndarray, previous_start_tick: int | None,
                       source: str) -> list[RawFormatError]:
    """Valid frames must start after the previous valid one; a frame that does not is made invalid (``valid`` is updated)."""
    candidates = np.flatnonzero(valid)
    if candidates.size == 0 or (np.all(np.diff(starts[candidates]) > 0)
                                and (previous_start_tick is None or starts[candidates[0]] > previous_start_tick)):
        return []
    issues = []
    last_start = previous_start_tick
    for index in candidates:
        start = int(starts[index])
        if last_start is not None and start <= last_start:
            issues.append(RawFormatError(
                source, int(offsets[index]),
                f"frame {index}: time goes backwards: starts at tick {start} "
                f"({format_tick(start)}), not after the previous frame's start {format_tick(last_start)}",
            ))
            valid[index] = False
        else:
            last_start = start
    return issues


def read_file(path: str | Path, *, frame_length: int, complete: bool = True) -> RawFrames:
    """Decode an ADF file by memory map; see :func:`decode` for ``complete``.

    The returned records are a view on the mapped file.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        data = b""
    else:
        data = np.memmap(path, dtype=np.uint8, mode="r", shape=(size,))
    return decode(data, frame_length=frame_length, source=str(path), complete=complete)
