"""Page numbers for the lists that page (我的待办, 我的已办, 流程实例, 通知): which rows a page holds, and how
many pages there are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int
    total: int
    pages: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def to_dict(self) -> dict:
        return {"page": self.page, "per_page": self.per_page, "total": self.total, "pages": self.pages}


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill (one, even when there are none)."""
    return max(1, -(-total // per_page))


def paging(page: int, per_page: int, total: int) -> Paging:
    """The page asked for, or the last one when it is past the end (an old link)."""
    pages = page_count(total, per_page)
    return Paging(min(page, pages), per_page, total, pages)
