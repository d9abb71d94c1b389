"""Settings validation: a table of good and bad environments."""

from __future__ import annotations

import pytest

from app.settings import SettingsError, load_settings

from .conftest import GOOD_ENV

REQUIRED = [
    "ENVIRONMENT",
    "AWS_REGION",
    "S3_BUCKET_NAME",
    "BOOKS_TABLE_NAME",
    "AUDIO_CHAPTERS_TABLE_NAME",
    "CORS_ORIGINS",
    "ALLOWED_HOSTS",
]


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({}, "ENVIRONMENT", "test"),
        ({"ENVIRONMENT": "production"}, "ENVIRONMENT", "production"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT", "staging"),
        ({"ENVIRONMENT": "development"}, "ENVIRONMENT", "development"),
        ({"CORS_ORIGINS": "https://a.io, http://localhost:3000"}, "CORS_ORIGINS",
         ["https://a.io", "http://localhost:3000"]),
        ({"CORS_ORIGINS": '["https://a.io", "https://b.io/"]'}, "CORS_ORIGINS",
         ["https://a.io", "https://b.io"]),
        ({"CORS_ORIGINS": ""}, "CORS_ORIGINS", []),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS", ["*"]),
        ({"ALLOWED_HOSTS": "API.example.com, *.example.org"}, "ALLOWED_HOSTS",
         ["api.example.com", "*.example.org"]),
        ({"ALLOWED_HOSTS": "*", "ENVIRONMENT": "development"}, "ALLOWED_HOSTS", ["*"]),
        ({}, "PRESIGN_EXPIRY_SECONDS", 120),
        ({"PRESIGN_EXPIRY_SECONDS": "604800"}, "PRESIGN_EXPIRY_SECONDS", 604800),
        ({"CORS_ALLOW_CREDENTIALS": "true"}, "CORS_ALLOW_CREDENTIALS", True),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "AWS_ENDPOINT_URL",
         "http://127.0.0.1:5000"),
        ({"GIT_SHA": "abc1234"}, "GIT_SHA", "abc1234"),
        ({"LOG_LEVEL": "DEBUG"}, "LOG_LEVEL", "DEBUG"),
    ],
)  # fmt: skip
def test_good_environments(overrides: dict[str, str], field: str, expected: object) -> None:
    """A valid environment loads, with lists parsed from comma or JSON form and normalised."""
    settings = load_settings({**GOOD_ENV, **overrides})
    assert getattr(settings, field) == expected


def test_optional_settings_have_defaults() -> None:
    """Only the seven required variables are needed; the rest default sensibly."""
    settings = load_settings({name: GOOD_ENV[name] for name in REQUIRED})
    assert settings.APP_VERSION is None
    assert settings.version == "unknown"
    assert settings.GIT_SHA is None
    assert settings.AWS_ENDPOINT_URL is None
    assert settings.PRESIGN_EXPIRY_SECONDS == 900
    assert settings.CORS_ALLOW_CREDENTIALS is False


BAD = [
    ({"ENVIRONMENT": "prod"}, "ENVIRONMENT"),
    ({"ENVIRONMENT": ""}, "ENVIRONMENT"),
    ({"AWS_REGION": "Seoul"}, "AWS_REGION"),
    ({"S3_BUCKET_NAME": "Bad_Bucket"}, "S3_BUCKET_NAME"),
    ({"S3_BUCKET_NAME": "ab"}, "S3_BUCKET_NAME"),
    ({"BOOKS_TABLE_NAME": "x"}, "BOOKS_TABLE_NAME"),
    ({"AUDIO_CHAPTERS_TABLE_NAME": "has space"}, "AUDIO_CHAPTERS_TABLE_NAME"),
    ({"CORS_ORIGINS": "app.example.com"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": "https://a.io/path"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": "[not json"}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": '{"a": 1}'}, "CORS_ORIGINS"),
    ({"CORS_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"}, "CORS_ORIGINS"),
    ({"CORS_ALLOW_CREDENTIALS": "maybe"}, "CORS_ALLOW_CREDENTIALS"),
    ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "api.example.com:443"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "https://api.example.com"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "*", "ENVIRONMENT": "production"}, "ALLOWED_HOSTS"),
    ({"ALLOWED_HOSTS": "*", "ENVIRONMENT": "staging"}, "ALLOWED_HOSTS"),
    ({"PRESIGN_EXPIRY_SECONDS": "0"}, "PRESIGN_EXPIRY_SECONDS"),
    ({"PRESIGN_EXPIRY_SECONDS": "604801"}, "PRESIGN_EXPIRY_SECONDS"),
    ({"PRESIGN_EXPIRY_SECONDS": "soon"}, "PRESIGN_EXPIRY_SECONDS"),
    ({"GIT_SHA": "not-a-sha"}, "GIT_SHA"),
    ({"APP_VERSION": "1.0 beta"}, "APP_VERSION"),
    ({"AWS_ENDPOINT_URL": "localhost:5000"}, "AWS_ENDPOINT_URL"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
]


@pytest.mark.parametrize(("overrides", "variable"), BAD)
def test_bad_environments(overrides: dict[str, str], variable: str) -> None:
    """Each bad value is rejected with exactly one line, naming the bad variable."""
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD_ENV, **overrides})
    assert list(caught.value.problems) == [variable]
    (line,) = caught.value.lines()
    assert line.startswith(f"{variable}: ")


@pytest.mark.parametrize("variable", REQUIRED)
def test_each_required_variable_is_named_when_missing(variable: str) -> None:
    """Leaving out a required variable names it as required."""
    env = {name: value for name, value in GOOD_ENV.items() if name != variable}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.lines() == [f"{variable}: is required but not set"]


def test_all_problems_are_reported_at_once() -> None:
    """An empty environment lists every required variable, one line each, sorted."""
    with pytest.raises(SettingsError) as caught:
        load_settings({})
    assert caught.value.lines() == sorted(f"{name}: is required but not set" for name in REQUIRED)


def test_errors_do_not_echo_secret_like_values() -> None:
    """A bad value that could be sensitive (an endpoint with credentials) is not repeated."""
    secret = "s3cr3t-token-value"
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD_ENV, "AWS_ENDPOINT_URL": f"ftp://user:{secret}@host"})
    assert secret not in "\n".join(caught.value.lines())
    assert secret not in str(caught.value)


def test_settings_ignore_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a mapping, load_settings reads only that mapping, not os.environ."""
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert load_settings(GOOD_ENV).ENVIRONMENT == "test"


def test_settings_read_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a mapping, load_settings reads os.environ."""
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOOKS_TABLE_NAME", "from-the-environment")
    assert load_settings().BOOKS_TABLE_NAME == "from-the-environment"
