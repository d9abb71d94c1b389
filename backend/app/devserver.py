"""``make serve``: the backend on 127.0.0.1:8000 against an embedded moto, seeded with books.

Starts moto's threaded server on a random loopback port, creates and seeds the tables and the
bucket there, then serves the app with uvicorn until Ctrl-C. Development only: moto is a dev
dependency, not part of the image.

    uv run python -m app.devserver [--port 8000]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
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

    import uvicorn
    from moto.server import ThreadedMotoServer

    from app.api import create_app
    from app.catalog import make_clients
    from app.logs import configure_logging
    from app.seed import seed
    from app.settings import load_settings

    # moto accepts any credentials; never send real ones to a local endpoint.
    fake = "testing"
    os.environ.update(AWS_ACCESS_KEY_ID=fake, AWS_SECRET_ACCESS_KEY=fake, AWS_SESSION_TOKEN=fake)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
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
        base = f"http://{args.host}:{args.port}"
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
                host=args.host,
                port=args.port,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
        )
        server.run()  # returns on Ctrl-C, after in-flight requests finish (at most 5 s)
        if not server.started:
            print(f"could not serve on {base} (port in use? try --port)", file=sys.stderr)
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
