"""The small Actions expression evaluator and step extraction used to run workflow lines."""

from __future__ import annotations

from typing import Any

import pytest

from .workflows import (
    ExpressionError,
    evaluate,
    rollout_commands,
    rollout_steps,
    step_environment,
    substitute,
)

CONTEXT: dict[str, Any] = {
    "inputs": {"environment": "prod", "revision": ""},
    "needs": {"build": {"outputs": {"image": "repo@sha256:abc"}}},
    "steps": {"deploy": {"outputs": {"task-definition-arn": "arn:td:7"}}},
    "env": {"AWS_REGION": "ap-northeast-2"},
    "github": {"run_id": 42, "ref": "refs/heads/main"},
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("needs.build.outputs.image", "repo@sha256:abc"),
        ("steps.deploy.outputs.task-definition-arn", "arn:td:7"),
        ("needs.missing.outputs.image", None),
        ("inputs.environment == 'prod'", True),
        ("inputs.environment == 'PROD'", True),
        ("inputs.environment != 'prod'", False),
        ("inputs.environment == 'prod' && 'production' || inputs.environment", "production"),
        ("inputs.revision && 'x' || 'empty'", "empty"),
        ("inputs.revision || 'latest'", "latest"),
        ("!inputs.revision", True),
        ("format('{0}/{1}:{2}', 'r', env.AWS_REGION, 'v1')", "r/ap-northeast-2:v1"),
        ("github.run_id", 42),
        ("'it''s'", "it's"),
        ("(inputs.environment == 'dev') || false", False),
    ],
)
def test_evaluate_follows_actions_rules(expr: str, expected: Any) -> None:
    """Paths, comparisons, && / || short-circuit values and format() evaluate as on GitHub."""
    assert evaluate(expr, CONTEXT) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("voj-${{ github.run_id }}", "voj-42"),
        ("${{ inputs.revision }}", ""),
        ("${{ inputs.environment == 'prod' }}", "true"),
        (
            "a ${{ env.AWS_REGION }} b ${{ needs.build.outputs.image }}",
            "a ap-northeast-2 b repo@sha256:abc",
        ),
    ],
)
def test_substitute_renders_like_actions(text: str, expected: str) -> None:
    """Null renders empty, booleans as true/false, several expressions in one string."""
    assert substitute(text, CONTEXT) == expected


@pytest.mark.parametrize("expr", ["fromJSON('{}')", "inputs.environment ==", "a b"])
def test_unknown_expressions_are_refused(expr: str) -> None:
    """An expression the evaluator cannot handle fails loudly instead of rendering wrong."""
    with pytest.raises(ExpressionError):
        evaluate(expr, CONTEXT)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            'uv run --no-sync rollout deploy --image "$IMAGE" --env prod',
            [["rollout", "deploy", "--image", "$IMAGE", "--env", "prod"]],
        ),
        ("echo hi\nmake test", []),
        ("uv sync --frozen --no-dev --package rollout", []),
        ("rollout status --env prod", [["rollout", "status", "--env", "prod"]]),
        (
            'args=()\nuv run rollout undo --env "$E" "${args[@]}"  # go back',
            [["rollout", "undo", "--env", "$E", "${args[@]}"]],
        ),
    ],
)
def test_rollout_commands_are_found_in_scripts(script: str, expected: list[list[str]]) -> None:
    """Only lines invoking rollout are extracted, from the word `rollout` on, comments dropped."""
    assert rollout_commands(script) == expected


def test_step_environment_layers_workflow_job_and_step_env() -> None:
    """Step env wins over job env over workflow env, and each level sees the ones above."""
    workflow: dict[str, Any] = {
        "env": {"AWS_REGION": "ap-northeast-2", "A": "workflow"},
        "jobs": {
            "deploy": {
                "env": {"A": "job", "B": "${{ env.AWS_REGION }}-job"},
                "steps": [
                    {
                        "name": "go",
                        "env": {"IMAGE": "${{ needs.build.outputs.image }}", "C": "${{ env.B }}"},
                        "run": 'uv run rollout deploy --image "$IMAGE"',
                    }
                ],
            }
        },
    }
    (step,) = rollout_steps(workflow, "w")
    env = step_environment(workflow, step, {"needs": CONTEXT["needs"]})
    assert env == {
        "AWS_REGION": "ap-northeast-2",
        "A": "job",
        "B": "ap-northeast-2-job",
        "IMAGE": "repo@sha256:abc",
        "C": "ap-northeast-2-job",
    }
