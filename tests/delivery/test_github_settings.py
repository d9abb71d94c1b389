"""The GitHub-settings check (rollout.decisions.github_settings, infra/check_github_settings.py).

There is no network here, so it never runs against GitHub in the suite: these answers are
written by hand in the shapes GitHub's REST reference documents for each endpoint (they are not
recordings). The script's own HTTP layer is exercised only for its refusals without a token.
"""

from __future__ import annotations

import copy
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rollout.decisions.github_settings import check_github_settings

ROOT = Path(__file__).resolve().parents[2]
BASE = "/repos/acme/voj"

GOOD: dict[str, Any] = {
    f"{BASE}/actions/oidc/customization/sub": {
        "use_default": False,
        "include_claim_keys": ["repo", "context", "job_workflow_ref"],
    },
    f"{BASE}/environments/production": {
        "id": 1,
        "name": "production",
        "can_admins_bypass": False,
        "protection_rules": [
            {"id": 3, "type": "required_reviewers", "prevent_self_review": True, "reviewers": []},
            {"id": 4, "type": "branch_policy"},
        ],
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    },
    f"{BASE}/environments/production/deployment-branch-policies": {
        "total_count": 2,
        "branch_policies": [
            {"id": 11, "name": "main", "type": "branch"},
            {"id": 12, "name": "v*.*.*", "type": "tag"},
        ],
    },
    f"{BASE}/environments/build": {
        "id": 2,
        "name": "build",
        "can_admins_bypass": False,
        "protection_rules": [{"id": 5, "type": "branch_policy"}],
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    },
    f"{BASE}/environments/build/deployment-branch-policies": {
        "total_count": 2,
        "branch_policies": [
            {"id": 13, "name": "main", "type": "branch"},
            {"id": 14, "name": "v*.*.*", "type": "tag"},
        ],
    },
    f"{BASE}/rulesets?includes_parents=true": [
        {"id": 7, "name": "branches", "target": "branch", "enforcement": "active"},
        {"id": 8, "name": "release tags", "target": "tag", "enforcement": "active"},
    ],
    f"{BASE}/rulesets/8": {
        "id": 8,
        "target": "tag",
        "enforcement": "active",
        "conditions": {"ref_name": {"include": ["refs/tags/v*"], "exclude": []}},
        "rules": [{"type": "creation"}, {"type": "update"}, {"type": "deletion"}],
        "bypass_actors": [{"actor_type": "RepositoryRole", "actor_id": 5}],
    },
}


def _check(answers: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f.level, f.what) for f in check_github_settings("acme", "voj", lambda p: answers.get(p))
    ]


def test_the_documented_settings_pass() -> None:
    """The settings section 2.4 asks for produce no finding."""
    assert _check(GOOD) == []


def _without(path: str) -> dict[str, Any]:
    answers = copy.deepcopy(GOOD)
    del answers[path]
    return answers


def _with(path: str, **changes: Any) -> dict[str, Any]:
    answers = copy.deepcopy(GOOD)
    answers[path] = {**answers[path], **changes}
    return answers


@pytest.mark.parametrize(
    ("answers", "level", "says"),
    [
        (_with(f"{BASE}/actions/oidc/customization/sub", use_default=True), "error", "OIDC"),
        (
            _with(
                f"{BASE}/actions/oidc/customization/sub",
                include_claim_keys=["repo", "job_workflow_ref", "context"],
            ),
            "error",
            "OIDC",
        ),
        (_without(f"{BASE}/actions/oidc/customization/sub"), "error", "OIDC"),
        (_without(f"{BASE}/environments/build"), "error", "build does not exist"),
        (
            _with(f"{BASE}/environments/production", deployment_branch_policy=None),
            "error",
            "any branch",
        ),
        (
            _with(
                f"{BASE}/environments/build/deployment-branch-policies",
                branch_policies=[{"id": 1, "name": "*", "type": "branch"}],
            ),
            "error",
            "not exactly",
        ),
        (_with(f"{BASE}/environments/production", can_admins_bypass=True), "warning", "bypass"),
        (
            _with(f"{BASE}/environments/production", protection_rules=[]),
            "warning",
            "no required reviewers",
        ),
        (
            _with(f"{BASE}/rulesets/8", enforcement="active", rules=[{"type": "deletion"}]),
            "error",
            "v* tags",
        ),
        (
            _with(f"{BASE}/rulesets/8", conditions={"ref_name": {"include": ["refs/tags/rc-*"]}}),
            "error",
            "v* tags",
        ),
        (_without(f"{BASE}/rulesets?includes_parents=true"), "error", "v* tags"),
    ],
)
def test_each_missing_setting_is_named(answers: dict[str, Any], level: str, says: str) -> None:
    """Every deviation from the guide yields exactly one finding naming it."""
    (finding,) = _check(answers)
    assert finding[0] == level
    assert says in finding[1]


def test_the_script_refuses_without_a_token_and_never_prints_one() -> None:
    """Without GITHUB_TOKEN the script stops before any request (exit 2)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "check_github_settings.py"), "acme/voj"],
        capture_output=True,
        text=True,
        env={"PATH": "", "PYTHONPATH": str(ROOT / "src")},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "GITHUB_TOKEN" in result.stderr


def test_the_script_exits_1_on_errors_and_0_on_warnings_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() turns findings into the exit status: errors 1, warnings only 0."""
    module = runpy.run_path(str(ROOT / "infra" / "check_github_settings.py"))
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken-never-printed")
    answers = _with(f"{BASE}/environments/production", can_admins_bypass=True)
    module["main"].__globals__["fetch"] = lambda path, token: answers.get(path)
    assert module["main"](["x", "acme/voj"]) == 0
    module["main"].__globals__["fetch"] = lambda path, token: _without(
        f"{BASE}/environments/build"
    ).get(path)
    assert module["main"](["x", "acme/voj"]) == 1
    assert "t0ken-never-printed" not in capsys.readouterr().out
