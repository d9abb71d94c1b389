"""Response bodies of the API (pydantic models, also the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Book(_Frozen):
    book_id: str
    title: str
    author: str
    description: str = ""
    language: str = "en"
    published_year: int | None = None
    chapter_count: int = 0


class BookPage(_Frozen):
    items: list[Book]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; ``null`` on the last page."""


class Chapter(_Frozen):
    book_id: str
    chapter_number: int
    title: str
    duration_seconds: int | None = None


class ChapterList(_Frozen):
    book_id: str
    items: list[Chapter]


class ChapterAudio(Chapter):
    audio_url: str
    """A presigned GET URL for the chapter's audio object."""
    expires_in: int
    """Seconds the URL stays valid."""


class Health(_Frozen):
    status: str


class Readiness(_Frozen):
    status: str
    """"ready" (200) or "unavailable" (503); which dependency failed is only in the logs."""


class Version(_Frozen):
    version: str
    git_sha: str | None
    environment: str
    started_at: str
