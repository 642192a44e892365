"""A tiny bank domain for unit tests of the tau2 evaluator: one table, a read, two writes."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from cove_async.domains import Tool, ToolKind, Toolset
from cove_async.errors import ToolCallError
from cove_async.sandbox import RecordKind, Sandbox, Schema, Snapshot
from cove_async.tau2 import (
    FunctionCall,
    Message,
    RewardType,
    Tau2Action,
    Tau2Criteria,
    Tau2Scenario,
    Tau2Task,
    TerminationReason,
    ToolCall,
    Trajectory,
)


class Account(msgspec.Struct, kw_only=True):
    account_id: str
    balance: float
    status: str


ACCOUNTS = RecordKind("accounts", Account, "account_id")


def _get(sandbox: Sandbox, account_id: str) -> Account:
    account = sandbox.get(ACCOUNTS, account_id)
    if account is None:
        raise ToolCallError("Account not found")
    return account


def _deposit(sandbox: Sandbox, account_id: str, amount: float) -> Account:
    account = sandbox.get_for_update(ACCOUNTS, account_id)
    if account is None:
        raise ToolCallError("Account not found")
    account.balance += amount
    return account


def _open(sandbox: Sandbox, account_id: str) -> Account:
    if sandbox.get(ACCOUNTS, account_id) is not None:
        raise ToolCallError("Account exists")
    account = Account(account_id=account_id, balance=0.0, status="open")
    sandbox.insert(ACCOUNTS, account)
    return account


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


TOOLSET = Toolset(
    "bank",
    [
        Tool("get_account", ToolKind.READ, "Read an account.", _schema({"account_id": {"type": "string"}}), _get),
        Tool(
            "deposit",
            ToolKind.WRITE,
            "Add money to an account.",
            _schema({"account_id": {"type": "string"}, "amount": {"type": "number"}}),
            _deposit,
        ),
        Tool("open_account", ToolKind.WRITE, "Open an account.", _schema({"account_id": {"type": "string"}}), _open),
    ],
    "BankTools",
)


def snapshot() -> Snapshot:
    """Two accounts: a1 holding 100.0 and a2 holding 5.0."""
    records = [
        Account(account_id="a1", balance=100.0, status="open"),
        Account(account_id="a2", balance=5.0, status="open"),
    ]
    return Snapshot.from_records(Schema([ACCOUNTS]), {"accounts": records})


def action(action_id: str, name: str, compare_args: tuple[str, ...] | None = None, **arguments: Any) -> Tau2Action:
    return Tau2Action(action_id=action_id, name=name, arguments=arguments, compare_args=compare_args)


def task(
    *actions: Tau2Action,
    basis: tuple[RewardType, ...] = (RewardType.DB,),
    communicate: tuple[str, ...] | None = None,
    nl: tuple[str, ...] | None = None,
    no_actions: bool = False,
) -> Tau2Task:
    criteria = Tau2Criteria(
        actions=None if no_actions else actions,
        communicate_info=communicate,
        nl_assertions=nl,
        reward_basis=basis,
    )
    return Tau2Task(id="t1", user_scenario=Tau2Scenario(instructions="help me"), evaluation_criteria=criteria)


class Conversation:
    """Builds a trajectory; each tool call is really executed on a private fork unless told otherwise."""

    def __init__(self, world: Snapshot) -> None:
        self.world = world.fork()
        self.messages: list[Message] = [Message(role="assistant", content="Hi! How can I help you today?")]
        self._next = 0

    def say(self, role: str, content: str) -> Conversation:
        self.messages.append(Message(role=role, content=content))  # type: ignore[arg-type]
        return self

    def call(self, name: str, *, answer: bool = True, recorded: str | None = None, **arguments: Any) -> Conversation:
        call_id = f"c{self._next}"
        self._next += 1
        call = ToolCall(id=call_id, function=FunctionCall(name=name, arguments=json.dumps(arguments)))
        self.messages.append(Message(role="assistant", tool_calls=(call,)))
        if answer:
            content = TOOLSET.execute(self.world, name, arguments).content if recorded is None else recorded
            self.messages.append(Message(role="tool", content=content, tool_call_id=call_id))
        return self

    def end(self, termination: TerminationReason = TerminationReason.USER_STOP) -> Trajectory:
        return Trajectory(messages=tuple(self.messages), termination=termination)
