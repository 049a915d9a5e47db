"""The fair line in front of the embedded server (``rag.tiers.queue``), with no server: order, positions, leaving.

Each waiter is a task that records the positions it is told and when it is
granted; the test lets the event loop run (``settle``) and moves the line by
making the running request ``leave()``.
"""

from __future__ import annotations

import asyncio

import pytest

from rag.tiers.queue import FairQueue, Ticket


class Waiter:
    """A request in the line: the positions it was told, in order, and whether it got its slot."""

    def __init__(self, queue: FairQueue, name: str, granted: list[str]) -> None:
        self.name = name
        self.ticket: Ticket = queue.join()
        self.told: list[int] = []
        self.task = asyncio.create_task(self._wait(granted))

    async def _wait(self, granted: list[str]) -> None:
        async for ahead in self.ticket.positions():
            self.told.append(ahead)
        granted.append(self.name)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_request_into_an_empty_queue_goes_at_once_and_is_told_nothing() -> None:
    queue, granted = FairQueue(), []
    first = Waiter(queue, "a", granted)
    await settle()
    assert granted == ["a"] and first.told == [] and first.ticket.ahead == 0
    assert (queue.running, queue.waiting) == (1, 0)


@pytest.mark.asyncio
async def test_waiters_are_served_in_arrival_order_and_told_each_move_of_the_line() -> None:
    queue, granted = FairQueue(), []
    waiters = [Waiter(queue, name, granted) for name in "abcd"]
    await settle()
    assert granted == ["a"]
    assert [w.told for w in waiters[1:]] == [[1], [2], [3]]
    for n in range(1, 4):
        waiters[n - 1].ticket.leave()  # the running request ends: the next in line is sent
        await settle()
        assert granted == list("abcd"[: n + 1])
    assert [w.told for w in waiters] == [[], [1], [2, 1], [3, 2, 1]]  # every move said, never the same twice
    waiters[3].ticket.leave()
    assert (queue.running, queue.waiting) == (0, 0)


@pytest.mark.asyncio
async def test_a_newcomer_never_takes_a_slot_ahead_of_those_already_waiting() -> None:
    queue, granted = FairQueue(), []
    a, b = Waiter(queue, "a", granted), Waiter(queue, "b", granted)
    await settle()
    a.ticket.leave()  # the slot frees and, before b's task runs, a newcomer arrives
    c = Waiter(queue, "c", granted)
    await settle()
    assert granted == ["a", "b"] and c.told == [1]
    b.ticket.leave()
    await settle()
    assert granted == ["a", "b", "c"]


@pytest.mark.asyncio
async def test_a_waiter_that_leaves_moves_the_ones_behind_it_up_and_never_gets_the_slot() -> None:
    queue, granted = FairQueue(), []
    a, b, c = (Waiter(queue, name, granted) for name in "abc")
    await settle()
    b.task.cancel()  # the chat was stopped while it waited: the client's finally leaves the line
    b.ticket.leave()
    await settle()
    assert c.told == [2, 1]  # b left: c is next
    a.ticket.leave()
    await settle()
    assert granted == ["a", "c"] and b.task.cancelled()
    c.ticket.leave()
    assert (queue.running, queue.waiting) == (0, 0)


@pytest.mark.asyncio
async def test_leaving_twice_gives_back_one_slot() -> None:
    queue, granted = FairQueue(), []
    a, b, c = (Waiter(queue, name, granted) for name in "abc")
    await settle()
    a.ticket.leave()
    a.ticket.leave()  # idempotent: b runs, c still waits
    await settle()
    assert granted == ["a", "b"] and queue.running == 1 and c.ticket.ahead == 1


@pytest.mark.asyncio
async def test_with_two_slots_two_run_at_once_and_the_third_has_one_ahead() -> None:
    queue, granted = FairQueue(slots=2), []
    a, b, c, d = (Waiter(queue, name, granted) for name in "abcd")
    await settle()
    assert granted == ["a", "b"] and (c.told, d.told) == ([1], [2])
    b.ticket.leave()
    await settle()
    assert granted == ["a", "b", "c"] and d.told == [2, 1]


def test_a_queue_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="slots=0: a queue needs at least one slot"):
        FairQueue(slots=0)
