"""rollout.sandbox.measure: restore moments and failed requests, from the sandbox's record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollout.sandbox import Sandbox, measure
from rollout.sandbox.ecs.state import TimelineEntry
from rollout.sandbox.provisioning.stack import ProvisionResult

SVC = "api"
TG = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/api/1"
OLD, BAD = "ecs-svc/1", "ecs-svc/2"
TD1, TD2 = "arn:td/api:1", "arn:td/api:2"


class Story:
    """A timeline written by hand, in the simulation's own entry shapes."""

    def __init__(self) -> None:
        self.entries: list[TimelineEntry] = []

    def add(self, at: float, kind: str, **detail: Any) -> Story:
        self.entries.append(TimelineEntry(at, kind, detail))
        self.entries.sort(key=lambda e: e.time)
        return self

    def created(self, at: float, deployment: str, td: str) -> Story:
        return self.add(
            at, "deployment.created", service=SVC, deployment=deployment, task_definition=td
        )

    def primary(self, at: float, deployment: str) -> Story:
        return self.add(
            at,
            "deployment.state",
            service=SVC,
            deployment=deployment,
            status="PRIMARY",
            rollout_state="IN_PROGRESS",
        )

    def task(self, at: float, task: str, deployment: str, state: str = "RUNNING") -> Story:
        return self.add(
            at, "task.state", task=task, service=SVC, deployment=deployment, state=state
        )

    def target(self, at: float, task: str, state: str) -> Story:
        return self.add(at, "target.health", task=task, target_group=TG, state=state)


def _healthy_then_crash() -> Story:
    """Two old tasks serve; the new release turns healthy at +50 s, ECS drains the old tasks,
    the new ones crash at +80 s, and the rollback's tasks are healthy at +170 s."""
    s = Story().created(0, OLD, TD1)
    for t in ("o1", "o2"):
        s.task(10, t, OLD).target(10, t, "initial").target(20, t, "healthy")
    s.created(100, BAD, TD2)
    for t in ("n1", "n2"):
        s.task(110, t, BAD).target(120, t, "initial").target(150, t, "healthy")
    for t in ("o1", "o2"):
        s.target(151, t, "draining").target(166, t, "unused")
    for t in ("n1", "n2"):
        s.target(180, t, "draining").target(195, t, "unused")
    s.primary(220, OLD)
    for t in ("r1", "r2"):
        s.task(240, t, OLD).target(245, t, "initial").target(270, t, "healthy")
    return s


def test_restored_needs_the_good_revision_healthy_not_only_the_bad_one_gone() -> None:
    """After a late crash, the service is restored only once the good revision has its desired
    healthy targets (+170 s), not when the bad targets stop serving (+120 s); the 90 s with no
    healthy target at all are reported."""
    s = _healthy_then_crash()
    moment = measure.restore_of(s.entries, desired=2, since=50, end=300)
    assert moment is not None
    assert moment.deployment == BAD
    assert moment.restored_after == 170
    assert moment.zero_healthy == ((180, 270),)
    assert moment.zero_healthy_seconds == 90


def test_fewer_good_targets_than_desired_is_not_restored() -> None:
    """One healthy good target out of two desired: not restored, however long one waits."""
    s = _healthy_then_crash()
    s.entries = [e for e in s.entries if e.detail.get("task") != "r2"]
    moment = measure.restore_of(s.entries, desired=2, since=50, end=400)
    assert moment is not None
    assert moment.restored_at is None
    assert moment.zero_healthy == ((180, 270),)


def test_a_restore_lost_again_counts_from_the_last_stretch() -> None:
    """A good target that turns unhealthy after the restore resets it: the moment is the
    start of the last stretch in which the service stayed restored."""
    s = _healthy_then_crash()
    s.target(300, "r1", "unhealthy").target(330, "r1", "healthy")
    moment = measure.restore_of(s.entries, desired=2, since=50, end=400)
    assert moment is not None
    assert moment.restored_after == 230


def test_a_bad_target_still_serving_or_a_bad_primary_is_not_restored() -> None:
    """A bad target in `initial` still gets requests; a bad PRIMARY would start more bad tasks."""
    s = _healthy_then_crash()
    s.task(260, "n3", BAD).target(262, "n3", "initial").target(290, "n3", "unhealthy")
    moment = measure.restore_of(s.entries, desired=2, since=50, end=400)
    assert moment is not None
    assert moment.restored_after == 190  # from +290 s, when n3 stopped getting requests
    s = _healthy_then_crash()
    s.entries = [e for e in s.entries if e.kind != "deployment.state"]
    moment = measure.restore_of(s.entries, desired=2, since=50, end=400)
    assert moment is not None
    assert moment.restored_at is None


def test_a_window_ends_at_until() -> None:
    """Entries at or after ``until`` (the next measure's) are not this measure's."""
    s = _healthy_then_crash()
    moment = measure.restore_of(s.entries, desired=2, since=50, until=200)
    assert moment is not None
    assert moment.restored_at is None
    assert moment.zero_healthy == ((180, 200),)
    assert measure.restore_of(s.entries, desired=2, since=280) is None


def test_without_load_balancers_running_tasks_are_what_serves() -> None:
    """A service without target groups is restored when the good revision runs its desired
    tasks and no bad task runs."""
    s = Story().created(0, OLD, TD1).task(10, "o1", OLD).created(100, BAD, TD2)
    s.task(110, "n1", BAD).task(130, "o1", OLD, "STOPPED").task(140, "n1", BAD, "STOPPED")
    s.primary(141, OLD).task(150, "r1", OLD)
    moment = measure.restore_of(s.entries, desired=1, since=50, end=200)
    assert moment is not None
    assert moment.restored_after == 50
    assert moment.zero_healthy == ()


def test_failures_fold_into_the_restore_moments() -> None:
    """Per-second traffic results are counted before the deploy, until the restore, after it,
    and inside the spans with no healthy target."""
    moment = measure.restore_of(_healthy_then_crash().entries, desired=2, since=50, end=300)
    assert moment is not None
    seconds = [
        measure.SecondCount(
            at=float(t), requests=10, failures={"elb_503": 10} if 180 <= t < 270 else {}
        )
        for t in range(90, 300)
    ]
    seconds[150] = measure.SecondCount(at=240.0, requests=10, failures={"elb_503": 8, "timeout": 2})
    phases = measure.failures_by_phase(seconds, moment)
    assert phases["before"] == measure.Tally(100, 0, {})
    assert phases["until_restored"].requests == 1700
    assert phases["until_restored"].failed == 900
    assert phases["until_restored"].failures == {"elb_503": 898, "timeout": 2}
    assert phases["after_restored"] == measure.Tally(300, 0, {})
    assert phases["zero_healthy"].failed == 900


# -- on a sandbox: any number of tasks ------------------------------------------------------------


@pytest.fixture(scope="module")
def voj() -> Iterator[tuple[Sandbox, ProvisionResult]]:
    with Sandbox() as sb:
        yield sb, sb.provision_voj()


def test_definitive_signal_reads_every_task_past_100(voj: tuple[Sandbox, ProvisionResult]) -> None:
    """With 110 tasks of a release whose image is missing, the signal is read from all of them
    (ListTasks paged, DescribeTasks in batches of 100) instead of failing on AWS's limit."""
    sb, prov = voj
    ecs = sb.client_factory().client("ecs")
    service = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    td["containerDefinitions"][0]["image"] = f"{prov.repository_uri}:never-pushed"
    keys = ("family", "containerDefinitions", "networkMode", "requiresCompatibilities", "cpu")
    body = {k: td[k] for k in (*keys, "memory", "executionRoleArn") if k in td}
    bad = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
    started = sb.clock.now()
    for _ in range(11):
        ecs.run_task(
            cluster=prov.cluster,
            taskDefinition=bad,
            count=10,
            launchType="FARGATE",
            networkConfiguration=service["networkConfiguration"],
        )
    sb.advance(300)
    tasks = measure.task_documents(ecs, prov.cluster, prov.family)
    assert len([t for t in tasks if t["taskDefinitionArn"] == bad]) == 110
    signal = measure.definitive_signal(sb, prov.cluster, prov.service, bad)
    assert signal is not None
    assert started < signal < started + 300
