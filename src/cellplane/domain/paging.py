"""Keyset paging, independent of storage: where a page starts and what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PageSpec:
    """One page request: at most `size` items after `after` (or before `before`), else at `offset`."""

    size: int = DEFAULT_PAGE_SIZE
    page: int = 0
    after: str | None = None
    before: str | None = None

    @property
    def offset(self) -> int:
        """Only used for a bare `Page=N` without a token (the hosted API allows it)."""
        if self.after is not None or self.before is not None:
            return 0
        return self.page * self.size


@dataclass
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    has_previous: bool
    first_key: str | None = None
    last_key: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
