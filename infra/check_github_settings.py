"""Check the one-time GitHub settings the AWS roles rely on (docs/operations.md, section 2.4).

    GITHUB_TOKEN=<token that can read the repository's settings> \
        uv run python infra/check_github_settings.py <owner>/<repo>

Reads the OIDC subject customisation, the environments production and build (deployment
branches and tags, reviewers, admin bypass) and the tag rulesets through GitHub's REST API, and
prints what differs from the guide; exit status 1 when something must be fixed, 0 otherwise
(warnings included). The token is sent to api.github.com only and never printed. The decisions
are rollout.decisions.github_settings (pure; tests/delivery/test_github_settings.py runs them
against answers shaped like the REST reference's examples).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from rollout.decisions.github_settings import check_github_settings

API = "https://api.github.com"


def fetch(path: str, token: str) -> Any:
    """GET API + path as JSON; None for 404; SystemExit with a clear line for anything else."""
    request = urllib.request.Request(  # noqa: S310 - a constant https URL
        API + path,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise SystemExit(
            f"failed to read {path}: GitHub answered {exc.code} {exc.reason}. The token needs "
            "read access to the repository's administration and actions settings."
        ) from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"failed to reach {API}: {exc.reason}") from None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1].count("/") != 1:
        print("usage: check_github_settings.py <owner>/<repo>", file=sys.stderr)
        return 2
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        print("failed to check: set GITHUB_TOKEN (it is never printed)", file=sys.stderr)
        return 2
    owner, repo = argv[1].split("/")
    findings = check_github_settings(owner, repo, lambda path: fetch(path, token))
    for finding in findings:
        print(f"{finding.level.upper()}: {finding.what}\n  fix: {finding.fix}")
    if not findings:
        print(f"{owner}/{repo}: the GitHub settings match docs/operations.md, section 2.4")
    return 1 if any(f.level == "error" for f in findings) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
