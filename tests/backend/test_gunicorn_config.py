"""backend/gunicorn.conf.py, as gunicorn itself loads it: timeouts that fit the ALB and ECS."""

from __future__ import annotations

import runpy

import pytest
from gunicorn.config import Config

from .conftest import BACKEND

ALB_IDLE_TIMEOUT = 60
MIN_STOP_TIMEOUT = 35  # what delivery sets as the task's stopTimeout (at least)


@pytest.fixture(scope="module")
def cfg() -> Config:
    """gunicorn's Config with the file applied the way gunicorn applies it (known names only)."""
    config = Config()
    for name, value in runpy.run_path(str(BACKEND / "gunicorn.conf.py")).items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_keepalive_outlasts_the_alb_idle_timeout(cfg: Config) -> None:
    """keepalive is above the ALB's 60 s idle timeout, so the ALB closes idle connections first."""
    assert cfg.keepalive > ALB_IDLE_TIMEOUT


def test_graceful_timeout_fits_inside_the_stop_timeout(cfg: Config) -> None:
    """graceful_timeout + 5 s fits in the task's stopTimeout, so ECS never SIGKILLs a drain."""
    assert cfg.graceful_timeout + 5 <= MIN_STOP_TIMEOUT


def test_nothing_is_written_to_the_root_filesystem(cfg: Config) -> None:
    """No control socket (it would be created under $HOME) and no access log file."""
    assert cfg.control_socket_disable is True
    assert cfg.accesslog is None
