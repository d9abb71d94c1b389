"""ECS API surface of the simulation: shapes (checked against botocore's model), queries,
one-off tasks, task definitions, tags and AWS-shaped errors (reference §1.2, §2.3, §4, §8)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from moto import mock_aws

from rollout.sandbox.errors import ApiError
from rollout.sandbox.harness import CLUSTER, SERVICE, SimHarness

MODEL = botocore.session.get_session().get_service_model("ecs")


@pytest.fixture(autouse=True)
def _no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def h() -> Iterator[SimHarness]:
    with mock_aws():
        yield SimHarness()


def _conforms(value: Any, shape: Shape, path: str) -> list[str]:
    """Problems where ``value`` does not fit botocore's ``shape`` (names and JSON types)."""
    problems: list[str] = []
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{path}: expected object"]
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                problems += _conforms(item, shape.members[key], f"{path}.{key}")
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: expected list"]
        for index, item in enumerate(value):
            problems += _conforms(item, shape.member, f"{path}[{index}]")
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{path}: expected map"]
    else:
        expected: dict[str, tuple[type, ...]] = {
            "string": (str,),
            "integer": (int,),
            "long": (int,),
            "boolean": (bool,),
            "double": (int, float),
            "float": (int, float),
            "timestamp": (int, float),
        }
        types = expected.get(shape.type_name)
        if types and (
            not isinstance(value, types)
            or (shape.type_name != "boolean" and isinstance(value, bool))
        ):
            problems.append(f"{path}: {value!r} is not a {shape.type_name}")
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} not in enum {shape.name}")
    return problems


def _check(operation: str, answer: dict[str, Any]) -> dict[str, Any]:
    output = MODEL.operation_model(operation).output_shape
    assert output is not None
    assert _conforms(answer, output, operation) == []
    return answer


def _service_with_history(h: SimHarness) -> None:
    h.create_service(h.register(h.image("v1")), desired=2)
    h.settle()
    h.update(taskDefinition=h.register(h.image("bad", push=False)))
    h.advance(60)


def test_every_answer_conforms_to_botocore_output_shapes(h: SimHarness) -> None:
    """Responses use only botocore's member names, JSON types and enum values, mid-rollout."""
    _service_with_history(h)
    service = _check(
        "DescribeServices",
        h.call("DescribeServices", cluster=CLUSTER, services=[SERVICE], include=["TAGS"]),
    )
    sd_arns = [
        s["serviceDeploymentArn"]
        for s in _check(
            "ListServiceDeployments",
            h.call("ListServiceDeployments", cluster=CLUSTER, service=SERVICE),
        )["serviceDeployments"]
    ]
    _check(
        "DescribeServiceDeployments",
        h.call("DescribeServiceDeployments", serviceDeploymentArns=sd_arns),
    )
    revisions = [r["arn"] for r in service["services"][0]["currentServiceRevisions"]]
    _check(
        "DescribeServiceRevisions",
        h.call("DescribeServiceRevisions", serviceRevisionArns=revisions),
    )
    arns = (
        h.call("ListTasks", cluster=CLUSTER)["taskArns"]
        + h.call("ListTasks", cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    )
    _check("DescribeTasks", h.call("DescribeTasks", cluster=CLUSTER, tasks=arns, include=["TAGS"]))
    _check("DescribeClusters", h.call("DescribeClusters", clusters=[CLUSTER]))
    _check(
        "DescribeTaskDefinition",
        h.call("DescribeTaskDefinition", taskDefinition="api", include=["TAGS"]),
    )
    _check("ListTaskDefinitions", h.call("ListTaskDefinitions"))
    _check(
        "RunTask",
        h.call(
            "RunTask",
            cluster=CLUSTER,
            taskDefinition="api:1",
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": h.subnets}},
        ),
    )


def test_register_task_definition_echoes_aws_defaults(h: SimHarness) -> None:
    """Registration converts "1 vCPU"/"2GB", fills container defaults and counts revisions."""
    answer = h.call(
        "RegisterTaskDefinition",
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1 vCPU",
        memory="2GB",
        containerDefinitions=[
            {"name": "app", "image": "nginx", "portMappings": [{"containerPort": 80}]}
        ],
        tags=[{"key": "team", "value": "core"}],
    )
    td = answer["taskDefinition"]
    assert (td["cpu"], td["memory"], td["revision"], td["status"]) == ("1024", "2048", 1, "ACTIVE")
    assert (
        td["taskDefinitionArn"] == "arn:aws:ecs:ap-northeast-2:123456789012:task-definition/web:1"
    )
    assert td["containerDefinitions"][0]["portMappings"] == [
        {"containerPort": 80, "hostPort": 80, "protocol": "tcp"}
    ]
    assert td["containerDefinitions"][0]["essential"] is True
    assert answer["tags"] == [{"key": "team", "value": "core"}]
    second = h.call(
        "RegisterTaskDefinition", family="web", containerDefinitions=[{"name": "a", "image": "b"}]
    )
    assert second["taskDefinition"]["revision"] == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"cpu": "256", "memory": "4096"},
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory. "
            "See the Amazon ECS documentation for the valid values.",
        ),
        (
            {"cpu": "1 vCPU", "memory": "1GB"},
            "No Fargate configuration exists for given values: 1024 CPU, 1024 memory. "
            "See the Amazon ECS documentation for the valid values.",
        ),
        ({"memory": "512"}, "Fargate requires that 'cpu' be defined at the task level."),
        ({"cpu": "256"}, "Fargate requires that 'memory' be defined at the task level."),
        (
            {"cpu": "256", "memory": "512", "networkMode": "bridge"},
            "Fargate only supports network mode 'awsvpc'.",
        ),
    ],
)
def test_fargate_size_errors_are_client_exceptions(
    h: SimHarness, params: dict[str, Any], message: str
) -> None:
    """Invalid Fargate task sizes fail with AWS's ClientException text and register nothing."""
    body = {"networkMode": "awsvpc", **params}
    with pytest.raises(ApiError) as caught:
        h.call(
            "RegisterTaskDefinition",
            family="bad",
            requiresCompatibilities=["FARGATE"],
            containerDefinitions=[{"name": "a", "image": "b"}],
            **body,
        )
    assert (caught.value.code, caught.value.message) == ("ClientException", message)
    assert h.call("ListTaskDefinitions", familyPrefix="bad")["taskDefinitionArns"] == []


def test_list_describe_deregister_task_definitions(h: SimHarness) -> None:
    """List filters by family, status and sort with pagination; deregistered revisions become
    INACTIVE, stay describable, and cannot be used by UpdateService (§1.1)."""
    arns = [h.register(h.image("v1")) for _ in range(3)]
    h.register(h.image("v1"), family="other")
    page = h.call("ListTaskDefinitions", familyPrefix="api", maxResults=2)
    assert page["taskDefinitionArns"] == arns[:2]
    rest = h.call("ListTaskDefinitions", familyPrefix="api", nextToken=page["nextToken"])
    assert rest["taskDefinitionArns"] == arns[2:]
    assert "nextToken" not in rest
    assert (
        h.call("ListTaskDefinitions", familyPrefix="api", sort="DESC")["taskDefinitionArns"]
        == arns[::-1]
    )
    h.create_service(arns[2])
    gone = h.call("DeregisterTaskDefinition", taskDefinition="api:1")["taskDefinition"]
    assert gone["status"] == "INACTIVE"
    assert "deregisteredAt" in gone
    assert h.call("ListTaskDefinitions", status="INACTIVE")["taskDefinitionArns"] == [arns[0]]
    assert (
        h.call("DescribeTaskDefinition", taskDefinition="api:1")["taskDefinition"]["status"]
        == "INACTIVE"
    )
    assert h.call("DescribeTaskDefinition", taskDefinition="api")["taskDefinition"]["revision"] == 3
    assert h.call("ListTaskDefinitionFamilies")["families"] == ["api", "other"]
    with pytest.raises(ApiError) as inactive:
        h.update(taskDefinition="api:1")
    assert (inactive.value.code, inactive.value.message) == (
        "ClientException",
        "TaskDefinition is inactive",
    )
    with pytest.raises(ApiError) as unknown:
        h.call("DescribeTaskDefinition", taskDefinition="api:99")
    assert (unknown.value.code, unknown.value.message) == (
        "ClientException",
        "Unable to describe task definition.",
    )


def test_tags_on_task_definitions_services_and_clusters(h: SimHarness) -> None:
    """TagResource / UntagResource / ListTagsForResource work on the three resource kinds."""
    td = h.register(h.image("v1"))
    service_arn = h.create_service(td)["serviceArn"]
    cluster_arn = h.call("DescribeClusters", clusters=[CLUSTER])["clusters"][0]["clusterArn"]
    for arn in (td, service_arn, cluster_arn):
        h.call(
            "TagResource",
            resourceArn=arn,
            tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
        )
        h.call("UntagResource", resourceArn=arn, tagKeys=["a"])
        assert h.call("ListTagsForResource", resourceArn=arn)["tags"] == [
            {"key": "b", "value": "2"}
        ]
    described = h.call("DescribeTaskDefinition", taskDefinition=td, include=["TAGS"])
    assert described["tags"] == [{"key": "b", "value": "2"}]


def test_list_tasks_filters(h: SimHarness) -> None:
    """ListTasks filters by serviceName, desiredStatus, startedBy and family (§1.6, fabfuel)."""
    td = h.register(h.image("v1"))
    dep = h.create_service(td, desired=2)["deployments"][0]["id"]
    h.settle()
    network = {"awsvpcConfiguration": {"subnets": h.subnets}}
    h.register(h.image("v1"), family="migrate")
    one_off = h.call(
        "RunTask",
        cluster=CLUSTER,
        taskDefinition="migrate",
        startedBy="rollout-migrate",
        networkConfiguration=network,
    )["tasks"][0]["taskArn"]
    service_tasks = h.call("ListTasks", cluster=CLUSTER, serviceName=SERVICE)["taskArns"]
    assert len(service_tasks) == 2
    assert one_off not in service_tasks
    assert h.call("ListTasks", cluster=CLUSTER, startedBy=dep)["taskArns"] == service_tasks
    assert h.call("ListTasks", cluster=CLUSTER, startedBy="rollout-migrate")["taskArns"] == [
        one_off
    ]
    assert h.call("ListTasks", cluster=CLUSTER, family="migrate")["taskArns"] == [one_off]
    assert h.call("ListTasks", cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"] == []
    page = h.call("ListTasks", cluster=CLUSTER, maxResults=2)
    assert len(page["taskArns"]) == 2
    assert page["nextToken"]
    with pytest.raises(ApiError) as caught:
        h.call("ListTasks", cluster=CLUSTER, serviceName="nope")
    assert caught.value.code == "ServiceNotFoundException"


def test_run_task_and_stop_task_for_a_one_off_fargate_task(h: SimHarness) -> None:
    """RunTask starts an awsvpc task that runs until it exits (crash fault with exit 0 models a
    finished migration) or StopTask stops it with UserInitiated (§4)."""
    from rollout.sandbox.faults import FaultRule

    td = h.register(h.image("v1"), family="migrate")
    network = {"awsvpcConfiguration": {"subnets": h.subnets}}
    started = h.call(
        "RunTask",
        cluster=CLUSTER,
        taskDefinition=td,
        count=1,
        launchType="FARGATE",
        networkConfiguration=network,
        startedBy="me",
    )["tasks"][0]
    assert (started["lastStatus"], started["desiredStatus"], started["group"]) == (
        "PROVISIONING",
        "RUNNING",
        "family:migrate",
    )
    h.advance(60)
    [task] = h.call("DescribeTasks", cluster=CLUSTER, tasks=[started["taskArn"]])["tasks"]
    assert task["lastStatus"] == "RUNNING"
    stopped = h.call("StopTask", cluster=CLUSTER, task=task["taskArn"], reason="done")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    h.advance(60)
    [task] = h.call("DescribeTasks", cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED",
        "UserInitiated",
        "done",
    )
    h.sim.faults.add(FaultRule(effect="crash", family="migrate", after=20, exit_code=0))
    finished = h.call("RunTask", cluster=CLUSTER, taskDefinition=td, networkConfiguration=network)[
        "tasks"
    ][0]
    h.advance(90)
    [task] = h.call("DescribeTasks", cluster=CLUSTER, tasks=[finished["taskArn"]])["tasks"]
    assert (task["lastStatus"], task["stopCode"]) == ("STOPPED", "EssentialContainerExited")
    assert task["containers"][0]["exitCode"] == 0


def test_run_task_without_network_configuration_is_rejected(h: SimHarness) -> None:
    """awsvpc tasks need a network configuration (InvalidParameterException)."""
    with pytest.raises(ApiError) as caught:
        h.call("RunTask", cluster=CLUSTER, taskDefinition=h.register(h.image("v1")))
    assert caught.value.code == "InvalidParameterException"
    assert "Network Configuration must be provided" in caught.value.message


def test_describe_tasks_reports_missing(h: SimHarness) -> None:
    """Unknown task ids come back as MISSING failures."""
    answer = h.call("DescribeTasks", cluster=CLUSTER, tasks=["0" * 32])
    assert answer["tasks"] == []
    assert answer["failures"][0]["reason"] == "MISSING"


@pytest.mark.parametrize(
    ("operation", "params", "code", "message"),
    [
        (
            "DescribeServices",
            {"cluster": "nope", "services": ["x"]},
            "ClusterNotFoundException",
            "Cluster not found.",
        ),
        (
            "UpdateService",
            {"cluster": CLUSTER, "service": "nope"},
            "ServiceNotFoundException",
            "Service not found.",
        ),
        (
            "CreateService",
            {"cluster": CLUSTER, "serviceName": "x", "taskDefinition": "ghost:1"},
            "InvalidParameterException",
            "TaskDefinition not found.",
        ),
        (
            "ExecuteCommand",
            {},
            "ClientException",
            "The rollout sandbox does not simulate the ECS operation ExecuteCommand.",
        ),
        (
            "DeregisterTaskDefinition",
            {"taskDefinition": "api"},
            "ClientException",
            "The specified task definition identifier is invalid. Specify a valid revision.",
        ),
    ],
)
def test_bad_requests_get_aws_shaped_errors(
    h: SimHarness, operation: str, params: dict[str, Any], code: str, message: str
) -> None:
    """Bad requests raise ApiError with AWS's code and message (§issue 7)."""
    with pytest.raises(ApiError) as caught:
        h.call(operation, **params)
    assert (caught.value.code, caught.value.message, caught.value.status) == (code, message, 400)
    assert caught.value.to_body() == {"__type": code, "message": message}


def test_create_service_validates_load_balancer_and_network(h: SimHarness) -> None:
    """CreateService rejects unknown containers/ports, missing subnets and duplicate names."""
    td = h.register(h.image("v1"))
    with pytest.raises(ApiError, match="did not have a container port 9999 defined"):
        h.create_service(td, port=9999)
    with pytest.raises(ApiError, match="Network Configuration must be provided"):
        h.call("CreateService", cluster=CLUSTER, serviceName="n", taskDefinition=td)
    h.create_service(td)
    with pytest.raises(ApiError, match=r"Creation of service was not idempotent\."):
        h.create_service(td)


def test_delete_service_drains_to_inactive(h: SimHarness) -> None:
    """DeleteService needs desired 0 (or force), goes DRAINING, stops tasks, ends INACTIVE."""
    h.create_service(h.register(h.image("v1")))
    h.settle()
    with pytest.raises(ApiError, match="scaled above 0"):
        h.call("DeleteService", cluster=CLUSTER, service=SERVICE)
    assert (
        h.call("DeleteService", cluster=CLUSTER, service=SERVICE, force=True)["service"]["status"]
        == "DRAINING"
    )
    h.advance(120)
    assert h.service()["status"] == "INACTIVE"
    assert h.tasks() == []
    assert h.call("ListServices", cluster=CLUSTER)["serviceArns"] == []
    with pytest.raises(ApiError) as caught:
        h.update(desiredCount=1)
    assert caught.value.code == "ServiceNotActiveException"


def test_describe_services_missing_and_limits(h: SimHarness) -> None:
    """Unknown services come back as MISSING failures with a cluster-qualified ARN."""
    answer = h.call("DescribeServices", cluster=CLUSTER, services=["ghost"])
    assert answer["failures"] == [
        {
            "arn": f"arn:aws:ecs:ap-northeast-2:123456789012:service/{CLUSTER}/ghost",
            "reason": "MISSING",
        }
    ]


def test_events_are_capped_at_one_hundred_newest_first(h: SimHarness) -> None:
    """Service events keep the 100 newest, newest first (§5.1)."""
    h.create_service(h.register(h.image("v1")), load_balancer=False)
    h.settle()
    for _ in range(40):
        h.update(forceNewDeployment=True)
        h.advance(200)
    events = h.service()["events"]
    assert len(events) == 100
    times = [e["createdAt"] for e in events]
    assert times == sorted(times, reverse=True)


def test_steady_state_repeats_every_six_hours(h: SimHarness) -> None:
    """With nothing changing, `has reached a steady state.` is re-emitted every 6 h (§1.5)."""
    h.create_service(h.register(h.image("v1")))
    h.settle()
    h.advance(13 * 3600)
    steady = [t for t, m in h.events() if m.endswith("has reached a steady state.")]
    assert len(steady) == 3
    assert steady[1] - steady[0] == pytest.approx(21600, abs=1)


def test_container_health_check_failure_replaces_task(h: SimHarness) -> None:
    """An essential container health check that never passes marks the task UNHEALTHY and the
    scheduler replaces it with `failed container health checks` (§4.1, §5.2)."""
    from rollout.sandbox.faults import FaultRule

    check = {"command": ["CMD", "true"], "interval": 10, "retries": 3, "startPeriod": 0}
    h.create_service(h.register(h.image("v1"), health_check=check), load_balancer=False)
    h.settle()
    [task] = h.tasks()
    assert task["healthStatus"] == "HEALTHY"
    h.sim.faults.add(FaultRule(effect="never_healthy", image="*:v2"))
    h.update(taskDefinition=h.register(h.image("v2"), health_check=check))
    h.advance(120)
    events = h.events()
    messages = [m for _, m in events]
    index = next(i for i, m in enumerate(messages) if m.endswith("failed container health checks."))
    task_id = messages[index].split("(task ")[1].split(")")[0]
    assert (
        messages[index + 1] == f"(service {SERVICE}) has stopped 1 running tasks: (task {task_id})."
    )
    assert events[index][0] == events[index + 1][0]
    assert "Amazon ECS replaced 1 tasks due to an unhealthy status." in messages[index + 2]
    reasons = {t["stoppedReason"] for t in h.tasks("STOPPED")}
    assert "Task failed container health checks" in reasons


def test_services_without_load_balancer_count_healthy_after_forty_seconds(h: SimHarness) -> None:
    """Without LB or container checks a task counts as healthy 40 s after RUNNING (§1.1)."""
    h.create_service(h.register(h.image("v1")), load_balancer=False)
    h.settle()
    began = h.clock.now()
    h.update(taskDefinition=h.register(h.image("v2")))
    h.settle(step=1)
    events = h.events(since=began)
    started = next(t for t, m in events if "has started" in m)
    stopped = next(t for t, m in events if "has stopped" in m)
    assert stopped - started == pytest.approx(30 + 40 + 10, abs=2)


def test_images_by_digest_and_outside_ecr(h: SimHarness) -> None:
    """An ECR image referenced by an existing digest pulls; an unknown digest fails with the
    digest in the reason; images outside ECR are assumed pullable (Behaviour default)."""
    h.image("v1")
    digest = h.ecr.describe_images(repositoryName="api")["imageDetails"][0]["imageDigest"]
    h.create_service(h.register(f"{h.registry}/api@{digest}"), load_balancer=False)
    h.settle()
    [task] = h.tasks()
    assert task["containers"][0]["imageDigest"] == digest
    ghost = "sha256:" + "0" * 64
    h.update(taskDefinition=h.register(f"{h.registry}/api@{ghost}"))
    h.advance(200)  # the pull is retried for Timings.pull_failure (120 s) before it fails
    reasons = {t["stoppedReason"] for t in h.tasks("STOPPED")}
    assert any(f"api@{ghost}: not found" in str(r) for r in reasons)
    h.update(taskDefinition=h.register("public.ecr.aws/nginx/nginx:1.27"))
    h.settle()
    assert h.service()["deployments"][0]["rolloutState"] == "COMPLETED"


def test_service_tasks_get_propagated_and_managed_tags(h: SimHarness) -> None:
    """propagateTags=SERVICE copies the service's tags to its tasks; managed tags are added."""
    td = h.register(h.image("v1"))
    h.call(
        "CreateService",
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=td,
        desiredCount=1,
        networkConfiguration={"awsvpcConfiguration": {"subnets": h.subnets}},
        propagateTags="SERVICE",
        enableECSManagedTags=True,
        tags=[{"key": "team", "value": "core"}],
    )
    h.advance(20)
    arns = h.call("ListTasks", cluster=CLUSTER)["taskArns"]
    [task] = h.call("DescribeTasks", cluster=CLUSTER, tasks=arns, include=["TAGS"])["tasks"]
    assert {t["key"]: t["value"] for t in task["tags"]} == {
        "team": "core",
        "aws:ecs:serviceName": SERVICE,
        "aws:ecs:clusterName": CLUSTER,
    }


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (
            {"name": "a", "image": "nginx", "secrets": [{"name": "S", "valueFrom": "/x"}]},
            "When you are specifying container secrets, you must also specify a value for "
            "'executionRoleArn'.",
        ),
        (
            {"name": "a", "image": "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/api:v1"},
            "Fargate requires task definition to have execution role ARN to support ECR images.",
        ),
        (
            {"name": "a", "image": "nginx", "logConfiguration": {"logDriver": "awslogs"}},
            "Fargate requires task definition to have execution role ARN to support log driver "
            "awslogs.",
        ),
    ],
)
def test_execution_role_is_required_where_aws_requires_it(
    h: SimHarness, container: dict[str, Any], message: str
) -> None:
    """Secrets, ECR images and awslogs on Fargate need an executionRoleArn (ClientException)."""
    with pytest.raises(ApiError) as caught:
        h.call(
            "RegisterTaskDefinition",
            family="norole",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[container],
        )
    assert (caught.value.code, caught.value.message) == ("ClientException", message)


def test_target_group_checks_on_create_service(h: SimHarness) -> None:
    """CreateService rejects a target group that does not exist or has no load balancer."""
    td = h.register(h.image("v1"))
    vpc = h.ec2.describe_vpcs()["Vpcs"][-1]["VpcId"]
    lonely = h.elbv2.create_target_group(
        Name="lonely", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    network = {"awsvpcConfiguration": {"subnets": h.subnets}}
    for arn, message in (
        (lonely, f"The target group with targetGroupArn {lonely} does not have an associated"),
        (lonely.replace("lonely", "ghost"), "Unable to assume role and validate the specified"),
    ):
        with pytest.raises(ApiError) as caught:
            h.call(
                "CreateService",
                cluster=CLUSTER,
                serviceName="lb",
                taskDefinition=td,
                networkConfiguration=network,
                loadBalancers=[
                    {"targetGroupArn": arn, "containerName": "app", "containerPort": 8000}
                ],
            )
        assert caught.value.code == "InvalidParameterException"
        assert caught.value.message.startswith(message)


def test_targets_registered_by_hand_keep_moto_behaviour(h: SimHarness) -> None:
    """The overlay only answers for targets the simulation registered; others stay moto's."""
    h.create_service(h.register(h.image("v1")))
    h.advance(45)
    h.elbv2.register_targets(TargetGroupArn=h.tg_arn, Targets=[{"Id": "10.0.9.9", "Port": 8000}])
    states = {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in h.target_health()}
    assert states.pop("10.0.9.9") == "healthy"
    assert set(states.values()) == {"initial"}
