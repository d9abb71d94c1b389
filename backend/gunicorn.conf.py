"""gunicorn settings for voj, read automatically from the working directory (``backend/``).

The seed's command line stays as it is and overrides what it names (bind, workers, timeout,
worker class):

    gunicorn app.main:app -k uvicorn.workers.UvicornWorker -b 0.0.0.0:8000 --workers 2 --timeout 60

What this file adds:
- ``keepalive = 75``: idle keep-alive connections stay open longer than the ALB's idle timeout
  (60 s), so the ALB, not the app, closes them (otherwise the ALB may reuse a connection the app
  just closed and answer 502).
- ``graceful_timeout = 30``: on SIGTERM workers stop accepting and finish in-flight requests for
  up to 30 s; the task definition's ``stopTimeout`` must be at least 35 s so ECS does not SIGKILL
  first.
- ``preload_app = True``: the master builds the app once (settings validated, FastAPI imported,
  routes built) before forking, so workers are serving within milliseconds of the fork, and a
  broken configuration stops the master itself: one line per bad variable on stderr, exit
  status 3, no traceback, no worker ever started. Nothing that must not cross a fork exists yet
  at that point: the AWS clients are created lazily in each worker (``app.catalog``), and no
  thread is started before the app's lifespan runs in the worker.
- ``forwarded_allow_ips``: ``X-Forwarded-For``/``-Proto`` are believed only from a peer inside the
  VPC (the ALB's nodes live there; ``FORWARDED_ALLOW_IPS``, default ``10.40.0.0/16``, the
  template's ``VpcCidr``). The app then sees, and its access log records as ``client``, the
  caller's address instead of the ALB's; a client outside the VPC cannot forge it.
- gunicorn's own logs are JSON lines on stdout/stderr like the app's; the control socket is off
  (the root filesystem is read-only and nothing uses it); the worker heartbeat files live in
  ``/dev/shm`` when it exists (memory, not the container's disk).
"""

import os
import sys

#: The VPC of infra/voj.yaml (parameter VpcCidr); set FORWARDED_ALLOW_IPS if you change it.
VPC_CIDR = "10.40.0.0/16"

preload_app = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", VPC_CIDR)
keepalive = 75
graceful_timeout = 30
control_socket_disable = True
_SHM = "/dev/shm"  # noqa: S108  (gunicorn creates its heartbeat files there with mkstemp)
worker_tmp_dir = _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None

# Requests are access-logged by the app (app.edge) with their request id; gunicorn's own access
# log stays off so each request is logged once.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stdout},
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        # No handlers: uvicorn's access logger copies these, so it stays quiet too.
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
