"""Tool results as tau2 prints them, at msgspec's speed.

tau2 turns a result into text with ``json.dumps(model_dump(), default=str)``: separators
``", "`` and ``": "``, every character past ASCII escaped, floats as ``repr`` writes them.
Those bytes are what a model trained on our data must see at evaluation, so they are kept
exactly; but the stdlib encoder spends 12-25 us on a typical order or product, which made
rendering the largest single cost of a scripted episode.

msgspec writes the same text five times faster, with three known differences, each of which
sends a result down the stdlib path instead:

- non-ASCII characters (and DEL) come out raw rather than escaped: any byte past 0x7e;
- floats below 1e-4 or from 1e16 up are written as ``0.00001`` or ``1e16`` where ``repr`` says
  ``1e-05`` and ``1e+16``: any digit followed by ``e``, and any ``0.0000``;
- NaN and infinities become ``null``, which also stands for None everywhere, so they are found
  in the MessagePack encoding instead, where a float is a 0xcb byte and eight big-endian bytes
  whose exponent bits are all set for exactly these values.

The tests compare both paths on generated records and on the awkward values above.
"""

from __future__ import annotations

import json
import re

import msgspec

__all__ = ("render",)

_JSON = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()
# An exponent is a digit then ``e``; the pattern leads with the ``e`` so that the regex engine
# can skip ahead to each one (a character class first made the scan 15x slower). It may also
# match inside a string ("Model 3e"), which costs the stdlib path, nothing worse.
_EXPONENT = re.compile(rb"e(?<=[0-9]e)")
_NON_FINITE_FLOAT = re.compile(rb"\xcb[\x7f\xff][\xf0-\xff]")


def render(result: object) -> str:
    """The tool message text for ``result``, byte for byte as tau2 renders it."""
    if isinstance(result, str):
        return result
    if isinstance(result, bool | int | float):
        return str(result)
    try:
        text = msgspec.json.format(_JSON.encode(result), indent=0)
        exact = (
            text.isascii()
            and b"\x7f" not in text
            and b"0.0000" not in text
            and not _EXPONENT.search(text)
            and not _NON_FINITE_FLOAT.search(_MSGPACK.encode(result))
        )
    except (TypeError, OverflowError):  # beyond msgspec (huge ints, odd types): the stdlib decides
        exact = False
    return text.decode() if exact else _stdlib(result)


def _stdlib(result: object) -> str:
    if isinstance(result, list):
        return json.dumps([msgspec.to_builtins(item) for item in result], default=str)
    return json.dumps(msgspec.to_builtins(result), default=str)
