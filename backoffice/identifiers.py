"""External identifiers: the operator's ids of brands, players and events, one rule wherever they enter (the API,
ingest, the admin), so that one id always names one thing.

An id is a string or an integer, without control, invisible or bidirectional formatting characters (they make two
different ids look the same, or one id look like another), and is compared in Unicode NFC (a decomposed "é" and a
precomposed one are one id).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_ID_LENGTH = 128
INT64 = range(-(2**63), 2**63)  # orjson serializes no wider integer, PostgreSQL's bigint none either
# C0 and C1 controls (tab and newline too), lone surrogates, and the invisible or bidirectional formatting characters:
# soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width space/joiners, LRM/RLM, line/paragraph
# separators, bidi embeddings, overrides and isolates, word joiner and invisible operators, BOM, interlinear
# annotations.
_FORBIDDEN_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


class InvalidIdentifier(ValueError):
    """The message says what is wrong, to be shown next to the field's name."""


def external_id(value: Any, max_length: int = MAX_ID_LENGTH) -> str:
    """`value` as a stored id (NFC text), or InvalidIdentifier."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidIdentifier("Expected a string or an integer.")
    if isinstance(value, int):
        if value not in INT64:
            raise InvalidIdentifier("An integer id must fit in 64 bits; send a longer one as a string.")
        return str(value)
    if len(value) > 4 * max_length:  # NFC shortens a string by a few characters at most: no need to look further
        raise InvalidIdentifier(f"Must be 1 to {max_length} characters.")
    if value.isascii() and value.isprintable():  # the usual id: nothing to refuse or normalize but its length
        value = value.strip()
        if not value or len(value) > max_length:
            raise InvalidIdentifier(f"Must be 1 to {max_length} characters.")
        return value
    forbidden = _FORBIDDEN_RE.search(value)
    if forbidden:
        raise InvalidIdentifier(
            f"Must not contain control, invisible or bidirectional formatting characters "
            f"(U+{ord(forbidden.group()):04X} at position {forbidden.start() + 1})."
        )
    value = unicodedata.normalize("NFC", value.strip())
    if not value or len(value) > max_length:
        raise InvalidIdentifier(f"Must be 1 to {max_length} characters.")
    return value
