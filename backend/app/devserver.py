"""``make serve``: the backend on 127.0.0.1:8000 against an embedded moto, seeded with books.

Starts moto's threaded server on a random loopback port, creates and seeds the tables and the
bucket there, then serves the app with uvicorn until Ctrl-C. Development only: moto is a dev
dependency, not part of the image.

    uv run python -m app.devserver [--host 127.0.0.1] [--port 8000]    # make serve [PORT=8000]
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys

LOCAL_ENV = {
    "ENVIRONMENT": "development",
    "AWS_REGION": "ap-northeast-2",
    "S3_BUCKET_NAME": "voj-audio-local",
    "BOOKS_TABLE_NAME": "voj-books",
    "AUDIO_CHAPTERS_TABLE_NAME": "voj-audio-chapters",
    "CORS_ORIGINS": "http://localhost:3000,http://127.0.0.1:3000",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    "APP_VERSION": "0.0.0-dev",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.devserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    # Bind before starting anything, so a busy port is reported first and plainly; uvicorn
    # serves on this very socket, so nobody can take the port in between.
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        listener = socket.create_server((args.host, args.port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use (another `make serve`?)"
        print(
            f"error: cannot serve on {args.host}:{args.port}: {reason}. Stop what uses it, or "
            "pick another port: `make serve PORT=8001` (or `python -m app.devserver --port "
            "8001`).",
            file=sys.stderr,
        )
        return 1
    with listener:
        return _serve(args.host, listener)


def _serve(host: str, listener: socket.socket) -> int:
    # moto accepts any credentials; never send real ones to a local endpoint. Nor read the
    # user's AWS profile or config files: moto reads them when imported, and a missing
    # AWS_PROFILE would stop a server that never talks to AWS.
    fake = "testing"
    os.environ.update(AWS_ACCESS_KEY_ID=fake, AWS_SECRET_ACCESS_KEY=fake, AWS_SESSION_TOKEN=fake)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)

    import uvicorn
    from moto.server import ThreadedMotoServer

    from app.api import create_app
    from app.catalog import make_clients
    from app.logs import configure_logging
    from app.seed import seed
    from app.settings import load_settings

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        moto_host, moto_port = moto.get_host_and_port()
        endpoint = f"http://{moto_host}:{moto_port}"
        settings = load_settings({**LOCAL_ENV, "AWS_ENDPOINT_URL": endpoint})
        dynamodb, s3 = make_clients(settings)
        result = seed(
            dynamodb,
            s3,
            books_table=settings.BOOKS_TABLE_NAME,
            chapters_table=settings.AUDIO_CHAPTERS_TABLE_NAME,
            bucket=settings.S3_BUCKET_NAME,
            region=settings.AWS_REGION,
            create=True,
        )
        base = f"http://{host}:{listener.getsockname()[1]}"
        print(
            f"voj backend (development) on {base}, moto at {endpoint} "
            f"({result.books} books, {result.chapters} chapters seeded)\n"
            f"  {base}/health\n  {base}/books\n  {base}/docs\n"
            "Ctrl-C to stop.",
            flush=True,
        )
        configure_logging(settings.LOG_LEVEL)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
        )
        # returns on Ctrl-C, after in-flight requests finish (at most 5 s)
        server.run(sockets=[listener])
        if not server.started:
            print(f"error: could not serve on {base}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break cleanup
        moto.stop()
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
