"""What ``rollout demo`` (``make demo``) shows, said once.

``rollout demo --help`` prints :data:`SUMMARY` and :data:`ACTS`, the README's ``make demo``
line quotes :data:`SUMMARY`, and ``make help`` prints it by running this file (standard library
only: it works before anything is installed); ``tests/ops/test_cli_conventions.py`` checks all
three, and that every
release :mod:`rollout.verbs.demo` ships is named here. A light module (no sandbox import), so
the CLI can build its help without loading moto.
"""

from __future__ import annotations

SUMMARY = (
    "provision voj on the embedded sandbox, deploy a good release and three bad ones, "
    "watch rollout stop or roll back each, then run the real service and count the requests "
    "a release serving errors fails"
)

ACTS = """\
1. provision voj (the CloudFormation stack, ECR images, SSM settings) and wait until steady;
2. deploy a good release ("good");
3. a release that reads a secret nobody created ("secret never created"): preflight stops it
   and nothing is written;
4. the same with the secret deleted right after preflight ("secret deleted mid-deploy"): the
   tasks fail to start, rollout detects it and rolls back;
5. a release whose app crashes on start ("crash on start"): detected and rolled back;
6. status and history;
7. with --compare (default), the bad releases replayed the way the official action leaves you
   (UpdateService and the ECS circuit breaker), and how long each restore took, side by side;
8. one bad release (500 on 20 % of its requests) shipped rolling, then as a canary, each on a
   sandbox of its own under 50 req/s of synthetic traffic: failed requests side by side.
9. the real service ("books-500", with --workload, the default): every task a real gunicorn
   process of an image built from backend/, steady traffic through the local ALB listener, a
   release patched to answer 500 on every other /books; rollout rolls it back on the 5xx alarm
   and the failed requests are counted by phase."""


if __name__ == "__main__":  # `make help`
    print(SUMMARY)
