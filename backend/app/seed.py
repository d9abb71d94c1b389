"""Load sample books, chapters and audio objects into DynamoDB and S3.

Works against any endpoint: real AWS, moto, or the rollout sandbox (``--endpoint-url`` or
``AWS_ENDPOINT_URL``). Idempotent: items and objects are overwritten with the same content, and
``--create`` makes the tables and bucket only when they are missing.

    python -m app.seed --create            # names from the environment, as the service reads them
    python -m app.seed --endpoint-url http://127.0.0.1:5000 --books-table voj-books ...
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import wave
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client


@dataclass(frozen=True)
class SampleBook:
    book_id: str
    title: str
    author: str
    published_year: int
    language: str
    description: str
    chapters: tuple[str, ...]


SAMPLE_BOOKS: tuple[SampleBook, ...] = (
    SampleBook(
        "pride-and-prejudice",
        "Pride and Prejudice",
        "Jane Austen",
        1813,
        "en",
        "Elizabeth Bennet and Mr Darcy misjudge each other, at length.",
        ("Chapter 1", "Chapter 2", "Chapter 3"),
    ),
    SampleBook(
        "moby-dick",
        "Moby-Dick; or, The Whale",
        "Herman Melville",
        1851,
        "en",
        "Ishmael ships aboard the Pequod under the monomaniac Captain Ahab.",
        ("Loomings", "The Carpet-Bag", "The Spouter-Inn"),
    ),
    SampleBook(
        "alice-in-wonderland",
        "Alice's Adventures in Wonderland",
        "Lewis Carroll",
        1865,
        "en",
        "A girl follows a white rabbit down a hole.",
        ("Down the Rabbit-Hole", "The Pool of Tears", "A Caucus-Race and a Long Tale"),
    ),
    SampleBook(
        "frankenstein",
        "Frankenstein; or, The Modern Prometheus",
        "Mary Shelley",
        1818,
        "en",
        "A scientist makes a creature and flees from it.",
        ("Letter 1", "Letter 2", "Chapter 1"),
    ),
    SampleBook(
        "the-time-machine",
        "The Time Machine",
        "H. G. Wells",
        1895,
        "en",
        "A Victorian inventor travels to the year 802,701.",
        ("Introduction", "The Machine", "The Time Traveller Returns"),
    ),
    SampleBook(
        "les-miserables",
        "Les Misérables",
        "Victor Hugo",
        1862,
        "fr",
        "Jean Valjean, released from prison, tries to live an honest life.",
        ("Monsieur Myriel", "Monsieur Myriel devient Monseigneur Bienvenu"),
    ),
    SampleBook(
        "dracula",
        "Dracula",
        "Bram Stoker",
        1897,
        "en",
        "Jonathan Harker travels to Transylvania on business.",
        ("Jonathan Harker's Journal", "Jonathan Harker's Journal, continued"),
    ),
    SampleBook(
        "the-odyssey",
        "The Odyssey",
        "Homer",
        -700,
        "en",
        "Odysseus takes ten years to get home from Troy.",
        ("Book I", "Book II", "Book III", "Book IV"),
    ),
    SampleBook(
        "war-and-peace",
        "War and Peace",
        "Leo Tolstoy",
        1869,
        "en",
        "Russian society through the Napoleonic wars.",
        ("Book One, Chapter I", "Book One, Chapter II"),
    ),
    SampleBook(
        "the-art-of-war",
        "The Art of War",
        "Sun Tzu",
        -500,
        "en",
        "Thirteen chapters on strategy.",
        ("Laying Plans", "Waging War", "Attack by Stratagem"),
    ),
    SampleBook(
        "don-quixote",
        "Don Quixote",
        "Miguel de Cervantes",
        1605,
        "es",
        "Un hidalgo lee demasiados libros de caballerías.",
        ("Capítulo primero", "Capítulo segundo"),
    ),
    SampleBook(
        "the-great-gatsby",
        "The Great Gatsby",
        "F. Scott Fitzgerald",
        1925,
        "en",
        "Nick Carraway's summer next door to Jay Gatsby.",
        ("Chapter I", "Chapter II", "Chapter III"),
    ),
)


def audio_key(book_id: str, number: int) -> str:
    return f"audio/{book_id}/{number:03d}.wav"


def silent_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short, valid WAV file of silence (8-bit mono), standing in for narrated audio."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        frames = int(seconds * rate)
        out.writeframes(struct.pack(f"{frames}B", *([128] * frames)))
    return buffer.getvalue()


@dataclass(frozen=True)
class SeedResult:
    books: int
    chapters: int
    objects: int
    created: tuple[str, ...]


def ensure_tables(dynamodb: DynamoDBClient, *, books_table: str, chapters_table: str) -> list[str]:
    """Create the two tables if they are missing (on-demand billing); wait until ACTIVE."""
    created: list[str] = []
    specs = {
        books_table: ([("book_id", "S")], [("book_id", "HASH")]),
        chapters_table: (
            [("book_id", "S"), ("chapter_number", "N")],
            [("book_id", "HASH"), ("chapter_number", "RANGE")],
        ),
    }
    for table, (attributes, keys) in specs.items():
        try:
            dynamodb.describe_table(TableName=table)
            continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}  # type: ignore[typeddict-item]
                for name, kind in attributes
            ],
            KeySchema=[
                {"AttributeName": name, "KeyType": kind}  # type: ignore[typeddict-item]
                for name, kind in keys
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        created.append(f"table {table}")
    return created


def ensure_bucket(s3: S3Client, *, bucket: str, region: str) -> list[str]:
    """Create the bucket if it is missing."""
    try:
        s3.head_bucket(Bucket=bucket)
        return []
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
        )
    return [f"bucket {bucket}"]


def seed(
    dynamodb: DynamoDBClient,
    s3: S3Client,
    *,
    books_table: str,
    chapters_table: str,
    bucket: str,
    region: str,
    create: bool = False,
    books: tuple[SampleBook, ...] = SAMPLE_BOOKS,
) -> SeedResult:
    """Write the sample catalogue; with ``create``, make missing tables and bucket first."""
    created: list[str] = []
    if create:
        created += ensure_tables(dynamodb, books_table=books_table, chapters_table=chapters_table)
        created += ensure_bucket(s3, bucket=bucket, region=region)
    audio = silent_wav()
    book_items: list[dict[str, Any]] = []
    chapter_items: list[dict[str, Any]] = []
    for book in books:
        book_items.append(
            {
                "book_id": {"S": book.book_id},
                "title": {"S": book.title},
                "author": {"S": book.author},
                "description": {"S": book.description},
                "language": {"S": book.language},
                "published_year": {"N": str(book.published_year)},
                "chapter_count": {"N": str(len(book.chapters))},
            }
        )
        for number, title in enumerate(book.chapters, start=1):
            key = audio_key(book.book_id, number)
            chapter_items.append(
                {
                    "book_id": {"S": book.book_id},
                    "chapter_number": {"N": str(number)},
                    "title": {"S": title},
                    "duration_seconds": {"N": "1"},
                    "audio_key": {"S": key},
                }
            )
            s3.put_object(Bucket=bucket, Key=key, Body=audio, ContentType="audio/wav")
    _batch_put(dynamodb, books_table, book_items)
    _batch_put(dynamodb, chapters_table, chapter_items)
    chapters = len(chapter_items)
    return SeedResult(books=len(books), chapters=chapters, objects=chapters, created=tuple(created))


def _batch_put(dynamodb: DynamoDBClient, table: str, items: list[dict[str, Any]]) -> None:
    """Put items 25 at a time (BatchWriteItem's limit), resending what DynamoDB leaves over."""
    for start in range(0, len(items), 25):
        requests: Any = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        }
        for _ in range(10):
            response = dynamodb.batch_write_item(RequestItems=requests)
            requests = response.get("UnprocessedItems") or {}
            if not requests:
                break
        else:
            raise RuntimeError(f"DynamoDB kept items unprocessed while seeding {table}")


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m app.seed", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION"))
    parser.add_argument("--endpoint-url", default=env("AWS_ENDPOINT_URL") or None)
    parser.add_argument("--books-table", default=env("BOOKS_TABLE_NAME"))
    parser.add_argument("--chapters-table", default=env("AUDIO_CHAPTERS_TABLE_NAME"))
    parser.add_argument("--bucket", default=env("S3_BUCKET_NAME"))
    parser.add_argument(
        "--create", action="store_true", help="create the tables and bucket if missing"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    missing = [
        flag
        for flag, value in (
            ("--region (or AWS_REGION)", args.region),
            ("--books-table (or BOOKS_TABLE_NAME)", args.books_table),
            ("--chapters-table (or AUDIO_CHAPTERS_TABLE_NAME)", args.chapters_table),
            ("--bucket (or S3_BUCKET_NAME)", args.bucket),
        )
        if not value
    ]
    if missing:
        parser.error("missing " + ", ".join(missing))
    session = boto3.Session(region_name=args.region)
    # A local endpoint (moto, the sandbox) is addressed by IP: S3 needs path-style URLs there.
    s3_config = Config(s3={"addressing_style": "path" if args.endpoint_url else "auto"})
    dynamodb = session.client("dynamodb", endpoint_url=args.endpoint_url)
    s3 = session.client("s3", endpoint_url=args.endpoint_url, config=s3_config)
    try:
        result = seed(
            dynamodb,
            s3,
            books_table=args.books_table,
            chapters_table=args.chapters_table,
            bucket=args.bucket,
            region=args.region,
            create=args.create,
        )
    except (ClientError, BotoCoreError) as exc:
        print(
            f"seed failed: {exc}. "
            "Check the names, the endpoint and the credentials; use --create to make missing "
            "tables and the bucket.",
            file=sys.stderr,
        )
        return 1
    for item in result.created:
        print(f"created {item}")
    print(f"seeded {result.books} books, {result.chapters} chapters, {result.objects} objects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
