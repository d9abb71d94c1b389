"""Synthetic event streams shaped like the engine's, for renderer tests."""

from __future__ import annotations

from rollout.events import Event

T0 = 1_800_000_000.0
NEW_TD = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/voj-backend:3"
OLD_TD = "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/voj-backend:2"


def failed_deploy() -> list[Event]:
    """A deploy whose new tasks crash, detected and rolled back."""
    return [
        Event(
            "run.started",
            T0,
            "deploy voj-backend-api to prod",
            data={
                "verb": "deploy",
                "env": "prod",
                "cluster": "voj-prod",
                "service": "voj-backend-api",
                "dry_run": False,
            },
        ),
        Event("step.started", T0, "register", data={"step": "register", "index": 1, "total": 4}),
        Event(
            "write",
            T0 + 1,
            "registered voj-backend:3",
            data={"service": "ecs", "operation": "RegisterTaskDefinition", "summary": "rev 3"},
        ),
        Event(
            "step.finished",
            T0 + 1,
            "register done",
            data={"step": "register", "index": 1, "total": 4, "outcome": "ok", "seconds": 1.0},
        ),
        Event(
            "observation",
            T0 + 5,
            "poll",
            level="debug",
            data={
                "deployments": [
                    {
                        "id": "ecs-svc/222",
                        "status": "PRIMARY",
                        "task_definition": NEW_TD,
                        "desired": 2,
                        "running": 0,
                        "pending": 2,
                        "failed": 0,
                        "rollout_state": "IN_PROGRESS",
                    }
                ],
                "healthy": 2,
                "unhealthy": 0,
            },
        ),
        Event(
            "observation",
            T0 + 10,
            "poll",
            level="debug",
            data={
                "deployments": [
                    {
                        "id": "ecs-svc/222",
                        "status": "PRIMARY",
                        "task_definition": NEW_TD,
                        "desired": 2,
                        "running": 0,
                        "pending": 2,
                        "failed": 0,
                        "rollout_state": "IN_PROGRESS",
                    }
                ],
                "healthy": 2,
                "unhealthy": 0,
            },
        ),
        Event("ecs.event", T0 + 12, "(service voj) has started 2 tasks", data={"id": "e1"}),
        Event(
            "task.stopped",
            T0 + 30,
            "task 0a1b stopped",
            level="warning",
            data={
                "task": "0a1b",
                "stop_code": "EssentialContainerExited",
                "stopped_reason": "Essential container in task exited",
                "exit_codes": {"api": 3},
            },
        ),
        Event(
            "target.health",
            T0 + 31,
            "10.0.1.5 unhealthy",
            level="warning",
            data={"target": "10.0.1.5", "state": "unhealthy", "reason": "Target.Timeout"},
        ),
        Event(
            "signal",
            T0 + 35,
            "2 new tasks exited",
            level="error",
            data={"signal": "essential-exit", "definitive": True},
        ),
        Event(
            "phase",
            T0 + 35,
            "new tasks healthy: failed",
            data={"phase": "new tasks healthy", "seconds": 34.0},
        ),
        Event(
            "rollback.started",
            T0 + 35,
            "rolling back to voj-backend:2",
            level="warning",
            data={"to": OLD_TD, "via": "StopServiceDeployment"},
        ),
        Event("phase", T0 + 80, "restore", data={"phase": "restore", "seconds": 45.0}),
        Event("mystery.kind", T0 + 81, "something new happened", level="warning"),
        Event(
            "verdict",
            T0 + 82,
            "FAILED_ROLLED_BACK",
            level="error",
            data={
                "verdict": "FAILED_ROLLED_BACK",
                "exit_code": 20,
                "reason": "new tasks exited: exit code 3",
                "deployment_id": "ecs-svc/222",
                "task_definition_arn": NEW_TD,
                "rollback_target_arn": OLD_TD,
            },
        ),
        Event(
            "run.finished",
            T0 + 82,
            "done",
            data={
                "verdict": "FAILED_ROLLED_BACK",
                "exit_code": 20,
                "seconds": 82.0,
                "api_calls": 57,
            },
        ),
    ]
