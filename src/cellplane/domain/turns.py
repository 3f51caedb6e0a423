"""Long loops that share the event loop: the API's requests, RADIUS answers and device packets wait for every step of
asyncio, so a loop over thousands of rows hands the loop back every so often. Here (the lowest layer) because the
store, the services and the network elements all have such loops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")


async def in_turns(items: Iterable[T], every: int) -> AsyncIterator[T]:
    """Each of `items`, giving the event loop a turn before each `every`-th one after the first batch."""
    for index, item in enumerate(items):
        if index and index % every == 0:
            await asyncio.sleep(0)
        yield item
