"""A small ECS-on-Fargate-behind-an-ALB stack built through AWS APIs, for endpoint tests.

It does not depend on delivery's voj provisioning, so the endpoint's fidelity tests pin the
sandbox alone: VPC, two subnets, a security group, an ALB with a listener and an ip target group,
an ECR repository with two images, an SSM secret, a cluster, a task definition and a service
with the circuit breaker (rollback on) running revision 1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from rollout.sandbox import Sandbox, Timings

CLUSTER = "mini"
SERVICE = "mini-api"
FAMILY = "mini"
CONTAINER = "app"
PORT = 8000
LB_NAME = "mini-alb"
SECRET_PARAM = "/mini/prod/db-password"
GOOD_TAGS = ("good-1", "good-2")


def manifest(tag: str) -> str:
    """A Docker v2 image manifest with digests derived from ``tag``."""
    config = hashlib.sha256(f"mini config {tag}".encode()).hexdigest()
    layer = hashlib.sha256(f"mini layer {tag}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1000,
                "digest": f"sha256:{config}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1000,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )


@dataclass
class MiniStack:
    """Names and clients of the stack; ``clients(service)`` are whatever the test chose."""

    clients: Any
    region: str
    repository_uri: str = ""
    target_group_arn: str = ""
    subnets: list[str] = field(default_factory=list)
    security_group: str = ""
    secret_arn: str = ""
    execution_role_arn: str = ""

    def client(self, service: str) -> Any:
        return self.clients(service)

    def image(self, tag: str) -> str:
        return f"{self.repository_uri}:{tag}"

    def task_definition(self, image: str, *, secret: str | None = None) -> dict[str, Any]:
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": image,
            "essential": True,
            "portMappings": [{"containerPort": PORT, "protocol": "tcp"}],
            "environment": [{"name": "ENVIRONMENT", "value": "prod"}],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": secret or self.secret_arn}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/mini",
                    "awslogs-region": self.region,
                    "awslogs-stream-prefix": "app",
                },
            },
        }
        return {
            "family": FAMILY,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": self.execution_role_arn,
            "containerDefinitions": [container],
        }

    def register(self, image: str, *, secret: str | None = None) -> str:
        ecs = self.client("ecs")
        doc = ecs.register_task_definition(**self.task_definition(image, secret=secret))
        return str(doc["taskDefinition"]["taskDefinitionArn"])

    def deploy(self, image: str, *, secret: str | None = None) -> str:
        """Register a revision with ``image`` and point the service at it; returns its ARN."""
        arn = self.register(image, secret=secret)
        self.client("ecs").update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)
        return arn

    def service(self) -> dict[str, Any]:
        doc = self.client("ecs").describe_services(cluster=CLUSTER, services=[SERVICE])
        return dict(doc["services"][0])


def build_mini_stack(clients: Any, region: str, *, desired: int = 2) -> MiniStack:
    """Create the stack through ``clients(service)`` (in-process or HTTP). Returns it unsteady:
    the caller advances the clock (``sb.wait_steady``)."""
    stack = MiniStack(clients=clients, region=region)
    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    for index, az in enumerate(("a", "c")):
        subnet = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=f"{region}{az}"
        )
        stack.subnets.append(subnet["Subnet"]["SubnetId"])
    stack.security_group = ec2.create_security_group(
        GroupName="mini", Description="mini", VpcId=vpc
    )["GroupId"]

    elbv2 = clients("elbv2")
    lb = elbv2.create_load_balancer(
        Name=LB_NAME, Subnets=stack.subnets, SecurityGroups=[stack.security_group]
    )["LoadBalancers"][0]
    tg = elbv2.create_target_group(
        Name="mini-tg",
        Protocol="HTTP",
        Port=PORT,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=10,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]
    stack.target_group_arn = tg["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=stack.target_group_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
    )
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": stack.target_group_arn}],
    )

    ecr = clients("ecr")
    repo = ecr.create_repository(repositoryName="mini-app")["repository"]
    stack.repository_uri = repo["repositoryUri"]
    for tag in GOOD_TAGS:
        ecr.put_image(repositoryName="mini-app", imageManifest=manifest(tag), imageTag=tag)

    ssm = clients("ssm")
    ssm.put_parameter(Name=SECRET_PARAM, Value="s3cr3t", Type="SecureString")
    stack.secret_arn = ssm.get_parameter(Name=SECRET_PARAM)["Parameter"]["ARN"]

    iam = clients("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    stack.execution_role_arn = iam.create_role(
        RoleName="mini-execution", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    clients("logs").create_log_group(logGroupName="/ecs/mini")

    ecs = clients("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    arn = stack.register(stack.image(GOOD_TAGS[0]))
    ecs.create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=arn,
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": stack.subnets,
                "securityGroups": [stack.security_group],
                "assignPublicIp": "DISABLED",
            }
        },
        loadBalancers=[
            {
                "targetGroupArn": stack.target_group_arn,
                "containerName": CONTAINER,
                "containerPort": PORT,
            }
        ],
        healthCheckGracePeriodSeconds=30,
        deploymentConfiguration={
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
    )
    return stack


def http_clients(url: str, region: str) -> Any:
    """``clients(service)`` for plain boto3 clients talking HTTP to ``url``."""
    session = boto3.Session(
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="sandbox-secret",
        region_name=region,
    )
    cache: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=url)  # type: ignore[call-overload]
        return cache[service]

    return clients


@pytest.fixture
def mini(sandbox: Sandbox) -> MiniStack:
    """The mini stack on the ``sandbox`` fixture, in-process, steady on revision 1."""
    factory = sandbox.client_factory()
    stack = build_mini_stack(factory.client, sandbox.region)
    sandbox.wait_steady(CLUSTER, SERVICE, revision=1)
    return stack


@pytest.fixture
def served(sandbox: Sandbox) -> Iterator[tuple[Sandbox, MiniStack]]:
    """The ``sandbox`` serving HTTP, with the mini stack built over HTTP and steady."""
    url = sandbox.serve()
    stack = build_mini_stack(http_clients(url, sandbox.region), sandbox.region)
    sandbox.wait_steady(CLUSTER, SERVICE, revision=1)
    yield sandbox, stack
    sandbox.stop()


#: Speed of the real-time sandbox for out-of-process clients (AWS CLI, fabfuel): a 2.5-minute
#: rolling deploy takes ~1.5 s of wall time.
CLIENT_SPEED = 100.0


@dataclass
class Realtime:
    """A real-time sandbox serving HTTP with the mini stack, and the env for client processes."""

    sb: Sandbox
    stack: MiniStack
    env: dict[str, str]


@pytest.fixture
def realtime(tmp_path: Any) -> Iterator[Realtime]:
    """A real-time (``CLIENT_SPEED``x) sandbox over HTTP, mini stack steady on revision 1.

    ``env`` is a full environment for subprocess clients: the sandbox's endpoint, region and
    dummy credentials, and empty AWS config files so nothing from the machine leaks in.
    """
    import os

    # The clients' waiters run on wall time: fast failure timings keep breaker scenarios short
    # (the defaults are calibrated on AWS's minutes-long traces, docs/sandbox.md "Calibration").
    sb = Sandbox(speed=CLIENT_SPEED, timings=Timings.fast())
    try:
        url = sb.serve()
        stack = build_mini_stack(http_clients(url, sb.region), sb.region)
        sb.wait_steady(CLUSTER, SERVICE, revision=1)
        empty = tmp_path / "empty"
        empty.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(sb.env())
        env.update({"AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty)})
        yield Realtime(sb, stack, env)
    finally:
        sb.close()


def register_revision(sb: Sandbox, image: str, *, base: str | None = None) -> str:
    """RegisterTaskDefinition: ``base`` (default: the service's current revision) with the
    provisioned container on ``image`` (what a CI deploy step does before UpdateService); the
    new revision's ARN."""
    result = sb.provisioned
    assert result is not None
    ecs = sb.client_factory().client("ecs")
    if base is None:
        service = ecs.describe_services(cluster=result.cluster, services=[result.service])
        base = str(service["services"][0]["taskDefinition"])
    current = ecs.describe_task_definition(taskDefinition=base)
    td: dict[str, Any] = current["taskDefinition"]
    containers = [dict(c) for c in td["containerDefinitions"]]
    for c in containers:
        if c["name"] == result.container:
            c["image"] = image
    keep = (
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "volumes",
    )
    params = {k: td[k] for k in keep if td.get(k) is not None}
    arn: str = ecs.register_task_definition(containerDefinitions=containers, **params)[
        "taskDefinition"
    ]["taskDefinitionArn"]
    return arn
