"""`rollout sandbox up` serves each load balancer on loopback and says where, also for load
balancers created after it started; `rollout sandbox alb NAME` prints the URL for scripts."""

from __future__ import annotations

import threading
import time

import boto3
import httpx
import pytest
from typer.testing import CliRunner

import rollout.cli.sandbox  # noqa: F401 - registers the sandbox commands
from rollout.cli import app
from rollout.errors import UsageError
from rollout.sandbox import alb_url_remote, run_up


def test_up_prints_listener_urls_of_new_load_balancers() -> None:
    """An ALB created through the endpoint after start gets a listener; up prints its URL, the
    admin endpoint lists it, `sandbox alb NAME` prints it, and it answers like an ALB."""
    lines: list[str] = []
    ready = threading.Event()
    stop = threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("# Ctrl-C"):
            ready.set()

    thread = threading.Thread(
        target=run_up, kwargs={"port": 0, "speed": 10, "echo": echo, "stop": stop}
    )
    thread.start()
    try:
        assert ready.wait(timeout=60)
        endpoint = next(x.split("=", 1)[1] for x in lines if x.startswith("export AWS_ENDPOINT"))
        session = boto3.session.Session(
            aws_access_key_id="AKIASANDBOXEXAMPLE00",
            aws_secret_access_key="x",
            region_name="ap-northeast-2",
        )
        ec2 = session.client("ec2", endpoint_url=endpoint)
        elbv2 = session.client("elbv2", endpoint_url=endpoint)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)["Subnet"][
                "SubnetId"
            ]
            for i, az in enumerate(("ap-northeast-2a", "ap-northeast-2c"))
        ]
        lb = elbv2.create_load_balancer(Name="late", Subnets=subnets)["LoadBalancers"][0]
        tg = elbv2.create_target_group(
            Name="empty", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]
        elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )
        deadline = time.monotonic() + 10
        while not any(x.startswith("# ALB late: ") for x in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        [printed] = [x.split(": ", 1)[1] for x in lines if x.startswith("# ALB late: ")]
        assert printed.startswith("http://127.0.0.1:")
        assert alb_url_remote(endpoint, "late") == printed
        cli = CliRunner().invoke(app, ["sandbox", "alb", "late", "--endpoint-url", endpoint])
        assert (cli.exit_code, cli.output.strip()) == (0, printed)
        missing = CliRunner().invoke(app, ["sandbox", "alb", "nope", "--endpoint-url", endpoint])
        assert missing.exit_code == 2
        assert httpx.get(printed + "/", timeout=10).status_code == 503  # no targets yet
        with pytest.raises(UsageError, match="'nope'"):
            alb_url_remote(endpoint, "nope")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert lines[-1] == "# sandbox stopped"
