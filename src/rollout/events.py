"""The one stream of events a rollout produces.

The engine and verbs *emit* events; the console, plain-line, JSON and GitHub-summary renderers
*consume* them and make no decisions. Every event is a frozen dataclass with a ``kind``, a time
``at`` (from the injected clock), a ``level`` and a human ``message``, so a renderer can show any
event generically and special-case the kinds it knows. ``data`` carries machine-readable detail
(JSON-safe values only: str, int, float, bool, None, lists and dicts of those).

Kinds (dotted, stable; renderers and the JSON result depend on them):

    run.started        a verb started: data {verb, env, cluster, service, dry_run}
    step.started       data {step, index, total}
    step.finished      data {step, index, total, outcome, seconds}
    write              a mutating AWS call was sent: data {service, operation, summary}
    write.dry_run      the same, not sent (dry run): data {service, operation, request}
    observation        one poll's summary: data {deployments, healthy, unhealthy, ...}
    ecs.event          a new ECS service event: data {id, created_at}
    task.stopped       a task of ours stopped: data {task, stop_code, stopped_reason, exit_codes}
    target.health      a target's health changed: data {target, state, reason}
    check              a preflight check result: data {name, status (pass|fail|warn), fix}
    image_policy.override  the image policy was overridden: data {reason, violations}
    phase              a timed phase ended: data {phase, seconds}
    signal             a failure signal was noticed: data {signal, definitive}
    rollback.started   data {to, via}
    error              the run ended on an error before a verdict: data {error, exit_code}
    verdict            the outcome: data {verdict, exit_code, reason}
    run.finished       data {verdict, exit_code, seconds, api_calls}

Kinds the engine adds (deploy, undo, watch):

    lock.acquired      data {name, holder, expires_at}
    lock.stale         a stale lock is taken over: data {holder}
    lock.released      data {name}
    lock.lost          the lock is no longer ours at release (left as is)
    lock.release_failed  the lock could not be released (message says why)
    target.recorded    the rollback target: data {task_definition, rollback_target_arn, source}
    registered         our new revision: data {task_definition_arn, revision}
    deployment         our deployment is PRIMARY: data {deployment_id, task_definition_arn}
    deployment.adopted a re-run deploy adopts the deployment in flight that already deploys its
                       rendered task definition: data {deployment_id, task_definition_arn}
    smoke              smoke probe result: data {outcome (pass|fail|error), status, url}
    bake               the bake window started: data {seconds, alarms}
    deployments_api.unavailable  the service-deployments API is denied or failing: data {code}
    bake.unavailable   bake alarms unreadable or missing: data {code} or {missing}
    rollback.failed    the rollback write itself failed (message says why)
    rollback.fallback  StopServiceDeployment failed and ours is still the one to undo;
                       UpdateService is used instead
    rollback.superseded  the rollback call failed and a newer deployment is in flight: nothing
                       more is written: data {code}
    traffic.set        Route 53 weights moved back and read back: data {change, weights}
    traffic.shifted    the weight change is INSYNC: data {change, weights}
    traffic.failed     the Route 53 weights could not be moved (the ECS rollback goes on)
    traffic.pending    the Route 53 change was not INSYNC in time: data {}
    restore.waiting    "rolling back": what the restore still waits on, when it changes:
                       data {healthy_on_target, others_serving}
    restore.verified   restored: PRIMARY on the target, its desired tasks healthy in every target
                       group, no task of another revision serving: data {task_definition, seconds}
    interrupted        SIGINT/SIGTERM: data {signal, state, deployments, resume, undo}
    ledger.failed      the outcome could not be tagged on the revision
    retention.failed   retention after the deploy was skipped

Engine data keys added to the kinds above: ``signal`` has {signal, definitive, task, reason};
``target.health`` has {target_group}; ``verdict`` has {deployment_id, task_definition_arn,
rollback_target_arn, dry_run, rollback_via, restore_seconds}; ``observation`` has {deployments
[{id, status, task_definition, desired, running, pending, failed_tasks, rollout_state}], phase,
service_deployment, healthy, unhealthy, initial, draining}; ``phase`` names are "new tasks
healthy", "old tasks drained" and "restore".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["debug", "info", "success", "warning", "error"]


@dataclass(frozen=True)
class Event:
    kind: str
    at: float
    message: str
    level: Level = "info"
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "level": self.level,
            "message": self.message,
            "data": dict(self.data),
        }


EventSink = Callable[[Event], None]


class EventLog:
    """Keeps every event and forwards each to any number of sinks (renderers)."""

    def __init__(self, *sinks: EventSink) -> None:
        self.events: list[Event] = []
        self._sinks = list(sinks)

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        for sink in self._sinks:
            sink(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind or e.kind.startswith(kind + ".")]
