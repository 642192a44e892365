"""The stand-in tokenizer: ids match counts, same text same ids, logprobs well formed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cove_async.chat import Message, tool_exchange
from cove_async.mockllm._tokens import (
    VOCAB_SIZE,
    completion_text,
    count_tokens,
    logprobs_content,
    prompt_text,
    token_ids,
)


@given(st.text(max_size=300), st.booleans())
def test_ids_match_the_count(text: str, completion: bool) -> None:
    ids = token_ids(text, completion=completion)
    assert len(ids) == count_tokens(text, completion=completion)
    assert ids == token_ids(text, completion=completion)
    assert all(0 <= i < VOCAB_SIZE for i in ids)


def test_counts_are_a_quarter_of_the_characters() -> None:
    assert count_tokens("") == 0
    assert count_tokens("", completion=True) == 1  # the end-of-sequence token
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2


def test_prompt_covers_tools_roles_and_tool_calls() -> None:
    call, result = tool_exchange("c1", "get_user", '{"user_id": "u1"}', "found")
    messages = [Message(role="system", content="be nice"), Message(role="user", content="hi"), call, result]
    tools = '[{"type": "function", "function": {"name": "get_user"}}]'
    text = prompt_text(messages, tools)
    assert text.startswith(tools + "<|system|>")
    for piece in ("<|system|>be nice", "<|user|>hi", 'get_user{"user_id": "u1"}', "<|tool|>found"):
        assert piece in text
    assert text.endswith("<|assistant|>")
    assert count_tokens(text) > count_tokens(prompt_text(messages, ""))


def test_completion_text_includes_calls() -> None:
    call, _ = tool_exchange("c1", "f", "{}", "")
    assert completion_text("ok", call.tool_calls) == "okf{}"
    assert completion_text(None, ()) == ""


def test_logprobs_list_one_entry_per_token() -> None:
    text = "hello there, world"
    content = logprobs_content(text, top_logprobs=3, as_token_ids=False)
    assert len(content) == count_tokens(text, completion=True)
    assert "".join(entry["token"] for entry in content) == text
    for entry in content:
        assert -1.0 <= entry["logprob"] < 0
        assert len(entry["top_logprobs"]) == 3
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert [t["logprob"] for t in entry["top_logprobs"]] == sorted(
            (t["logprob"] for t in entry["top_logprobs"]), reverse=True
        )
    as_ids = logprobs_content(text, top_logprobs=0, as_token_ids=True)
    assert [e["token"] for e in as_ids] == [f"token_id:{i}" for i in token_ids(text, completion=True)]
    assert all(e["top_logprobs"] == [] for e in as_ids)
