"""The AWS SDK for JavaScript v3 (what the official GitHub deploy action uses) against a
real-time sandbox, through AWS_ENDPOINT_URL.

The SDK is installed from npm into pytest's cache directory once (about 15 s); without node,
npm or registry access the tests are skipped with the reason, never faked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import CLUSTER, GOOD_TAGS, SERVICE, Realtime

SDK = "@aws-sdk/client-ecs@3.1164.0"

pytestmark = pytest.mark.slow

#: UpdateService, then the SDK's own services-stable waiter (1-2 s between polls instead of the
#: default 15 s: a waiter option, the sandbox is untouched), then DescribeServices.
SCRIPT = """
import { ECSClient, UpdateServiceCommand, DescribeServicesCommand, waitUntilServicesStable }
  from "@aws-sdk/client-ecs";
const [cluster, service, taskDefinition] = process.argv.slice(2);
const client = new ECSClient({});
await client.send(new UpdateServiceCommand({ cluster, service, taskDefinition }));
const waited = await waitUntilServicesStable(
  { client, maxWaitTime: 300, minDelay: 1, maxDelay: 2 }, { cluster, services: [service] });
const s = (await client.send(new DescribeServicesCommand({ cluster, services: [service] })))
  .services[0];
console.log(JSON.stringify({ waiter: waited.state, taskDefinition: s.taskDefinition,
  rollout: s.deployments.map((d) => d.rolloutState) }));
"""


@pytest.fixture(scope="session")
def js_sdk(pytestconfig: pytest.Config) -> Path:
    """A directory with the JS SDK's ECS client installed and the deploy script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed: the JS SDK client test cannot run here")
    cache = pytestconfig.cache
    assert cache is not None
    directory = cache.mkdir("js-sdk-client-ecs")
    if not (directory / "node_modules" / "@aws-sdk" / "client-ecs").is_dir():
        (directory / "package.json").write_text('{"name": "sandbox-js-test", "private": true}')
        install = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", SDK],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if install.returncode != 0:
            pytest.skip(f"npm could not install {SDK}: {install.stderr.strip()[-300:]}")
    (directory / "deploy.mjs").write_text(SCRIPT)
    return directory


def deploy(rt: Realtime, sdk: Path, task_definition: str) -> dict[str, object]:
    done = subprocess.run(
        ["node", "deploy.mjs", CLUSTER, SERVICE, task_definition],
        cwd=sdk,
        env=rt.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_js_sdk_deploys_and_waits(realtime: Realtime, js_sdk: Path) -> None:
    """UpdateService and waitUntilServicesStable work unmodified; the new revision runs."""
    arn = realtime.stack.register(realtime.stack.image(GOOD_TAGS[1]))
    result = deploy(realtime, js_sdk, arn)
    assert result == {"waiter": "SUCCESS", "taskDefinition": arn, "rollout": ["COMPLETED"]}
    assert realtime.sb.calls("ecs", "UpdateService")


def test_js_sdk_waiter_succeeds_after_a_breaker_rollback(realtime: Realtime, js_sdk: Path) -> None:
    """As on AWS, the JS waiter reports SUCCESS after the breaker rolled a bad image back."""
    old = realtime.stack.service()["taskDefinition"]
    bad = realtime.stack.register(realtime.stack.image("sha-missing"))
    result = deploy(realtime, js_sdk, bad)
    assert result == {"waiter": "SUCCESS", "taskDefinition": old, "rollout": ["COMPLETED"]}
