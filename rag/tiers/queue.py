"""A fair line in front of a model server that serves one request at a time: first come, first served.

The embedded server (``rag.tiers.embedded``) runs one completion at a time; a second
request would wait inside it without being told where it stands (or, with
llama-cpp-python's default ``interrupt_requests``, cut the running one short).
So the app's requests to it queue here, in arrival order, and each one knows how
many must finish before it is sent::

    queue = FairQueue(slots=1)
    ticket = queue.join()             # granted at once when a slot is free
    async for ahead in ticket.positions():
        ...                           # 2, then 1: tell the user; returns when granted
    try:
        ...                           # send the request, read its stream
    finally:
        ticket.leave()                # the slot goes to the next in line

Unlike ``asyncio.Semaphore``, a newcomer never takes a slot while others wait
(no barging), and a waiter can see its position. Pure asyncio, one event loop,
no I/O; ``rag.tiers.client.TierClient`` takes one as ``queue=``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

__all__ = ["FairQueue", "Ticket"]


class FairQueue:
    """``slots`` requests run at once; the rest wait in arrival order (see the module docstring).

    Raises ``ValueError`` for ``slots`` < 1. Use it from one event loop (the app's).
    """

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"slots={slots}: a queue needs at least one slot")
        self.slots = slots
        self.running = 0  # tickets holding a slot
        self._line: deque[Ticket] = deque()  # waiting, oldest first

    @property
    def waiting(self) -> int:
        return len(self._line)

    def join(self) -> Ticket:
        """A ticket at the end of the line; granted at once when a slot is free and nobody waits."""
        ticket = Ticket(self)
        self._line.append(ticket)
        self._advance()
        return ticket

    def ahead_of(self, ticket: Ticket) -> int:
        """How many requests must finish before ``ticket`` is sent: 0 once granted (or gone).

        With every slot busy, the first waiter has 1 ahead (the first slot to free is its),
        the second 2, and so on.
        """
        try:
            return self._line.index(ticket) + 1
        except ValueError:
            return 0

    def _leave(self, ticket: Ticket) -> None:
        if ticket.granted:
            self.running -= 1
        else:
            self._line.remove(ticket)
        self._advance()

    def _advance(self) -> None:
        """Hand free slots to the oldest waiters, then tell every waiter its line moved."""
        while self._line and self.running < self.slots:
            ticket = self._line.popleft()
            ticket.granted = True
            self.running += 1
            ticket._moved.set()
        for ticket in self._line:
            ticket._moved.set()


class Ticket:
    """One request's place in a ``FairQueue``: wait with ``positions()``, then ``leave()`` (always)."""

    def __init__(self, queue: FairQueue) -> None:
        self.queue = queue
        self.granted = False  # holds a slot
        self.left = False
        self._moved = asyncio.Event()

    @property
    def ahead(self) -> int:
        return self.queue.ahead_of(self)

    async def positions(self) -> AsyncIterator[int]:
        """``ahead`` each time it changes while this ticket waits (the first at once); ends when it is granted.

        Yields nothing for a ticket granted at once. Cancelling the waiter is fine: ``leave()`` then takes
        the ticket out of the line, and the ones behind it move up.
        """
        last: int | None = None
        while not self.granted and not self.left:
            self._moved.clear()
            ahead = self.ahead
            if ahead != last:
                last = ahead
                yield ahead
            if not self.granted:
                await self._moved.wait()  # returns at once when the line moved while the caller had the position

    def leave(self) -> None:
        """Give the slot back (or leave the line unserved); the next in line is granted. Idempotent."""
        if self.left:
            return
        self.left = True
        self.queue._leave(self)
