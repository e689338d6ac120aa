"""Detection of a wrong configured ADF frame length from the spacing of a file's frame headers.

FRAME_LENGTH is configuration, not in the file; a wrong value makes every
frame after the first one misread. :func:`infer_frame_length` finds the
length the headers show, and :func:`frame_length_refusal` turns a mismatch
into a :class:`FrameLengthError` that refuses the whole buffer.
"""

from __future__ import annotations

import numpy as np

from .raw import HEADER_BYTES, SAMPLE_BYTES, TICKS_PER_SAMPLE, TICKS_PER_SECOND, RawFormatError


class FrameLengthError(RawFormatError):
    """The bytes do not split into frames of the configured length.

    Parameters
    ----------
    source, offset, reason
        As for :class:`RawFormatError`.
    inferred_frame_length : int or None
        The frame length the file's headers show (spacing of the first two
        headers in bytes and in time agree), if one was found.
    """

    def __init__(self, source: str, offset: int | None, reason: str, inferred_frame_length: int | None):
        self.inferred_frame_length = inferred_frame_length
        super().__init__(source, offset, reason)


INFERENCE_TOLERANCE_TICKS = 159
"""Largest deviation (16 ns ticks) of the second frame's time stamp from the first frame's end accepted by
:func:`infer_frame_length` (below half a sample, as the stream's timing tolerance)."""


def infer_frame_length(buffer, *, max_frame_length: int) -> int | None:
    """The frame length shown by the first two frame headers of an ADF buffer, or None.

    A length ``L`` fits when the 12 bytes at byte ``12 + 4 L`` parse as a
    header with the first header's ``window_size``, a sub-second field
    below one second, and a start time of the first frame's start plus
    ``L * 320`` ticks (within :data:`INFERENCE_TOLERANCE_TICKS`): the second
    frame then continues the first one in bytes and in time. Samples (24-bit
    ADC values as float32) practically never satisfy all three.

    Parameters
    ----------
    buffer : bytes-like
        Starting at a frame header.
    max_frame_length : int
        Longest length tried (samples).

    Returns
    -------
    int or None
        The smallest fitting length, or None if none fits (a single frame,
        a gap after the first frame, or a broken first header).
    """
    view = memoryview(buffer).cast("B")
    n_words = len(view) // SAMPLE_BYTES
    if n_words < 7:
        return None
    words = np.frombuffer(view, dtype="<u4", count=n_words)
    first_seconds, first_cycles, window_size = (int(w) for w in words[:3])
    if first_cycles >= TICKS_PER_SECOND:
        return None
    longest = min(max_frame_length, n_words - 6)
    for first in range(1, longest + 1, _INFERENCE_CHUNK):  # in chunks: memory stays bounded for any buffer
        lengths = np.arange(first, min(first + _INFERENCE_CHUNK, longest + 1), dtype=np.int64)
        candidates = lengths[words[lengths + 5] == window_size]
        seconds, cycles = words[candidates + 3].astype(np.int64), words[candidates + 4].astype(np.int64)
        delay = (seconds - first_seconds) * TICKS_PER_SECOND + cycles - first_cycles
        fits = (cycles < TICKS_PER_SECOND) & (np.abs(delay - candidates * TICKS_PER_SAMPLE) <= INFERENCE_TOLERANCE_TICKS)
        if fits.any():
            return int(candidates[np.flatnonzero(fits)[0]])
    return None


_INFERENCE_CHUNK = 1 << 20


def frame_length_refusal(view, frame_length: int, source: str, base_offset: int, broken_offsets, *,
                         scan_limit: int) -> FrameLengthError | None:
    """The refusal of a buffer whose headers show another frame length than the configured one.

    Parameters
    ----------
    view : bytes-like
        The buffer, starting at a frame header.
    frame_length : int
        The configured frame length (samples).
    source : str
        Name of the input, for the message.
    base_offset : int
        Byte offset of ``view`` in the source, for the message.
    broken_offsets : sequence of int
        Byte offsets of frame headers found invalid at the configured
        boundaries; when given, the buffer is refused even if no other
        length fits.
    scan_limit : int
        Longest frame length tried (samples).

    Returns
    -------
    FrameLengthError or None
        None if the configured length fits.
    """
    inferred = infer_frame_length(view, max_frame_length=scan_limit)
    if inferred == frame_length or (inferred is None and not len(broken_offsets)):
        return None
    findings = []
    if len(broken_offsets):
        findings.append(f"the frame headers at byte(s) {', '.join(str(int(o)) for o in broken_offsets[:5])} are invalid")
    if inferred is None:
        findings.append("no other frame length fits the first headers")
    else:
        findings.append(
            f"a frame header continuing the first frame lies at byte {base_offset + HEADER_BYTES + SAMPLE_BYTES * inferred}: "
            f"the headers are spaced by {inferred} samples in bytes and in time, so the right value is likely "
            f"adf_frame_length = {inferred}"
        )
    return FrameLengthError(
        source, base_offset,
        f"the bytes do not split into frames of adf_frame_length = {frame_length} samples (wrong ADF frame length): "
        f"{'; '.join(findings)}; no frame of this file is used",
        inferred,
    )
