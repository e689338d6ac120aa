"""A one-line progress bar for the command line."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total_bytes: int, stream=None):
        self.total = max(total_bytes, 1)
        self.done = 0
        self.stream = sys.stderr if stream is None else stream  # the stderr of now, not of when this module was imported
        self.enabled = self.stream.isatty()

    def advance(self, n_bytes: int, label: str) -> None:
        self.done += n_bytes
        if self.enabled:
            filled = int(30 * self.done / self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done / 1e6:8.1f}/{self.total / 1e6:.1f} MB {label[-40:]:40}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
