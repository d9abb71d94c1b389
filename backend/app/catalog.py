"""The read side of the books catalogue, on the two DynamoDB tables and the audio bucket.

Tables (as in the seed):
- books: hash key ``book_id`` (S);
- audio chapters: hash key ``book_id`` (S), range key ``chapter_number`` (N), plus
  ``audio_key``, the S3 key of the chapter's audio object.

:class:`Catalog` receives a ``connect`` function returning its two boto3 clients and calls it
once, on first use or from :meth:`Catalog.warm` (which the app runs in a background thread at
startup). :func:`make_clients` is where the service creates them. boto3 and botocore are imported
there too, not at module import: they cost about 0.6 s, which would otherwise sit between a new
task starting and its first healthy ``/health``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.models import Book, BookPage, Chapter, ChapterAudio
from app.settings import Settings

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_s3.client import S3Client

    Clients = tuple[DynamoDBClient, S3Client]

log = logging.getLogger("app.catalog")


class InvalidCursorError(ValueError):
    """A pagination cursor that this service did not issue."""


def encode_cursor(book_id: str) -> str:
    """An opaque cursor for "the page after ``book_id``"."""
    raw = json.dumps({"after": book_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The ``book_id`` inside ``cursor``; :class:`InvalidCursorError` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("cursor is not valid") from exc
    if not isinstance(data, dict) or set(data) != {"after"}:
        raise InvalidCursorError("cursor is not valid")
    after = data["after"]
    if not isinstance(after, str) or not after:
        raise InvalidCursorError("cursor is not valid")
    return after


@functools.cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def _plain(item: Mapping[str, AttributeValueTypeDef]) -> dict[str, Any]:
    deserializer = _deserializer()
    values: dict[str, Any] = {}
    for key, value in item.items():
        decoded = deserializer.deserialize(value)
        # Numbers come back as Decimal; our models hold ints.
        if isinstance(decoded, Decimal):
            decoded = int(decoded)
        values[key] = decoded
    return values


class Catalog:
    """Books and chapters from DynamoDB, chapter audio URLs from S3."""

    def __init__(
        self,
        *,
        connect: Callable[[], Clients],
        books_table: str,
        chapters_table: str,
        bucket: str,
        presign_expiry: int,
    ) -> None:
        self._connect = connect
        self._clients: Clients | None = None
        self._lock = threading.Lock()
        self.books_table = books_table
        self.chapters_table = chapters_table
        self.bucket = bucket
        self.presign_expiry = presign_expiry

    def _get_clients(self) -> Clients:
        with self._lock:
            if self._clients is None:
                self._clients = self._connect()
            return self._clients

    @property
    def dynamodb(self) -> DynamoDBClient:
        return self._get_clients()[0]

    @property
    def s3(self) -> S3Client:
        return self._get_clients()[1]

    def warm(self) -> None:
        """Create the clients now (imports boto3, loads service models); never raises."""
        try:
            self._get_clients()
        except Exception:
            log.exception("could not create AWS clients; will retry on first use")

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        return cls(
            connect=lambda: make_clients(settings),
            books_table=settings.BOOKS_TABLE_NAME,
            chapters_table=settings.AUDIO_CHAPTERS_TABLE_NAME,
            bucket=settings.S3_BUCKET_NAME,
            presign_expiry=settings.PRESIGN_EXPIRY_SECONDS,
        )

    def list_books(self, *, limit: int, cursor: str | None) -> BookPage:
        """One page of at most ``limit`` books, in the table's (stable) scan order."""
        kwargs: dict[str, Any] = {"TableName": self.books_table, "Limit": limit}
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = {"book_id": {"S": decode_cursor(cursor)}}
        items: list[Book] = []
        last: str | None = None
        # A scan page can hold fewer than Limit items; keep reading until the page is full.
        while True:
            response = self.dynamodb.scan(**kwargs)
            for item in response.get("Items", []):
                items.append(Book.model_validate(_plain(item)))
            start = response.get("LastEvaluatedKey")
            if start is None:
                last = None
                break
            last = str(_plain(start)["book_id"])
            if len(items) >= limit:
                break
            kwargs["ExclusiveStartKey"] = start
            kwargs["Limit"] = limit - len(items)
        if last is not None and len(items) == limit:
            # DynamoDB reports a LastEvaluatedKey when a page ends exactly at the table's end;
            # peeking once avoids handing out a cursor to an empty page.
            probe = self.dynamodb.scan(
                TableName=self.books_table,
                Limit=1,
                ExclusiveStartKey={"book_id": {"S": last}},
                ProjectionExpression="book_id",
            )
            if not probe.get("Items"):
                last = None
        return BookPage(items=items, next_cursor=encode_cursor(last) if last else None)

    def get_book(self, book_id: str) -> Book | None:
        response = self.dynamodb.get_item(
            TableName=self.books_table, Key={"book_id": {"S": book_id}}
        )
        item = response.get("Item")
        return Book.model_validate(_plain(item)) if item else None

    def list_chapters(self, book_id: str) -> list[Chapter]:
        """The book's chapters in chapter order (the table's range key)."""
        kwargs: dict[str, Any] = {
            "TableName": self.chapters_table,
            "KeyConditionExpression": "book_id = :b",
            "ExpressionAttributeValues": {":b": {"S": book_id}},
            "ScanIndexForward": True,
        }
        chapters: list[Chapter] = []
        while True:
            response = self.dynamodb.query(**kwargs)
            chapters.extend(
                Chapter.model_validate(_plain(item)) for item in response.get("Items", [])
            )
            start = response.get("LastEvaluatedKey")
            if not start:
                return chapters
            kwargs["ExclusiveStartKey"] = start

    def get_chapter_audio(self, book_id: str, number: int) -> ChapterAudio | None:
        """The chapter with a presigned URL for its audio object, or None if unknown."""
        response = self.dynamodb.get_item(
            TableName=self.chapters_table,
            Key={"book_id": {"S": book_id}, "chapter_number": {"N": str(number)}},
        )
        item = response.get("Item")
        if not item:
            return None
        values = _plain(item)
        url = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": str(values["audio_key"])},
            ExpiresIn=self.presign_expiry,
        )
        return ChapterAudio.model_validate(
            {**values, "audio_url": url, "expires_in": self.presign_expiry}
        )

    def readiness(self) -> dict[str, bool]:
        """Whether each dependency answers: both tables (DescribeTable) and the bucket.

        The three checks run at once, so an unreachable endpoint costs one check's retries,
        not three.
        """
        checks: dict[str, tuple[Callable[..., object], dict[str, str]]] = {
            "books_table": (self.dynamodb.describe_table, {"TableName": self.books_table}),
            "chapters_table": (self.dynamodb.describe_table, {"TableName": self.chapters_table}),
            "bucket": (self.s3.head_bucket, {"Bucket": self.bucket}),
        }
        with ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="ready") as pool:
            futures = {
                name: pool.submit(_answers, name, call, **params)
                for name, (call, params) in checks.items()
            }
            return {name: future.result() for name, future in futures.items()}


def _answers(check: str, call: Callable[..., object], **params: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        call(**params)
    except (ClientError, BotoCoreError) as exc:
        # The log (not the response) says which dependency failed and how.
        log.warning("readiness check failed", extra={"check": check, "error": str(exc)})
        return False
    return True


def make_clients(settings: Settings) -> tuple[DynamoDBClient, S3Client]:
    """The service's two boto3 clients: short timeouts, standard retries, optional endpoint.

    Creating a client does no network I/O; credentials are resolved on the first call.
    """
    import boto3
    from botocore.config import Config

    session = boto3.Session(region_name=settings.AWS_REGION)
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
    )
    # A local endpoint (moto, the sandbox) is addressed by IP: use path-style URLs there.
    s3_config = config.merge(
        Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if settings.AWS_ENDPOINT_URL else "auto"},
        )
    )
    endpoint = settings.AWS_ENDPOINT_URL
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=config)
    s3 = session.client("s3", endpoint_url=endpoint, config=s3_config)
    return dynamodb, s3
