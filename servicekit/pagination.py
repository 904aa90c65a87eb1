"""Limit/offset pagination shared by every list operation."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

# The largest integer SQLite (64-bit signed) and PostgreSQL (bigint) both take; a bigger bound parameter is an
# OverflowError in the driver, so every integer a request binds into a query is capped here.
SQL_INT_MAX = 2**63 - 1


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    offset: Annotated[int, Query(ge=0, le=SQL_INT_MAX, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: list[T], total: int, page: PageParams) -> Page[T]:
        """The answer to `page`: its items, out of `total`."""
        return cls(items=items, total=total, limit=page.limit, offset=page.offset)
