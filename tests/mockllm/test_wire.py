"""Request decoding details: the tool-list cache."""

from __future__ import annotations

import pytest

from cove_async.mockllm._wire import RequestRejected, ToolsCache


def test_tool_lists_are_decoded_once_and_the_cache_stays_bounded() -> None:
    cache = ToolsCache(capacity=2)
    first = cache.get(b'[{"type": "function"}]')
    assert first == ({"type": "function"},)
    assert cache.get(b'[{"type": "function"}]') is first
    assert cache.get(b"null") is None
    cache.get(b"[]")  # a third list: the cache starts over
    assert cache.get(b'[{"type": "function"}]') is not first
    with pytest.raises(RequestRejected, match="tools must be a list"):
        cache.get(b'"get_order"')
