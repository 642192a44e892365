"""tau2's grading rules, one component at a time, on a tiny bank domain."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cove_async.domains import tau2_hash
from cove_async.errors import ConfigError
from cove_async.sandbox import Snapshot
from cove_async.tau2 import (
    Judge,
    Message,
    RewardType,
    Status,
    Tau2Hasher,
    Tau2Task,
    Tau2Verdict,
    TerminationReason,
    Trajectory,
    check_actions,
    check_communicate,
    evaluate_tau2,
)
from tests.tau2._micro import TOOLSET, Conversation, action, snapshot, task

pytestmark = pytest.mark.anyio

DB = RewardType.DB
COMMUNICATE = RewardType.COMMUNICATE
NL = RewardType.NL_ASSERTION


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return snapshot()


class FakeJudge:
    """A judge with canned verdicts that records what it was asked."""

    def __init__(self, verdicts: Sequence[bool]) -> None:
        self.verdicts = list(verdicts)
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    async def judge(self, messages: Sequence[Message], assertions: Sequence[str]) -> Sequence[bool]:
        self.calls.append((len(messages), tuple(assertions)))
        return self.verdicts


async def _grade(
    world: Snapshot,
    t: Tau2Task,
    trajectory: Trajectory,
    *,
    judge: Judge | None = None,
    hasher: Tau2Hasher | None = None,
) -> Tau2Verdict:
    return await evaluate_tau2(t, trajectory, world, TOOLSET, judge=judge, hasher=hasher)


# --- DB -------------------------------------------------------------------------------------------

DEPOSIT_10 = task(action("0", "get_account", account_id="a1"), action("1", "deposit", account_id="a1", amount=10.0))


async def test_same_end_state_by_another_path_scores_1(world: Snapshot) -> None:
    trajectory = (
        Conversation(world).call("deposit", account_id="a1", amount=4.0).call("deposit", account_id="a1", amount=6.0)
    )
    verdict = await _grade(world, DEPOSIT_10, trajectory.end())
    assert verdict.db.status is Status.PASS
    assert verdict.reward == 1.0
    assert verdict.db.replayed_writes == 2


async def test_extra_successful_write_scores_0(world: Snapshot) -> None:
    trajectory = (
        Conversation(world)
        .call("deposit", account_id="a1", amount=10.0)
        .call("deposit", account_id="a2", amount=0.5)
        .end()
    )
    verdict = await _grade(world, DEPOSIT_10, trajectory)
    assert verdict.db.status is Status.FAIL
    assert (verdict.reward, verdict.db_reward) == (0.0, 0.0)
    assert any(r.startswith("DB:") for r in verdict.reasons)


async def test_failed_writes_reads_and_unknown_tools_change_nothing(world: Snapshot) -> None:
    trajectory = (
        Conversation(world)
        .call("get_account", account_id="a1")
        .call("deposit", account_id="nope", amount=3.0)
        .call("withdraw_everything", account_id="a1")
        .call("deposit", account_id="a1", amount=10.0)
        .end()
    )
    verdict = await _grade(world, DEPOSIT_10, trajectory)
    assert verdict.reward == 1.0
    assert verdict.db.replayed_writes == 2  # the failed deposit and the good one; no read, no unknown name


async def test_write_without_a_tool_result_never_ran_and_is_not_replayed(world: Snapshot) -> None:
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0, answer=False).end()
    verdict = await _grade(world, DEPOSIT_10, trajectory)
    assert verdict.db.reward == 0.0
    assert verdict.db.unanswered_writes == ("c0",)
    assert verdict.db.replayed_writes == 0


async def test_replayed_output_differing_from_the_recorded_one_is_reported(world: Snapshot) -> None:
    recorded = '{"account_id": "a1", "balance": 999.0, "status": "open"}'
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0, recorded=recorded).end()
    verdict = await _grade(world, DEPOSIT_10, trajectory)
    assert verdict.db.replay_mismatches == ("c0",)
    assert verdict.reward == 1.0  # the replayed state still decides DB
    assert any("other outputs" in r for r in verdict.reasons)


async def test_recorded_output_equal_as_json_is_not_a_mismatch(world: Snapshot) -> None:
    recorded = '{"status": "open", "balance": 110.0, "account_id": "a1"}'
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0, recorded=recorded).end()
    verdict = await _grade(world, DEPOSIT_10, trajectory)
    assert verdict.db.replay_mismatches == ()


async def test_golden_writes_that_fail_are_ignored_but_listed(world: Snapshot) -> None:
    t = task(action("0", "deposit", account_id="ghost", amount=1.0), action("1", "open_account", account_id="a3"))
    trajectory = Conversation(world).call("open_account", account_id="a3").end()
    verdict = await _grade(world, t, trajectory)
    assert verdict.reward == 1.0
    assert verdict.db.failed_gold_writes == ("0",)


async def test_empty_golden_actions_demand_an_unchanged_world(world: Snapshot) -> None:
    quiet = await _grade(world, task(), Conversation(world).call("get_account", account_id="a1").end())
    busy = await _grade(world, task(), Conversation(world).call("open_account", account_id="a9").end())
    assert (quiet.reward, busy.reward) == (1.0, 0.0)


async def test_null_golden_actions_skip_the_db_replay(world: Snapshot) -> None:
    verdict = await _grade(
        world, task(no_actions=True), Conversation(world).call("open_account", account_id="a9").end()
    )
    assert verdict.db.reward == 1.0
    assert verdict.db.hash_kind is None


async def test_tau2_hashes_give_the_same_verdicts_and_equal_tau2_hash_of_the_export(world: Snapshot) -> None:
    hasher = Tau2Hasher(world)
    good = Conversation(world).call("open_account", account_id="a0").call("deposit", account_id="a0", amount=2.0)
    bad = Conversation(world).call("open_account", account_id="a0")
    t = task(action("0", "open_account", account_id="a0"), action("1", "deposit", account_id="a0", amount=2.0))
    for conversation, expected in ((good, 1.0), (bad, 0.0)):
        fast = await _grade(world, t, conversation.end())
        exact = await _grade(world, t, conversation.end(), hasher=hasher)
        assert fast.db.hash_kind == "changes"
        assert exact.db.hash_kind == "tau2"
        assert fast.db_reward == exact.db_reward == expected
        # The hasher's digest is tau2's hash of the whole exported state (new record included).
        assert exact.db.predicted_hash == tau2_hash(conversation.world.export())
    assert hasher.hash(world.fork()) == tau2_hash(world.fork().export())


# --- COMMUNICATE ----------------------------------------------------------------------------------


def _said(*assistant: str, user: str = "") -> list[Message]:
    return [Message(role="user", content=user), *(Message(role="assistant", content=a) for a in assistant)]


@pytest.mark.parametrize(
    ("info", "said", "met"),
    [
        ("1628.00", _said("The refund is $1,628.00."), True),  # commas in the message are dropped
        ("Refund Of $50", _said("a REFUND of $50 is due"), True),  # case-insensitive
        ("1,628", _said("The refund is $1,628."), False),  # ...but the info keeps its comma, as in tau2
        ("hat001", _said("no flight here", user="HAT001"), False),  # only the agent's messages count
        ("x", _said("   "), False),
    ],
)
def test_communicate_matching(info: str, said: list[Message], met: bool) -> None:
    result = check_communicate(task(communicate=(info,), basis=(DB, COMMUNICATE)), said)
    assert [c.met for c in result.checks] == [met]
    assert result.reward == (1.0 if met else 0.0)


def test_communicate_needs_every_string_and_passes_an_empty_list() -> None:
    said = _said("Your balance is 100.", "Goodbye")
    both = check_communicate(task(communicate=("balance is 100", "goodbye"), basis=(DB, COMMUNICATE)), said)
    one = check_communicate(task(communicate=("balance is 100", "refund"), basis=(DB, COMMUNICATE)), said)
    empty = check_communicate(task(communicate=(), basis=(DB, COMMUNICATE)), said)
    assert (both.reward, one.reward, empty.reward) == (1.0, 0.0, 1.0)


async def test_communicate_gates_the_reward_only_when_in_the_basis(world: Snapshot) -> None:
    trajectory = Conversation(world).say("assistant", "All done.").end()
    gated = await _grade(world, task(communicate=("refund",), basis=(DB, COMMUNICATE)), trajectory)
    diagnostic = await _grade(world, task(communicate=("refund",), basis=(DB,)), trajectory)
    assert gated.reward == 0.0
    assert any(r.startswith("COMMUNICATE") for r in gated.reasons)
    assert diagnostic.reward == 1.0
    assert diagnostic.communicate.status is Status.FAIL


# --- termination gate -----------------------------------------------------------------------------


@pytest.mark.parametrize("termination", list(TerminationReason))
async def test_only_user_or_agent_stop_can_score(world: Snapshot, termination: TerminationReason) -> None:
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0).end(termination)
    verdict = await _grade(world, DEPOSIT_10, trajectory)
    scores = termination in (TerminationReason.USER_STOP, TerminationReason.AGENT_STOP)
    assert verdict.gate_passed is scores
    assert verdict.reward == verdict.db_reward == (1.0 if scores else 0.0)
    assert verdict.db.status is Status.PASS  # the components are still reported
    assert any(termination.value in r for r in verdict.reasons) is not scores


# --- NL_ASSERTION ---------------------------------------------------------------------------------

NL_TASK = task(
    action("0", "deposit", account_id="a1", amount=10.0), basis=(DB, NL), nl=("Agent confirms", "Agent is polite")
)


async def test_nl_without_a_judge_is_not_evaluated_and_the_reward_unknown(world: Snapshot) -> None:
    verdict = await _grade(world, NL_TASK, Conversation(world).call("deposit", account_id="a1", amount=10.0).end())
    assert verdict.nl_assertions.status is Status.NOT_EVALUATED
    assert verdict.reward is None
    assert verdict.success is None
    assert verdict.db_reward == 1.0
    assert any("no judge" in r for r in verdict.reasons)


async def test_nl_unknown_does_not_hide_a_db_failure(world: Snapshot) -> None:
    verdict = await _grade(world, NL_TASK, Conversation(world).end())
    assert verdict.reward == 0.0


async def test_nl_judge_decides_the_reward(world: Snapshot) -> None:
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0).end()
    yes, mixed = FakeJudge([True, True]), FakeJudge([True, False])
    passed = await _grade(world, NL_TASK, trajectory, judge=yes)
    failed = await _grade(world, NL_TASK, trajectory, judge=mixed)
    assert (passed.reward, failed.reward) == (1.0, 0.0)
    assert yes.calls == [(len(trajectory.messages), ("Agent confirms", "Agent is polite"))]
    assert [c.met for c in failed.nl_assertions.checks] == [True, False]
    assert any("Agent is polite" in r for r in failed.reasons)


async def test_a_short_judge_reply_is_not_a_pass(world: Snapshot) -> None:
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0).end()
    verdict = await _grade(world, NL_TASK, trajectory, judge=FakeJudge([]))
    assert verdict.reward is None
    assert verdict.nl_assertions.status is Status.NOT_EVALUATED


async def test_judge_is_not_called_when_the_reward_cannot_depend_on_it(world: Snapshot) -> None:
    judge = FakeJudge([True, True])
    deposit = Conversation(world).call("deposit", account_id="a1", amount=10.0)
    not_in_basis = task(action("0", "deposit", account_id="a1", amount=10.0), basis=(DB,), nl=("Agent confirms",))
    no_assertions = task(action("0", "deposit", account_id="a1", amount=10.0), basis=(DB, NL), nl=())
    outside = await _grade(world, not_in_basis, deposit.end(), judge=judge)
    none = await _grade(world, no_assertions, deposit.end(), judge=judge)
    gated = await _grade(world, NL_TASK, deposit.end(TerminationReason.MAX_STEPS), judge=judge)
    assert judge.calls == []
    assert (outside.reward, none.reward, gated.reward) == (1.0, 1.0, 0.0)  # tau2: no assertions score 1


# --- ACTION ---------------------------------------------------------------------------------------


async def test_actions_are_a_diagnostic_matched_by_name_and_compare_args(world: Snapshot) -> None:
    t = task(
        action("0", "get_account", account_id="a1"),
        action("1", "deposit", account_id="a1", amount=10.0),
        action("2", "get_account", compare_args=(), account_id="zzz"),
        action("3", "deposit", compare_args=("account_id",), account_id="a2", amount=1.0),
    )
    trajectory = (
        Conversation(world)
        .call("get_account", account_id="a2")
        .call("deposit", account_id="a1", amount=10.0)
        .call("deposit", account_id="a2", amount=7.0)
        .end()
    )
    verdict = await _grade(world, t, trajectory)
    assert [c.matched for c in verdict.actions.checks] == [False, True, True, True]
    assert verdict.actions.reward == 0.75
    assert verdict.actions.status is Status.FAIL
    assert verdict.reward == 0.0  # DB differs (a2 got 7.0, not 1.0); ACTION itself is not in the basis


async def test_unmatched_actions_do_not_lower_a_db_pass(world: Snapshot) -> None:
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0).end()
    verdict = await _grade(world, DEPOSIT_10, trajectory)  # the golden read was never made
    assert verdict.actions.status is Status.FAIL
    assert verdict.reward == 1.0


async def test_action_in_the_basis_multiplies_the_matched_share(world: Snapshot) -> None:
    t = task(
        action("0", "get_account", account_id="a1"),
        action("1", "deposit", account_id="a1", amount=10.0),
        basis=(DB, RewardType.ACTION),
    )
    trajectory = Conversation(world).call("deposit", account_id="a1", amount=10.0).end()
    verdict = await _grade(world, t, trajectory)
    assert verdict.reward == 0.5


async def test_env_assertion_rewards_are_refused(world: Snapshot) -> None:
    with pytest.raises(ConfigError, match="ENV_ASSERTION"):
        await _grade(world, task(basis=(DB, RewardType.ENV_ASSERTION)), Conversation(world).end())


def test_action_without_compare_args_compares_only_the_arguments_the_call_has() -> None:
    """tau2 takes the argument names from the call, so a call omitting one still matches (kept for parity)."""
    t = task(action("0", "deposit", account_id="a1", amount=10.0))
    partial = Conversation(snapshot()).call("deposit", account_id="a1").messages
    wrong = Conversation(snapshot()).call("deposit", account_id="a1", amount=9.0).messages
    extra = Conversation(snapshot()).call("deposit", account_id="a1", amount=10.0, note="x").messages
    assert [check_actions(t, m).reward for m in (partial, wrong, extra)] == [1.0, 0.0, 0.0]
