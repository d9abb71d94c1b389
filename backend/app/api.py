"""``create_app(settings)``: the voj FastAPI application, built from explicit settings.

Routes: ``/health`` (liveness, answered by :mod:`app.edge`), ``/ready``, ``/version``, ``/books``,
``/books/{book_id}``, ``/books/{book_id}/chapters``, ``/books/{book_id}/chapters/{number}``.
Errors are JSON ``{"error": code, "message": text, "request_id": id}`` (a refused CORS preflight
included; a 405 also names the allowed methods in ``Allow``); no stack traces, no settings, no
AWS error text ever reach a response. ``/ready`` reuses its answer for ``READY_CACHE_SECONDS``.

When ``ENVIRONMENT=test`` (and only then) a hidden route ``GET /_test/sleep?seconds=N`` (N <= 10)
answers after N seconds; the graceful-shutdown test uses it as a slow in-flight request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.catalog import Catalog, InvalidCursorError
from app.edge import EdgeMiddleware
from app.logs import request_id_var
from app.models import Book, BookPage, ChapterAudio, ChapterList, Health, Readiness, Version
from app.settings import Settings

log = logging.getLogger("app.api")

BookId = Annotated[
    str,
    Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="Book id"),
]
ChapterNumber = Annotated[int, Path(ge=1, le=100_000, description="Chapter number (1-based)")]

_ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_request",
    503: "unavailable",
}


def _error(request: Request, status: int, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "error": _ERROR_CODES.get(status, "error"),
        "message": message,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status)


#: How long one /ready answer is reused: a burst of probes (or of abuse) costs at most three AWS
#: calls per process per this many seconds.
READY_CACHE_SECONDS = 5.0


class ReadinessCache:
    """The last readiness answer, reused for ``ttl`` seconds of ``clock`` (thread safe: sync
    routes run in a thread pool, and concurrent probes share one check)."""

    def __init__(
        self, check: Callable[[], bool], *, ttl: float, clock: Callable[[], float]
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[float, bool] | None = None

    def ready(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._answer is None or now - self._answer[0] >= self._ttl:
                self._answer = (now, self._check())
            return self._answer[1]


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, but a refused preflight is a JSON error with the request id
    like every other error (Starlette answers it in plain text)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        failed = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        return JSONResponse(
            {
                "error": "cors_refused",
                "message": f"CORS preflight refused ({failed} not allowed)",
                "request_id": request_id_var.get(),
            },
            status_code=response.status_code,
            headers={
                k: v
                for k, v in response.headers.items()
                if k.lower() not in ("content-length", "content-type")
            },
        )


def get_catalog(request: Request) -> Catalog:
    """The app's catalogue (a dependency; tests may override it or pass one to create_app)."""
    catalog: Catalog = request.app.state.catalog
    return catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


def create_app(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """Build the application. ``catalog`` defaults to one on real boto3 clients from settings;
    ``clock`` times the /ready cache (tests pass their own).

    Nothing here touches the network: clients connect on first use.
    """
    production = settings.ENVIRONMENT == "production"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Create the AWS clients in the background: /health answers meanwhile, and a request
        # that needs them waits for them.
        threading.Thread(target=app.state.catalog.warm, name="warm", daemon=True).start()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="voj",
        version=settings.version,
        description="Books and their audio chapters.",
        # The interactive docs are for people, not for production traffic.
        docs_url=None if production else "/docs",
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    app.state.settings = settings
    app.state.catalog = catalog if catalog is not None else Catalog.from_settings(settings)
    app.state.started_at = datetime.now(UTC).isoformat(timespec="seconds")

    readiness = ReadinessCache(
        lambda: all(app.state.catalog.readiness().values()),
        ttl=READY_CACHE_SECONDS,
        clock=clock,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(request, exc.status_code, str(exc.detail))
        # e.g. the router's 405 names the allowed methods in Allow (RFC 9110, 15.5.6)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg"))}
            for error in exc.errors()
        ]
        return _error(request, 422, "invalid request", details=details)

    @app.get("/health", response_model=Health, tags=["ops"])
    def health() -> Health:
        """Liveness: 200 whenever the process serves HTTP (answered before host checks)."""
        return Health(status="ok")  # pragma: no cover - app.edge answers first

    @app.get("/ready", response_model=Readiness, tags=["ops"])
    def ready() -> JSONResponse:
        """Readiness: 200 when both tables and the bucket answer, else 503 (no details). The
        answer is reused for READY_CACHE_SECONDS, so probes cannot amplify load on AWS."""
        if readiness.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable"}, status_code=503)

    @app.get("/version", response_model=Version, tags=["ops"])
    def version(request: Request) -> Version:
        """Version, git sha, environment and start time of this process."""
        return Version(
            version=settings.version,
            git_sha=settings.GIT_SHA,
            environment=settings.ENVIRONMENT,
            started_at=request.app.state.started_at,
        )

    @app.get("/books", response_model=BookPage, tags=["books"])
    def list_books(
        catalog: CatalogDep,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    ) -> BookPage:
        """A page of books; pass ``next_cursor`` back as ``cursor`` for the next one."""
        try:
            return catalog.list_books(limit=limit, cursor=cursor)
        except InvalidCursorError as exc:
            raise RequestValidationError(
                [{"loc": ("query", "cursor"), "msg": str(exc), "type": "value_error"}]
            ) from None

    @app.get("/books/{book_id}", response_model=Book, tags=["books"])
    def get_book(catalog: CatalogDep, book_id: BookId) -> Book:
        """One book."""
        book = catalog.get_book(book_id)
        if book is None:
            raise HTTPException(404, "book not found")
        return book

    @app.get("/books/{book_id}/chapters", response_model=ChapterList, tags=["books"])
    def list_chapters(catalog: CatalogDep, book_id: BookId) -> ChapterList:
        """The book's chapters in chapter order."""
        if catalog.get_book(book_id) is None:
            raise HTTPException(404, "book not found")
        return ChapterList(book_id=book_id, items=catalog.list_chapters(book_id))

    @app.get("/books/{book_id}/chapters/{number}", response_model=ChapterAudio, tags=["books"])
    def get_chapter(catalog: CatalogDep, book_id: BookId, number: ChapterNumber) -> ChapterAudio:
        """One chapter with a presigned URL for its audio."""
        chapter = catalog.get_chapter_audio(book_id, number)
        if chapter is None:
            raise HTTPException(404, "chapter not found")
        return chapter

    if settings.ENVIRONMENT == "test":

        @app.get("/_test/sleep", include_in_schema=False)
        async def sleep(seconds: Annotated[float, Query(ge=0, le=10)] = 1.0) -> dict[str, float]:
            """Test only: a slow request, for the graceful-shutdown test."""
            log.info("test sleep started", extra={"seconds": seconds})
            await asyncio.sleep(seconds)
            return {"slept": seconds}

    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.CORS_ORIGINS,
        allow_credentials=settings.CORS_ALLOW_CREDENTIALS,
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["Accept", "Content-Type", "Authorization", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
        max_age=600,
    )
    # Added last, so it is the outermost middleware: /health never meets the host check.
    app.add_middleware(EdgeMiddleware, allowed_hosts=settings.ALLOWED_HOSTS)
    return app
