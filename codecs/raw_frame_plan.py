"""The split of contiguous sample runs into ADF output frames (the last frame of a run padded with NaN)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .raw import TICKS_PER_SAMPLE

PADDING = np.float32(np.nan)
"""Value of padding samples completing the last frame of a contiguous run."""


@dataclass(frozen=True)
class FramePlan:
    """One output frame: ``n_samples`` samples from ``first_sample`` of a sample
    sequence, starting at ``start_tick``, then ``frame_length - n_samples`` NaN."""

    start_tick: int
    first_sample: int
    n_samples: int


def plan_frames(runs, frame_length: int) -> list[FramePlan]:
    """Split contiguous runs into frames of ``frame_length`` samples.

    Parameters
    ----------
    runs : iterable
        Objects with ``start_tick``, ``first_sample`` and ``n_samples``:
        contiguous runs of a sample sequence stored back to back.
    frame_length : int
        Samples per frame.

    Returns
    -------
    list of FramePlan
        Frames in order; only the last frame of each run can be short (padded).
    """
    if frame_length <= 0:
        raise ValueError(f"{frame_length=} must be positive")
    plan = []
    for run in runs:
        for offset in range(0, run.n_samples, frame_length):
            plan.append(
                FramePlan(
                    run.start_tick + offset * TICKS_PER_SAMPLE,
                    run.first_sample + offset,
                    min(frame_length, run.n_samples - offset),
                )
            )
    return plan
