"""The `rollout` lines of the workflows run, with --dry-run, against a provisioned sandbox.

Each step that calls rollout is taken from the parsed YAML and its whole ``run:`` script is
executed the way Actions runs it (``bash --noprofile --norc -eo pipefail``), with the ``env``
the workflow gives the step (workflow, job and step levels, ``${{ }}`` evaluated from the
needs/inputs a real run would have). ``uv`` is a shim on PATH that turns
``uv run [flags] rollout ARGS`` into ``python -m rollout ARGS --dry-run`` and records ARGS. So
if a workflow and the CLI drift apart (a renamed flag, a missing env var), this fails.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rollout.decisions import ledger
from rollout.gateways.ecs import EcsGateway
from rollout.sandbox import Sandbox
from rollout.sandbox.provisioning.stack import ProvisionResult

from .workflows import load_workflow, rollout_steps, step_environment

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"

# Operations that change AWS state; a dry run must send none of them.
WRITES = {
    "RegisterTaskDefinition",
    "UpdateService",
    "StopServiceDeployment",
    "DeregisterTaskDefinition",
    "TagResource",
    "UntagResource",
    "PutParameter",
    "DeleteParameter",
    "ChangeResourceRecordSets",
    "ModifyListener",
}

SHIM = """#!{python}
import json, os, sys
args = sys.argv[1:]
if args[:1] != ["run"]:
    sys.exit("uv shim: only `uv run` is expected in a rollout step, got: " + " ".join(args))
rest = args[1:]
while rest and rest[0].startswith("-"):
    rest = rest[1:]
if rest[:1] != ["rollout"]:
    sys.exit("uv shim: expected `uv run ... rollout`, got: " + " ".join(args))
with open(os.environ["SHIM_LOG"], "a") as log:
    log.write(json.dumps(rest) + "\\n")
os.execv(sys.executable, [sys.executable, "-m", "rollout", *rest[1:], "--dry-run"])
"""


@dataclass
class World:
    sb: Sandbox
    prov: ProvisionResult
    env: dict[str, str]
    shim_dir: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """voj served over HTTP, on revision 3 with revisions 2 and 3 recorded good in the ledger
    (so `rollout undo` has a target), and a `uv` shim directory."""
    sb = Sandbox()
    try:
        prov = sb.provision_voj()
        ecs = EcsGateway(sb.client_factory())
        base = dict(ecs.describe_task_definition(prov.task_definition_arn).document)
        for n in (2, 3):
            start = sb.clock.now()
            tags = ledger.start_tags(
                image=prov.images[f"sha-000000{n}"],
                digest=prov.digests[f"sha-000000{n}"],
                git_sha=str(n) * 40,
                actor="ci",
                run_url=None,
                started_at=start,
            ) | ledger.outcome_tags("succeeded", finished_at=start + 60, good=True)
            doc = copy.deepcopy(base)
            doc["containerDefinitions"][0]["image"] = prov.images[f"sha-000000{n}"]
            td = ecs.register_task_definition(doc, tags)
            ecs.update_service(prov.cluster, prov.service, task_definition=td.arn)
            sb.wait_steady(prov.cluster, prov.service, revision=n)
        sb.serve()
        shim_dir = tmp_path_factory.mktemp("shim")
        shim = shim_dir / "uv"
        shim.write_text(SHIM.format(python=sys.executable))
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        env = {
            "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", "/tmp"),
            **sb.env(),
        }
        yield World(sb, prov, env, shim_dir)
    finally:
        sb.close()


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    argv: list[list[str]]
    outputs: dict[str, str]
    summary: str
    writes: list[str]


def _parse_outputs(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT (``k=v`` lines and ``k<<DELIM`` blocks), last value wins."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            key, delim = line.split("<<", 1)
            value: list[str] = []
            for body in lines:
                if body == delim:
                    break
                value.append(body)
            out[key] = "\n".join(value)
        elif "=" in line:
            key, value_text = line.split("=", 1)
            out[key] = value_text
    return out


def run_workflow_step(
    world: World, workflow_name: str, context: dict[str, Any], tmp: Path
) -> StepRun:
    """Run the (single) rollout step of ``workflow_name`` as Actions would, in dry-run mode."""
    workflow = load_workflow(WORKFLOWS / workflow_name)
    (step,) = rollout_steps(workflow, workflow_name)
    output, summary, log = tmp / "output", tmp / "summary", tmp / "shim.log"
    for path in (output, summary, log):
        path.write_text("")
    env = {
        **world.env,
        **step_environment(workflow, step, context),
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_RUN_ID": "4242",
        "GITHUB_REPOSITORY": "example-org/voj",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_SHA": "1" * 40,
        "GITHUB_ACTOR": "octocat",
        "SHIM_LOG": str(log),
    }
    before = len(world.sb.calls())
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.run],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    writes = [c.operation for c in world.sb.calls()[before:] if c.operation in WRITES]
    return StepRun(
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        argv=[json.loads(line) for line in log.read_text().splitlines()],
        outputs=_parse_outputs(output.read_text()),
        summary=summary.read_text(),
        writes=writes,
    )


def test_deploy_step_runs_against_the_sandbox(world: World, tmp_path: Path) -> None:
    """backend-deploy.yml's rollout line, given the build job's image output (repo@digest),
    deploys (dry run) with verdict SUCCEEDED, writes the outputs and summary, and sends no
    write to AWS."""
    image = f"{world.prov.repository_uri}@{world.prov.digests['sha-0000002']}"
    run = run_workflow_step(
        world,
        "backend-deploy.yml",
        {"needs": {"build": {"outputs": {"image": image}}}, "github": {"run_id": 4242}},
        tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.argv == [["rollout", "deploy", "--image", image, "--env", "prod"]]
    assert run.outputs["verdict"] == "SUCCEEDED"
    assert {"task-definition-arn", "deployment-id"} <= set(run.outputs)
    assert "rollout deploy" in run.summary
    assert run.writes == []


def test_deploy_step_fails_preflight_for_an_image_not_in_ecr(world: World, tmp_path: Path) -> None:
    """With an image digest that was never pushed, the same line exits 10 (preflight)."""
    image = f"{world.prov.repository_uri}@sha256:{'0' * 64}"
    run = run_workflow_step(
        world, "backend-deploy.yml", {"needs": {"build": {"outputs": {"image": image}}}}, tmp_path
    )
    assert run.returncode == 10, run.stdout + run.stderr
    assert run.writes == []


@pytest.mark.parametrize(
    ("revision", "expected_argv"),
    [
        ("", ["rollout", "undo", "--env", "prod"]),
        ("2", ["rollout", "undo", "--env", "prod", "--to-revision", "2"]),
    ],
)
def test_rollback_step_runs_against_the_sandbox(
    world: World, tmp_path: Path, revision: str, expected_argv: list[str]
) -> None:
    """backend-rollback.yml's script, with inputs environment=prod and an optional revision,
    calls `rollout undo` as intended and succeeds as a dry run without writing."""
    run = run_workflow_step(
        world,
        "backend-rollback.yml",
        {"inputs": {"environment": "prod", "revision": revision}},
        tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.argv == [expected_argv]
    assert run.writes == []
    assert "voj-backend-prod:2" in run.stdout + run.stderr + run.summary


@pytest.mark.parametrize("revision", ["2; rm -rf /", "$(id)", "-1", "two"])
def test_rollback_step_refuses_a_revision_that_is_not_a_number(
    world: World, tmp_path: Path, revision: str
) -> None:
    """A revision input that is not a plain number stops the script before rollout runs."""
    run = run_workflow_step(
        world,
        "backend-rollback.yml",
        {"inputs": {"environment": "prod", "revision": revision}},
        tmp_path,
    )
    assert run.returncode == 2
    assert run.argv == []
    assert "revision must be a number" in run.stdout
