"""A small service behind an ALB with two target groups, production and test listener rules and
the ECS infrastructure role: what a BLUE_GREEN / LINEAR / CANARY service needs
(traffic-shifting.md §1.7). Built through the AWS APIs of an in-process virtual-clock sandbox."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from rollout.sandbox import Sandbox

CLUSTER = "shift"
SERVICE = "shift-api"
FAMILY = "shift"
PORT = 8000
TAGS = ("v1", "v2", "v3")


def manifest(tag: str) -> str:
    digest = hashlib.sha256(f"shift {tag}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1000,
                "digest": f"sha256:{digest}",
            },
            "layers": [],
        }
    )


@dataclass
class ShiftStack:
    sb: Sandbox
    ecs: Any
    elbv2: Any
    cloudwatch: Any
    repository_uri: str = ""
    lb_arn: str = ""
    blue_tg: str = ""
    green_tg: str = ""
    prod_rule: str = ""
    test_rule: str = ""
    role_arn: str = ""
    execution_role_arn: str = ""
    subnets: list[str] = field(default_factory=list)

    def register(self, tag: str) -> str:
        doc = self.ecs.register_task_definition(
            family=FAMILY,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            executionRoleArn=self.execution_role_arn,
            containerDefinitions=[
                {
                    "name": "app",
                    "image": f"{self.repository_uri}:{tag}",
                    "essential": True,
                    "portMappings": [{"containerPort": PORT}],
                    "environment": [{"name": "VERSION", "value": tag}],
                }
            ],
        )
        return str(doc["taskDefinition"]["taskDefinitionArn"])

    def load_balancers(self, advanced: bool = True) -> list[dict[str, Any]]:
        lb: dict[str, Any] = {
            "targetGroupArn": self.blue_tg,
            "containerName": "app",
            "containerPort": PORT,
        }
        if advanced:
            lb["advancedConfiguration"] = {
                "alternateTargetGroupArn": self.green_tg,
                "productionListenerRule": self.prod_rule,
                "testListenerRule": self.test_rule,
                "roleArn": self.role_arn,
            }
        return [lb]

    def create_service(self, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return dict(
            self.ecs.create_service(
                cluster=CLUSTER,
                serviceName=SERVICE,
                taskDefinition=self.register(TAGS[0]),
                desiredCount=2,
                launchType="FARGATE",
                networkConfiguration={"awsvpcConfiguration": {"subnets": self.subnets}},
                loadBalancers=extra.pop("loadBalancers", self.load_balancers()),
                healthCheckGracePeriodSeconds=30,
                deploymentConfiguration=config,
                **extra,
            )["service"]
        )

    def deploy(self, tag: str) -> str:
        """Point the service at a new revision; returns the new service deployment's ARN."""
        self.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=self.register(tag))
        return str(self.service()["currentServiceDeployment"])

    def service(self) -> dict[str, Any]:
        return dict(self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0])

    def deployment(self, arn: str) -> dict[str, Any]:
        doc = self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])
        return dict(doc["serviceDeployments"][0])

    def weights(self, rule: str | None = None) -> dict[str, int]:
        """{target group ARN: weight} of the production (or given) rule, as DescribeRules says."""
        doc = self.elbv2.describe_rules(RuleArns=[rule or self.prod_rule])["Rules"][0]
        groups = doc["Actions"][0]["ForwardConfig"]["TargetGroups"]
        return {g["TargetGroupArn"]: int(g["Weight"]) for g in groups}

    def healthy(self, tg: str) -> int:
        doc = self.elbv2.describe_target_health(TargetGroupArn=tg)
        return sum(
            1 for t in doc["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"
        )

    def live_tasks(self, tag: str) -> int:
        """RUNNING/PENDING tasks of the revision with image ``tag``."""
        arns = self.ecs.list_tasks(cluster=CLUSTER, serviceName=SERVICE)["taskArns"]
        if not arns:
            return 0
        tasks = self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
        return sum(
            1
            for t in tasks
            if t["lastStatus"] != "STOPPED"
            and t["desiredStatus"] == "RUNNING"
            and t["containers"][0]["image"].endswith(":" + tag)
        )

    def run_until(
        self,
        arn: str,
        done: Callable[[dict[str, Any]], bool],
        *,
        step: float = 5.0,
        limit: float = 7200.0,
        each: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Advance ``step`` at a time until ``done(deployment)``; ``each`` sees every poll."""
        waited = 0.0
        while True:
            doc = self.deployment(arn)
            if each is not None:
                each(doc)
            if done(doc):
                return doc
            if waited >= limit:
                raise AssertionError(f"not done after {limit} s: {doc['status']}")
            self.sb.advance(step)
            waited += step


def build(sb: Sandbox) -> ShiftStack:
    factory = sb.client_factory()
    c = factory.client
    stack = ShiftStack(sb=sb, ecs=c("ecs"), elbv2=c("elbv2"), cloudwatch=c("cloudwatch"))
    ec2 = c("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    for i, az in enumerate("ac"):
        subnet = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"{sb.region}{az}"
        )
        stack.subnets.append(subnet["Subnet"]["SubnetId"])
    elbv2 = stack.elbv2
    lb = elbv2.create_load_balancer(Name="shift-alb", Subnets=stack.subnets)["LoadBalancers"][0]
    stack.lb_arn = lb["LoadBalancerArn"]
    groups = []
    for name in ("shift-blue", "shift-green"):
        tg = elbv2.create_target_group(
            Name=name,
            Protocol="HTTP",
            Port=PORT,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=tg,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "15"}],
        )
        groups.append(tg)
    stack.blue_tg, stack.green_tg = groups
    listener = elbv2.create_listener(
        LoadBalancerArn=stack.lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    forward = [
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": stack.blue_tg, "Weight": 1},
                    {"TargetGroupArn": stack.green_tg, "Weight": 0},
                ]
            },
        }
    ]
    stack.prod_rule = elbv2.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=forward,
    )["Rules"][0]["RuleArn"]
    stack.test_rule = elbv2.create_rule(
        ListenerArn=listener,
        Priority=5,
        Conditions=[
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Rollout-Test", "Values": ["1"]},
            }
        ],
        Actions=forward,
    )["Rules"][0]["RuleArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    stack.role_arn = c("iam").create_role(
        RoleName="shift-ecs-infrastructure", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    tasks_trust = json.loads(
        json.dumps(trust).replace("ecs.amazonaws.com", "ecs-tasks.amazonaws.com")
    )
    stack.execution_role_arn = c("iam").create_role(
        RoleName="shift-execution", AssumeRolePolicyDocument=json.dumps(tasks_trust)
    )["Role"]["Arn"]
    ecr = c("ecr")
    stack.repository_uri = ecr.create_repository(repositoryName="shift")["repository"][
        "repositoryUri"
    ]
    for tag in TAGS:
        ecr.put_image(
            repositoryName="shift",
            imageManifest=manifest(tag),
            imageTag=tag,
        )
    stack.ecs.create_cluster(clusterName=CLUSTER)
    return stack


@pytest.fixture
def stack(sandbox: Sandbox) -> ShiftStack:
    """The stack without a service yet."""
    return build(sandbox)


@pytest.fixture
def make_service(stack: ShiftStack) -> Callable[..., ShiftStack]:
    """``make_service(config, **create_service_extra)``: create the service, wait steady."""

    def make(config: dict[str, Any], **extra: Any) -> ShiftStack:
        stack.create_service(dict(config), **extra)
        stack.sb.wait_steady(CLUSTER, SERVICE, revision=1)
        return stack

    return make
