"""Fixtures for the backend tests: a valid environment, moto-backed AWS, a seeded catalogue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from app.api import create_app
from app.catalog import Catalog, make_clients
from app.seed import seed
from app.settings import Settings, load_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "backend"

#: The seed's command line, run from backend/ (the image's WORKDIR).
SEED_COMMAND = [
    "gunicorn",
    "app.main:app",
    "-k",
    "uvicorn.workers.UvicornWorker",
    "-b",
    "0.0.0.0:8000",
    "--workers",
    "2",
    "--timeout",
    "60",
]

GOOD_ENV: dict[str, str] = {
    "ENVIRONMENT": "test",
    "AWS_REGION": "ap-northeast-2",
    "S3_BUCKET_NAME": "voj-audio-test",
    "BOOKS_TABLE_NAME": "voj-books-test",
    "AUDIO_CHAPTERS_TABLE_NAME": "voj-audio-chapters-test",
    "CORS_ORIGINS": "https://app.example.com",
    "ALLOWED_HOSTS": "api.example.com,testserver,127.0.0.1,localhost",
    "APP_VERSION": "1.2.3",
    "GIT_SHA": "0123456789abcdef0123456789abcdef01234567",
    "PRESIGN_EXPIRY_SECONDS": "120",
}

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(GOOD_ENV)


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """moto's in-process AWS for one test module, with fake credentials and no endpoint.

    Module-scoped because making clients and seeding costs about a second; tests that need
    different state use other table or bucket names instead of changing the shared ones.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            yield


@pytest.fixture(scope="module")
def clients(aws: None, settings: Settings) -> tuple[DynamoDBClient, S3Client]:
    return make_clients(settings)


def catalog_for(clients: tuple[DynamoDBClient, S3Client], settings: Settings) -> Catalog:
    """A catalogue on the shared moto clients, with the names from ``settings``."""
    return Catalog(
        connect=lambda: clients,
        books_table=settings.BOOKS_TABLE_NAME,
        chapters_table=settings.AUDIO_CHAPTERS_TABLE_NAME,
        bucket=settings.S3_BUCKET_NAME,
        presign_expiry=settings.PRESIGN_EXPIRY_SECONDS,
    )


@pytest.fixture(scope="module")
def seeded(clients: tuple[DynamoDBClient, S3Client], settings: Settings) -> Catalog:
    """The sample catalogue, seeded once per module (tables and bucket created)."""
    dynamodb, s3 = clients
    seed(
        dynamodb,
        s3,
        books_table=settings.BOOKS_TABLE_NAME,
        chapters_table=settings.AUDIO_CHAPTERS_TABLE_NAME,
        bucket=settings.S3_BUCKET_NAME,
        region=settings.AWS_REGION,
        create=True,
    )
    return catalog_for(clients, settings)


@pytest.fixture(scope="module")
def client(seeded: Catalog, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, catalog=seeded)) as test_client:
        yield test_client
