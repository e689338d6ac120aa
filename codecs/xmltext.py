"""Which text XML can carry, and which text a single-line value (a table cell, an argument) may hold.

XML 1.0 has no way to write most C0 control characters, lone surrogates
or U+FFFE/U+FFFF, not even as character references: a document holding
one is not well-formed. :func:`check_text` refuses them (tab, newline and
carriage return are allowed). :func:`check_line` is stricter, for values
that are one line of text and must come back unchanged from any format:
no control character at all (C0, DEL, C1) except tab.
"""

from __future__ import annotations

import re

# characters XML 1.0 cannot carry (C0 controls except tab, newline, carriage return; surrogates; U+FFFE/U+FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# the above, plus newline, carriage return, DEL and the C1 controls
_NOT_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _check(value: str, what: str, pattern: re.Pattern, why: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    bad = pattern.search(value)
    if bad:
        raise ValueError(f"{what} contains the character U+{ord(bad.group()):04X} at position {bad.start()}, {why}")
    return value


def check_text(value: str, what: str) -> str:
    """Return ``value`` if XML 1.0 can carry it; raise ValueError naming ``what`` and the character otherwise."""
    return _check(value, what, _NOT_XML, "which XML cannot carry")


def check_line(value: str, what: str) -> str:
    """Return ``value`` if it holds no control character but tab (nor anything XML cannot carry); raise ValueError
    naming ``what`` and the character otherwise."""
    return _check(value, what, _NOT_LINE, "a control character (only tab is allowed)")
