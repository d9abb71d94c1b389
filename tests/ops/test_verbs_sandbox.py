"""status, history and prune against a provisioned voj sandbox with a ledger history.

The module shares one sandbox (provisioning is the slow part); the only test that changes it,
the real prune, runs last.
"""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from rollout.cli import _register, app
from rollout.decisions.lock import lock_name, new_lock
from rollout.errors import LockHeld
from rollout.gateways.ssm import SsmGateway
from rollout.report import open_reporter
from rollout.verbs import history, prune, status

from .conftest import CURRENT, LedgerWorld


def _lock(world: LedgerWorld, holder: str, ttl: float) -> str:
    name = lock_name("/rollout/lock", world.prov.cluster, world.prov.service)
    record = new_lock(
        holder=holder, run_url=None, pid=42, host="ci-1", now=world.sb.clock.now(), ttl=ttl
    )
    SsmGateway(world.sb.client_factory()).create(name, record.to_json())
    return name


def test_status_shows_service_deployments_tasks_targets_and_free_lock(
    ledger_world: LedgerWorld,
) -> None:
    """status reports the one PRIMARY deployment on the current revision, its tasks and targets."""
    ctx, rep = ledger_world.context()
    outcome = status.run(status.StatusOptions(env="prod"), ctx)
    doc = rep.result()["status"]
    assert outcome.exit_code == 0
    assert doc["service"] == "voj-backend-api"
    assert [d["status"] for d in doc["deployments"]] == ["PRIMARY"]
    assert doc["deployments"][0]["task_definition"] == ledger_world.arns[CURRENT]
    assert doc["current"]["outcome"] == "succeeded"
    assert len(doc["tasks"]) == doc["desired"] > 0
    assert {t["task_definition"] for t in doc["tasks"]} == {ledger_world.arns[CURRENT]}
    healthy = [t for t in doc["targets"] if t["state"] == "healthy"]
    assert len(healthy) == doc["desired"]
    assert doc["events"]
    assert doc["lock"] is None
    assert doc["lock_known"] is True
    assert ledger_world.sb.calls(mutating=True) == []


def test_status_names_the_lock_holder(ledger_world: LedgerWorld) -> None:
    """With the service lock held, status shows who holds it and that it is not stale."""
    name = _lock(ledger_world, "alice@deploy-7", ttl=600)
    try:
        ctx, rep = ledger_world.context()
        status.run(status.StatusOptions(env="prod"), ctx)
        lock = rep.result()["status"]["lock"]
        assert lock["holder"] == "alice@deploy-7"
        assert lock["stale"] is False
    finally:
        SsmGateway(ledger_world.sb.client_factory()).delete(name)


def test_history_reads_the_ledger_newest_first(ledger_world: LedgerWorld) -> None:
    """history lists every revision with its ledger outcome, actor and the current marker."""
    ctx, rep = ledger_world.context()
    history.run(history.HistoryOptions(env="prod", limit=20), ctx)
    entries = rep.result()["history"]["entries"]
    assert [e["revision"] for e in entries] == [6, 5, 4, 3, 2, 1]
    by_rev = {e["revision"]: e for e in entries}
    assert by_rev[6]["outcome"] == "pending"
    assert by_rev[5]["outcome"] == "succeeded"
    assert by_rev[5]["good"] is True
    assert by_rev[5]["current"] is True
    assert by_rev[3]["outcome"] == "rolled-back"
    assert by_rev[3]["actor"] == "dev3"
    assert by_rev[3]["git_sha"] == "3" * 40
    assert by_rev[3]["finished_at"] - by_rev[3]["started_at"] == 120
    assert by_rev[4]["outcome"] is None  # registered by hand
    assert by_rev[4]["image"] == ledger_world.prov.images["sha-0000001"]  # from the document
    assert [e["current"] for e in entries].count(True) == 1


def test_history_limit_keeps_the_newest(ledger_world: LedgerWorld) -> None:
    """--limit 2 shows the two newest revisions and describes no others."""
    ledger_world.sb.clear_calls()
    ctx, rep = ledger_world.context()
    history.run(history.HistoryOptions(env="prod", limit=2), ctx)
    assert [e["revision"] for e in rep.result()["history"]["entries"]] == [6, 5]
    assert len(ledger_world.sb.calls("ecs", "DescribeTaskDefinition")) == 2


def test_prune_dry_run_prints_each_write_and_sends_none(ledger_world: LedgerWorld) -> None:
    """A dry run plans 1, 3 and 4 for deregistration and prints, not sends, each request."""
    ledger_world.sb.clear_calls()
    ctx, rep = ledger_world.context()
    prune.run(prune.PruneOptions(env="prod", keep=1, dry_run=True), ctx)
    result = rep.result()
    items = {i["revision"]: i for i in result["prune"]["items"]}
    assert {r for r, i in items.items() if i["action"] == "deregister"} == {1, 3, 4}
    assert "rollback target" in items[2]["reasons"]
    assert "current" in items[5]["reasons"]
    assert "deploy in progress" in items[6]["reasons"]
    requests = [w for w in result["events"] if w["kind"] == "write.dry_run"]
    assert [r["data"]["request"]["taskDefinition"] for r in requests] == [
        ledger_world.arns[n] for n in (1, 3, 4)
    ]
    assert ledger_world.sb.calls(mutating=True) == []


def test_prune_refuses_while_a_deploy_holds_the_lock(ledger_world: LedgerWorld) -> None:
    """prune refuses, naming the holder, while a live lock is held, and writes nothing."""
    name = _lock(ledger_world, "bob@deploy-8", ttl=600)
    ledger_world.sb.clear_calls()
    try:
        ctx, _ = ledger_world.context()
        with pytest.raises(LockHeld, match="bob@deploy-8"):
            prune.run(prune.PruneOptions(env="prod", keep=1), ctx)
        assert ledger_world.sb.calls("ecs", mutating=True) == []
    finally:
        SsmGateway(ledger_world.sb.client_factory()).delete(name)


def test_status_shows_an_unreadable_lock_as_unknown_not_free(ledger_world: LedgerWorld) -> None:
    """A lock parameter holding something else is reported as unknown, with a warning."""
    name = lock_name("/rollout/lock", ledger_world.prov.cluster, ledger_world.prov.service)
    ssm = SsmGateway(ledger_world.sb.client_factory())
    ssm.create(name, "not json")
    try:
        ctx, rep = ledger_world.context()
        status.run(status.StatusOptions(env="prod"), ctx)
        result = rep.result()
        assert result["status"]["lock"] is None
        assert result["status"]["lock_known"] is False
        assert any(e["kind"] == "lock.unreadable" for e in result["events"])
    finally:
        ssm.delete(name)


def test_prune_goes_ahead_past_a_stale_lock(ledger_world: LedgerWorld) -> None:
    """A lock whose holder is past its TTL does not block a (dry-run) prune."""
    name = _lock(ledger_world, "gone@deploy-1", ttl=-60)
    try:
        ctx, rep = ledger_world.context()
        prune.run(prune.PruneOptions(env="prod", keep=1, dry_run=True), ctx)
        assert rep.result()["prune"]["keep"] == 1
    finally:
        SsmGateway(ledger_world.sb.client_factory()).delete(name)


def test_history_cli_prints_json_over_http(ledger_world: LedgerWorld) -> None:
    """`rollout history --output json` reaches the sandbox's HTTP endpoint and prints the ledger."""
    _register()
    env = ledger_world.sb.env()
    result = CliRunner().invoke(app, ["history", "--output", "json", "--limit", "3"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [e["revision"] for e in doc["history"]["entries"]] == [6, 5, 4]


def test_prune_deregisters_only_what_the_plan_allows(ledger_world: LedgerWorld) -> None:
    """A real prune deregisters 1, 3 and 4 and keeps the service running on revision 5 (last)."""
    out = io.StringIO()
    ctx, rep = ledger_world.context(open_reporter("plain", stream=out, environ={}))
    prune.run(prune.PruneOptions(env="prod", keep=1), ctx)
    rep.close()
    calls = ledger_world.sb.calls("ecs", "DeregisterTaskDefinition")
    assert len(calls) == 3
    ecs = ledger_world.sb.client_factory().client("ecs")
    active = ecs.list_task_definitions(familyPrefix=ledger_world.prov.family, status="ACTIVE")
    assert sorted(active["taskDefinitionArns"]) == sorted(ledger_world.arns[n] for n in (2, 5, 6))
    assert "deregistered 3 revisions" in out.getvalue()
