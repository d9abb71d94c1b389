"""A small Fargate-behind-an-ALB stack around one :class:`EcsSimulation`, for in-process tests.

Use it inside ``moto.mock_aws()``: VPC, two subnets, an ALB with a listener and an ``ip`` target
group, an ECR repository are created through boto3 (moto in-process); ECS calls go straight to
the simulation's ``dispatch`` on a :class:`~rollout.sandbox.clock.VirtualClock`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from typing import Any

import botocore.session

from rollout.aws import ClientFactory
from rollout.sandbox.clock import VirtualClock
from rollout.sandbox.ecs.simulation import EcsSimulation
from rollout.sandbox.ecs.timings import Behaviour, Timings
from rollout.sandbox.faults import FaultPlan
from rollout.sandbox.runtime.simulated import SimulatedRuntime

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
CLUSTER = "sim"
SERVICE = "api"
FAMILY = "api"
CONTAINER = "app"
PORT = 8000
REPO = "api"


def manifest(tag: str) -> str:
    """A Docker v2 manifest whose digests derive from ``tag`` (so each tag has its own digest:
    moto's image digest hashes the layer digests, so the manifest needs a layer)."""
    digest = hashlib.sha256(tag.encode()).hexdigest()
    layer = hashlib.sha256(f"layer {tag}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 100,
                "digest": f"sha256:{digest}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 100,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )


@functools.cache
def _botocore_session() -> botocore.session.Session:
    """One botocore session for every harness: service models are loaded once per process."""
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")  # moto's dummy credentials
    return session


def _factory() -> ClientFactory:
    # Clients come from rollout.aws, the one module that makes them.
    return ClientFactory(region=REGION, botocore_session=_botocore_session())


class SimHarness:
    """The stack plus shortcuts; every ECS call goes through ``call``."""

    def __init__(
        self,
        *,
        timings: Timings | None = None,
        behaviour: Behaviour | None = None,
        faults: FaultPlan | None = None,
        seed: int = 0,
        deregistration_delay: int = 30,
        target_group_port: int = PORT,
        health_check_interval: int = 30,
        healthy_threshold: int = 5,
        unhealthy_threshold: int = 2,
    ) -> None:
        self.clock = VirtualClock()
        self.start = self.clock.now()
        self.sim = EcsSimulation(
            self.clock,
            faults=faults,
            timings=timings,
            behaviour=behaviour,
            seed=seed,
            runtime=SimulatedRuntime(sigterm_exit=(timings or Timings()).sigterm_exit),
        )
        factory = _factory()
        self.ec2 = factory.client("ec2")
        self.elbv2 = factory.client("elbv2")
        self.ecr = factory.client("ecr")
        self.ssm = factory.client("ssm")
        self.secretsmanager = factory.client("secretsmanager")
        self.cloudwatch = factory.client("cloudwatch")
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=az)[
                "Subnet"
            ]["SubnetId"]
            for i, az in ((1, f"{REGION}a"), (2, f"{REGION}b"))
        ]
        self.lb_arn = self.elbv2.create_load_balancer(Name="sim-alb", Subnets=self.subnets)[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        self.tg_arn = self.elbv2.create_target_group(
            Name="sim-tg",
            Protocol="HTTP",
            Port=target_group_port,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
            HealthCheckIntervalSeconds=health_check_interval,
            HealthyThresholdCount=healthy_threshold,
            UnhealthyThresholdCount=unhealthy_threshold,
        )["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.create_listener(
            LoadBalancerArn=self.lb_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg_arn}],
        )
        self.elbv2.modify_target_group_attributes(
            TargetGroupArn=self.tg_arn,
            Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}
            ],
        )
        self.ecr.create_repository(repositoryName=REPO)
        self.registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
        self.call("CreateCluster", clusterName=CLUSTER)

    # ------------------------------------------------------------ calls

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.sim.dispatch(operation, params, region=REGION, account=ACCOUNT)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.sim.tick()

    def elapsed(self) -> float:
        return self.clock.now() - self.start

    # ------------------------------------------------------------ setup shortcuts

    def image(self, tag: str, *, push: bool = True) -> str:
        """The ECR URI for ``tag`` (pushed to moto's ECR unless ``push=False``)."""
        if push:
            with contextlib.suppress(self.ecr.exceptions.ImageAlreadyExistsException):
                self.ecr.put_image(repositoryName=REPO, imageTag=tag, imageManifest=manifest(tag))
        return f"{self.registry}/{REPO}:{tag}"

    def register(
        self,
        image: str,
        *,
        family: str = FAMILY,
        port: int = PORT,
        secrets: list[dict[str, str]] | None = None,
        environment: list[dict[str, str]] | None = None,
        health_check: dict[str, Any] | None = None,
        cpu: str = "256",
        memory: str = "512",
    ) -> str:
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": image,
            "essential": True,
            "portMappings": [{"containerPort": port, "protocol": "tcp"}],
        }
        if secrets:
            container["secrets"] = secrets
        if environment:
            container["environment"] = environment
        if health_check:
            container["healthCheck"] = health_check
        body = self.call(
            "RegisterTaskDefinition",
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=cpu,
            memory=memory,
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/exec",
            containerDefinitions=[container],
        )
        return str(body["taskDefinition"]["taskDefinitionArn"])

    def create_service(
        self,
        task_definition: str,
        *,
        desired: int = 1,
        breaker: bool = True,
        rollback: bool = True,
        minimum: int = 100,
        maximum: int = 200,
        grace: int | None = 30,
        load_balancer: bool = True,
        alarms: dict[str, Any] | None = None,
        name: str = SERVICE,
        port: int = PORT,
    ) -> dict[str, Any]:
        config: dict[str, Any] = {
            "deploymentCircuitBreaker": {"enable": breaker, "rollback": rollback},
            "minimumHealthyPercent": minimum,
            "maximumPercent": maximum,
        }
        if alarms is not None:
            config["alarms"] = alarms
        params: dict[str, Any] = {
            "cluster": CLUSTER,
            "serviceName": name,
            "taskDefinition": task_definition,
            "desiredCount": desired,
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": self.subnets}},
            "deploymentConfiguration": config,
        }
        if load_balancer:
            params["loadBalancers"] = [
                {"targetGroupArn": self.tg_arn, "containerName": CONTAINER, "containerPort": port}
            ]
            if grace is not None:
                params["healthCheckGracePeriodSeconds"] = grace
        service: dict[str, Any] = self.call("CreateService", **params)["service"]
        return service

    def update(self, **params: Any) -> dict[str, Any]:
        service: dict[str, Any] = self.call(
            "UpdateService", cluster=CLUSTER, service=SERVICE, **params
        )["service"]
        return service

    # ------------------------------------------------------------ reads

    def service(self, name: str = SERVICE) -> dict[str, Any]:
        service: dict[str, Any] = self.call("DescribeServices", cluster=CLUSTER, services=[name])[
            "services"
        ][0]
        return service

    def events(self, since: float | None = None) -> list[tuple[float, str]]:
        """Service events oldest first as (seconds since ``since`` or harness start, message)."""
        base = self.start if since is None else since
        return [
            (round(e["createdAt"] - base, 3), e["message"])
            for e in reversed(self.service()["events"])
            if e["createdAt"] >= base
        ]

    def tasks(self, desired_status: str = "RUNNING", **filters: Any) -> list[dict[str, Any]]:
        arns: list[str] = []
        token: str | None = None
        while True:  # every page (ListTasks answers at most 100 ARNs per page)
            page = self.call(
                "ListTasks",
                cluster=CLUSTER,
                desiredStatus=desired_status,
                **filters,
                **({"nextToken": token} if token else {}),
            )
            arns += page["taskArns"]
            token = page.get("nextToken")
            if not token:
                break
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):  # DescribeTasks takes at most 100 ARNs
            tasks += self.call("DescribeTasks", cluster=CLUSTER, tasks=arns[start : start + 100])[
                "tasks"
            ]
        return tasks

    def target_health(self) -> list[dict[str, Any]]:
        answer: dict[str, Any] = dict(self.elbv2.describe_target_health(TargetGroupArn=self.tg_arn))
        return list(answer["TargetHealthDescriptions"])

    def settle(self, *, limit: float = 3600.0, step: float = 15.0) -> float:
        """Advance until the service has one COMPLETED deployment at its desired count (the
        ``services-stable`` rule plus rolloutState); returns the seconds it took."""
        began = self.clock.now()
        while self.clock.now() - began <= limit:
            service = self.service()
            deployments = service["deployments"]
            if (
                len(deployments) == 1
                and deployments[0]["rolloutState"] != "IN_PROGRESS"
                and service["runningCount"] == service["desiredCount"]
            ):
                return self.clock.now() - began
            self.advance(step)
        raise AssertionError(f"service not settled within {limit} s: {self.service()}")
