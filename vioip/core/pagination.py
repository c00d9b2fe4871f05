"""The API's page: ``{"count", "next", "previous", "results"}``, ``?page=`` and
``?page_size=`` (at most 500)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework import pagination


class CountSparingPaginator(Paginator):
    """Django's paginator without the ``COUNT(*)`` when the first page holds every row.

    The first page is what clients ask for (a schedule polled by the browser), and most
    lists fit on it. Its rows are fetched with one row more than a page holds: when that
    row is not there, the total is the number of rows on the page, which is what the count
    would have said. When it is there, the count is made as before. Every other page,
    and a page number that is not one, take Django's own path with its errors."""

    def page(self, number: Any) -> Page:
        if str(number) != "1" or self.orphans or "count" in self.__dict__:
            return super().page(number)
        rows = list(self.object_list[: self.per_page + 1])
        if len(rows) > self.per_page:
            return Page(rows[: self.per_page], 1, self)  # the count is made when asked
        if not rows and not self.allow_empty_first_page:
            return super().page(number)
        self.__dict__["count"] = len(rows)
        return Page(rows, 1, self)


class PageNumberPagination(pagination.PageNumberPagination):
    django_paginator_class = CountSparingPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
