"""The seed script: loads the sample catalogue into DynamoDB and S3, idempotently."""

from __future__ import annotations

import io
import wave
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from app.seed import SAMPLE_BOOKS, audio_key, main, seed, silent_wav
from app.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

EXPECTED_CHAPTERS = sum(len(book.chapters) for book in SAMPLE_BOOKS)


def _counts(
    clients: tuple[DynamoDBClient, S3Client], books: str, chapters: str, bucket: str
) -> tuple[int, int, int]:
    dynamodb, s3 = clients
    return (
        dynamodb.scan(TableName=books, Select="COUNT")["Count"],
        dynamodb.scan(TableName=chapters, Select="COUNT")["Count"],
        s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0),
    )


def test_seed_creates_and_is_idempotent(
    clients: tuple[DynamoDBClient, S3Client], settings: Settings
) -> None:
    """The first run creates tables and bucket; a second run creates nothing and adds nothing."""
    dynamodb, s3 = clients
    names = {
        "books_table": "seed-books",
        "chapters_table": "seed-chapters",
        "bucket": "seed-audio",
    }
    first = seed(dynamodb, s3, region=settings.AWS_REGION, create=True, **names)
    assert set(first.created) == {"table seed-books", "table seed-chapters", "bucket seed-audio"}
    after_first = _counts(clients, "seed-books", "seed-chapters", "seed-audio")
    assert after_first == (len(SAMPLE_BOOKS), EXPECTED_CHAPTERS, EXPECTED_CHAPTERS)
    second = seed(dynamodb, s3, region=settings.AWS_REGION, create=True, **names)
    assert second.created == ()
    assert _counts(clients, "seed-books", "seed-chapters", "seed-audio") == after_first


def test_seed_without_create_needs_existing_tables(
    clients: tuple[DynamoDBClient, S3Client], settings: Settings
) -> None:
    """Without create, missing tables are an error from DynamoDB, not silently created."""
    dynamodb, s3 = clients
    with pytest.raises(ClientError):
        seed(
            dynamodb,
            s3,
            books_table="absent-books",
            chapters_table="absent-chapters",
            bucket="absent-audio",
            region=settings.AWS_REGION,
        )


def test_audio_objects_are_valid_wav(
    clients: tuple[DynamoDBClient, S3Client], settings: Settings
) -> None:
    """Each chapter's object exists at its key and is a playable WAV file."""
    dynamodb, s3 = clients
    seed(
        dynamodb,
        s3,
        books_table="wav-books",
        chapters_table="wav-chapters",
        bucket="wav-audio",
        region=settings.AWS_REGION,
        create=True,
    )
    body = s3.get_object(Bucket="wav-audio", Key=audio_key("dracula", 2))["Body"].read()
    assert body == silent_wav()
    with wave.open(io.BytesIO(body)) as audio:
        assert audio.getnframes() == audio.getframerate()  # one second


def test_cli_seeds_from_flags(
    aws: None, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m app.seed --create ...` seeds and prints a one-line summary."""
    code = main(
        [
            "--region",
            settings.AWS_REGION,
            "--books-table",
            "cli-books",
            "--chapters-table",
            "cli-chapters",
            "--bucket",
            "cli-audio",
            "--create",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"seeded {len(SAMPLE_BOOKS)} books, {EXPECTED_CHAPTERS} chapters" in out


def test_cli_reports_aws_errors_in_one_line(
    aws: None, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing call (tables missing, no --create) exits 1 with a hint, not a traceback."""
    code = main(
        [
            "--region",
            settings.AWS_REGION,
            "--books-table",
            "nope-books",
            "--chapters-table",
            "nope-chapters",
            "--bucket",
            "nope-audio",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("seed failed: ")
    assert "--create" in err
    assert "Traceback" not in err


def test_cli_names_missing_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without names (flags or environment) the CLI exits 2 naming what is missing."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "BOOKS_TABLE_NAME", "S3_BUCKET_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AUDIO_CHAPTERS_TABLE_NAME", raising=False)
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    for flag in ("--region", "--books-table", "--chapters-table", "--bucket"):
        assert flag in err
