"""A read-only, seekable byte stream of known size: the position bookkeeping that every such reader shares."""

from __future__ import annotations

import io


class SizedReader(io.RawIOBase):
    """Base of readers over ``size_bytes`` bytes: ``seek``/``tell`` keep ``position``; subclasses give ``readinto``
    (reading from ``position``) and ``size_bytes``."""

    position: int = 0

    @property
    def size_bytes(self) -> int:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size_bytes}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position
