"""Every endpoint against moto-backed DynamoDB and S3 (moto's mock_aws, in process)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.catalog import Catalog, encode_cursor
from app.seed import SAMPLE_BOOKS, SampleBook, seed
from app.settings import Settings, load_settings

from .conftest import GOOD_ENV, catalog_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

ALB_HEALTH_CHECK_HOST = "10.0.1.23:8000"


def test_health_answers_any_host(client: TestClient) -> None:
    """/health is 200 with the task's private IP as Host, as the ALB health checker sends it."""
    response = client.get("/health", headers={"Host": ALB_HEALTH_CHECK_HOST})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


class _UnreachableCatalog:
    """A catalogue that fails on any use, as if AWS were unreachable."""

    def warm(self) -> None:
        """Warming never raises (the real one logs instead)."""

    def __getattr__(self, name: str) -> object:
        raise ConnectionError("AWS is unreachable")


def test_health_needs_no_dependency(settings: Settings) -> None:
    """/health answers 200 even when every dependency fails (and /ready is then 500-free 5xx)."""
    app = create_app(settings, catalog=_UnreachableCatalog())  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        assert test_client.get("/health").status_code == 200
        assert test_client.get("/books").status_code == 500


def test_unknown_host_is_refused(client: TestClient) -> None:
    """/books with a Host outside ALLOWED_HOSTS is a 400 with a JSON body."""
    response = client.get("/books", headers={"Host": "evil.example.net"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_host"


def test_allowed_host_with_port_is_accepted(client: TestClient) -> None:
    """A listed host name with a port is allowed (the port is ignored)."""
    assert client.get("/books", headers={"Host": "api.example.com:8000"}).status_code == 200


def test_ready_when_tables_and_bucket_exist(client: TestClient) -> None:
    """/ready is 200 when both tables and the bucket answer."""
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.parametrize(
    "missing", ["BOOKS_TABLE_NAME", "AUDIO_CHAPTERS_TABLE_NAME", "S3_BUCKET_NAME"]
)
def test_ready_is_503_when_a_dependency_is_missing(
    seeded: Catalog, clients: tuple[DynamoDBClient, S3Client], missing: str
) -> None:
    """/ready is 503 when a table or the bucket does not exist, and the body leaks nothing."""
    settings = load_settings({**GOOD_ENV, missing: "voj-missing-thing"})
    with TestClient(create_app(settings, catalog=catalog_for(clients, settings))) as test_client:
        response = test_client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    for secret in (
        "voj-missing-thing",
        settings.BOOKS_TABLE_NAME,
        settings.AUDIO_CHAPTERS_TABLE_NAME,
        settings.S3_BUCKET_NAME,
        settings.AWS_REGION,
        "ResourceNotFound",
        "404",
        "Traceback",
    ):
        assert secret not in response.text


def test_version(client: TestClient) -> None:
    """/version reports version, git sha, environment and an ISO start time."""
    body = client.get("/version").json()
    assert body["version"] == "1.2.3"
    assert body["git_sha"] == GOOD_ENV["GIT_SHA"]
    assert body["environment"] == "test"
    assert body["started_at"].endswith("+00:00")


def test_books_paginate_over_the_whole_catalogue(client: TestClient) -> None:
    """Following next_cursor with limit=5 visits every book exactly once, then stops."""
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/books", params=params).json()
        pages += 1
        assert len(body["items"]) <= 5
        seen += [book["book_id"] for book in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(book.book_id for book in SAMPLE_BOOKS)
    assert pages == -(-len(SAMPLE_BOOKS) // 5)


def test_books_page_of_exact_size_has_no_cursor(client: TestClient) -> None:
    """When the last page is exactly full, no cursor to an empty page is handed out."""
    body = client.get("/books", params={"limit": len(SAMPLE_BOOKS)}).json()
    assert len(body["items"]) == len(SAMPLE_BOOKS)
    assert body["next_cursor"] is None


def test_book_fields(client: TestClient) -> None:
    """A listed book carries its catalogue fields."""
    body = client.get("/books", params={"limit": 100}).json()
    moby = next(book for book in body["items"] if book["book_id"] == "moby-dick")
    assert moby == {
        "book_id": "moby-dick",
        "title": "Moby-Dick; or, The Whale",
        "author": "Herman Melville",
        "description": "Ishmael ships aboard the Pequod under the monomaniac Captain Ahab.",
        "language": "en",
        "published_year": 1851,
        "chapter_count": 3,
    }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJ4IjoxfQ"},  # base64 of {"x":1}: well-formed, but not ours
    ],
)
def test_books_invalid_query_is_422(client: TestClient, params: dict[str, object]) -> None:
    """A limit outside 1..100 or a cursor this service did not issue is a JSON 422."""
    response = client.get("/books", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["details"]


def test_cursor_round_trip_is_opaque(client: TestClient) -> None:
    """A cursor does not show the key in clear text, and the page after it follows the key."""
    cursor = encode_cursor("dracula")
    assert "dracula" not in cursor
    body = client.get("/books", params={"cursor": cursor, "limit": 100}).json()
    assert "dracula" not in [book["book_id"] for book in body["items"]]


def test_get_book(client: TestClient) -> None:
    """/books/{id} returns the book."""
    response = client.get("/books/frankenstein")
    assert response.status_code == 200
    assert response.json()["author"] == "Mary Shelley"


@pytest.mark.parametrize(
    "path",
    ["/books/no-such-book", "/books/no-such-book/chapters", "/books/moby-dick/chapters/99"],
)
def test_unknown_ids_are_404(client: TestClient, path: str) -> None:
    """Unknown books and chapters are a JSON 404."""
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/books/bad%20id",
        "/books/" + "x" * 129,
        "/books/moby-dick/chapters/0",
        "/books/moby-dick/chapters/one",
    ],
)
def test_invalid_path_parameters_are_422(client: TestClient, path: str) -> None:
    """Malformed book ids and chapter numbers are a JSON 422, never a lookup."""
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_chapters_are_in_chapter_order(clients: tuple[DynamoDBClient, S3Client]) -> None:
    """Chapters come back in numeric order (1, 2, 10), not string order."""
    dynamodb, s3 = clients
    settings = load_settings(
        {
            **GOOD_ENV,
            "BOOKS_TABLE_NAME": "ordered-books",
            "AUDIO_CHAPTERS_TABLE_NAME": "ordered-chapters",
            "S3_BUCKET_NAME": "ordered-audio",
        }
    )
    book = SampleBook("ordered", "Ordered", "A. N. Author", 2000, "en", "", ("x",) * 10)
    seed(
        dynamodb,
        s3,
        books_table=settings.BOOKS_TABLE_NAME,
        chapters_table=settings.AUDIO_CHAPTERS_TABLE_NAME,
        bucket=settings.S3_BUCKET_NAME,
        region=settings.AWS_REGION,
        create=True,
        books=(book,),
    )
    with TestClient(create_app(settings, catalog=catalog_for(clients, settings))) as test_client:
        body = test_client.get("/books/ordered/chapters").json()
    assert [chapter["chapter_number"] for chapter in body["items"]] == list(range(1, 11))


def test_chapter_list(client: TestClient) -> None:
    """/books/{id}/chapters lists the book's chapters with their titles."""
    body = client.get("/books/moby-dick/chapters").json()
    assert body["book_id"] == "moby-dick"
    assert [chapter["title"] for chapter in body["items"]] == [
        "Loomings",
        "The Carpet-Bag",
        "The Spouter-Inn",
    ]


def test_chapter_has_presigned_audio_url(
    client: TestClient, clients: tuple[DynamoDBClient, S3Client], settings: Settings
) -> None:
    """/books/{id}/chapters/{n} signs a GET for the chapter's object, valid for the setting."""
    body = client.get("/books/moby-dick/chapters/2").json()
    assert body["title"] == "The Carpet-Bag"
    assert body["expires_in"] == 120
    url = urlsplit(body["audio_url"])
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert "X-Amz-Signature" in query
    assert (
        "audio/moby-dick/002.wav" in url.path or "audio/moby-dick/002.wav" in url.netloc + url.path
    )
    _, s3 = clients
    head = s3.head_object(Bucket=settings.S3_BUCKET_NAME, Key="audio/moby-dick/002.wav")
    assert head["ContentType"] == "audio/wav"


def test_unknown_route_is_json_404(client: TestClient) -> None:
    """An unknown path is a JSON 404, not HTML."""
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


class _ExplodingCatalog:
    """A catalogue whose lookups fail with an internal detail that must not leak."""

    def warm(self) -> None:
        """Nothing to create."""

    def get_book(self, book_id: str) -> None:
        raise RuntimeError("connection string postgres://admin:hunter2@db")


def test_unhandled_error_is_json_500_without_detail(settings: Settings) -> None:
    """An unexpected exception becomes a JSON 500 with a request id and no internal detail."""
    app = create_app(settings, catalog=_ExplodingCatalog())  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/books/anything", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "internal error",
        "request_id": "req-500",
    }
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


def test_request_id_is_honoured(client: TestClient) -> None:
    """A well-formed X-Request-ID is echoed back and appears in error bodies."""
    response = client.get("/books/nope", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"


@pytest.mark.parametrize("incoming", [None, "", "bad id with spaces", "x" * 200])
def test_request_id_is_generated_when_absent_or_malformed(
    client: TestClient, incoming: str | None
) -> None:
    """Without a usable X-Request-ID the service generates one (32 hex digits)."""
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    generated = client.get("/books", headers=headers).headers["x-request-id"]
    assert generated != incoming
    assert len(generated) == 32
    int(generated, 16)


def test_access_log_is_json_with_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each request is logged as one JSON line carrying its request id, status and path."""
    from app.logs import configure_logging

    configure_logging("INFO")
    capsys.readouterr()
    client.get("/books/frankenstein", headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access
    assert access[-1]["request_id"] == "log-me"
    assert access[-1]["status"] == 200
    assert access[-1]["path"] == "/books/frankenstein"


def test_cors_listed_origin_gets_the_header(client: TestClient) -> None:
    """A request from an origin in CORS_ORIGINS gets Access-Control-Allow-Origin."""
    response = client.get("/books", headers={"Origin": "https://app.example.com"})
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


def test_cors_unlisted_origin_gets_no_header(client: TestClient) -> None:
    """A request from any other origin gets no CORS header."""
    response = client.get("/books", headers={"Origin": "https://evil.example.net"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("https://app.example.com", True), ("https://evil.example.net", False)],
)
def test_cors_preflight(client: TestClient, origin: str, allowed: bool) -> None:
    """A preflight from a listed origin is allowed; from an unlisted one it is not."""
    response = client.options(
        "/books",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed


def test_docs_are_off_in_production(seeded: Catalog) -> None:
    """Production serves no /docs or /openapi.json; other environments do."""
    production = load_settings({**GOOD_ENV, "ENVIRONMENT": "production"})
    with TestClient(create_app(production, catalog=seeded)) as test_client:
        assert test_client.get("/docs").status_code == 404
        assert test_client.get("/openapi.json").status_code == 404
    with TestClient(create_app(load_settings(GOOD_ENV), catalog=seeded)) as test_client:
        assert test_client.get("/docs").status_code == 200


def test_test_only_route_exists_only_in_test(seeded: Catalog) -> None:
    """The slow /_test/sleep route is served only when ENVIRONMENT=test."""
    for environment, status in (("test", 200), ("development", 404), ("production", 404)):
        settings = load_settings({**GOOD_ENV, "ENVIRONMENT": environment})
        with TestClient(create_app(settings, catalog=seeded)) as test_client:
            response = test_client.get("/_test/sleep", params={"seconds": 0})
            assert response.status_code == status, environment
