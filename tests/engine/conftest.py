"""Fixtures for engine tests: a small retail world and a two-constraint task in it."""

from __future__ import annotations

import pytest

from cove_async.domains import get_domain
from cove_async.domains.retail import RetailWorldSize
from cove_async.sandbox import Snapshot
from cove_async.tasks import Task
from tests.verify.test_verifier import _cancel, _move, _task

RETAIL = get_domain("retail")
ORDERS = RETAIL.schema.kind("orders")


@pytest.fixture(scope="module")
def world() -> Snapshot:
    return RETAIL.generate_world(RetailWorldSize(users=40, orders=120), 11)


@pytest.fixture(scope="module")
def task(world: Snapshot) -> Task:
    users = RETAIL.schema.kind("users")
    for key in world.keys(users):
        user = world.load(users, key)
        assert user is not None
        pending = [o for k in user.orders if (o := world.load(ORDERS, k)) and o.status == "pending"]
        if len(pending) >= 2:
            return _task(user, _cancel(pending[0]), _move(pending[1]))
    raise AssertionError("no user with two pending orders")
