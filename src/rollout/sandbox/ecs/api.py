"""ECS operation handlers: JSON 1.1 request dicts in, response dicts out (botocore's shapes).

Timestamps are epoch seconds (floats), as the JSON 1.1 protocol carries them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from moto.backends import get_backend

from rollout.sandbox.ecs import shifting
from rollout.sandbox.ecs.rules import normalise_cpu, normalise_memory, validate_fargate_size
from rollout.sandbox.ecs.state import (
    PENDING_STATES,
    ClusterRecord,
    DeploymentRecord,
    RegionState,
    ServiceRecord,
    TaskDefinitionRecord,
    TaskRecord,
)
from rollout.sandbox.errors import (
    ApiError,
    client_error,
    cluster_not_found,
    invalid_parameter,
    service_not_active,
    service_not_found,
)

if TYPE_CHECKING:
    # Handlers see the simulation only through this Protocol: no import of ecs/simulation.py.
    from rollout.sandbox.ecs.ports import SimulationPort as EcsSimulation

Handler = Callable[["EcsSimulation", RegionState, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}

PLATFORM_VERSION_RESOLVED = "1.4.0"


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------- helpers


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise invalid_parameter("Invalid nextToken.") from exc


def _page(
    items: list[Any], params: dict[str, Any], default: int = 100
) -> tuple[list[Any], str | None]:
    start = _offset(params.get("nextToken"))
    size = int(params.get("maxResults") or default)
    if size < 1 or size > 100:
        raise invalid_parameter("maxResults must be between 1 and 100.")
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, _token(start + size) if more else None


def _paged(
    key: str, items: list[Any], params: dict[str, Any], default: int = 100
) -> dict[str, Any]:
    """A List* response: one page of ``items`` under ``key``, plus ``nextToken`` if more."""
    page, token = _page(items, params, default)
    out: dict[str, Any] = {key: page}
    if token:
        out["nextToken"] = token
    return out


def _name_from(value: str) -> str:
    """A cluster or service name from a name or an ARN."""
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _cluster(rs: RegionState, value: str | None) -> ClusterRecord:
    name = _name_from(value or "default")
    cluster = rs.clusters.get(name)
    if cluster is None or cluster.status != "ACTIVE":
        raise cluster_not_found()
    return cluster


def _service(rs: RegionState, cluster: ClusterRecord, value: str) -> ServiceRecord:
    service = rs.services.get((cluster.name, _name_from(value)))
    if service is None:
        raise service_not_found()
    return service


def find_task_definition(rs: RegionState, ref: str) -> TaskDefinitionRecord:
    """Resolve ``family``, ``family:revision`` or an ARN; ClientException if unknown."""
    text = ref.split("task-definition/", 1)[1] if ref.startswith("arn:") else ref
    family, _, revision = text.partition(":")
    revisions = rs.task_definitions.get(family, [])
    if revision:
        for record in revisions:
            if str(record.revision) == revision:
                return record
    else:
        active = [r for r in revisions if r.status == "ACTIVE"]
        if active:
            return active[-1]
    raise client_error("Unable to describe task definition.")


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise invalid_parameter(f"{name} is required.")
    return value


def _tags_of(params: dict[str, Any]) -> list[dict[str, str]]:
    tags = params.get("tags") or []
    for tag in tags:
        if "key" not in tag:
            raise invalid_parameter("Tag keys must be specified.")
    return [{"key": str(t["key"]), "value": str(t.get("value", ""))} for t in tags]


def _merge_tags(existing: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {t["key"]: t["value"] for t in existing}
    for tag in new:
        merged[tag["key"]] = tag["value"]
    return [{"key": k, "value": v} for k, v in merged.items()]


def _caller(rs: RegionState) -> str:
    return f"arn:aws:iam::{rs.account}:root"


# ---------------------------------------------------------------- configuration checks


def _ecr_host(rs: RegionState) -> str:
    return f"{rs.account}.dkr.ecr.{rs.region}.amazonaws.com"


def _split_image(image: str) -> tuple[str, str, str | None, str | None]:
    """(registry, repository, tag, digest) of an image reference."""
    ref, _, digest = image.partition("@")
    first, slash, rest = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", ref
    last = path.rsplit("/", 1)[-1]
    tag: str | None = None
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if not digest and tag is None:
        tag = "latest"
    return registry, path, tag, digest or None


def _ecr_image(image: str) -> tuple[str, str, str] | None:
    """(account, region, repository) when the image lives on an ECR private registry."""
    registry, repository, _, _ = _split_image(image)
    parts = registry.split(".")
    if len(parts) >= 6 and parts[1] == "dkr" and parts[2] == "ecr":
        return parts[0], parts[3], repository
    return None


def _find_ecr_image(image: str) -> Any | None:
    located = _ecr_image(image)
    if located is None:
        return None
    account, region, repository = located
    _, _, tag, digest = _split_image(image)
    try:
        backend = get_backend("ecr")[account][region]
    except Exception:
        return None
    repo = backend.repositories.get(repository)
    if repo is None:
        return None
    for candidate in repo.images:
        if tag is not None and tag not in candidate.image_tags:
            continue
        if digest is not None and candidate.get_image_digest() != digest:
            continue
        return candidate
    return None


def image_references(image: str) -> list[str]:
    """``image`` and every other reference the registry knows for the same image.

    For an ECR image: ``repository@digest`` and ``repository:tag`` for each of its tags, so a
    fault rule written on a tag matches the image deployed by digest and vice versa (an image
    is its content, whatever reference the task definition names). Other images: ``[image]``.
    """
    found = _find_ecr_image(image)
    located = _ecr_image(image)
    if found is None or located is None:
        return [image]
    registry, repository, _, _ = _split_image(image)
    digest = str(found.get_image_digest())
    tags: list[str] = []
    try:
        repo = get_backend("ecr")[located[0]][located[1]].repositories.get(repository)
        for candidate in repo.images if repo is not None else []:
            if candidate.get_image_digest() == digest:
                tags += [t for t in candidate.image_tags or [] if t]
    except Exception:  # pragma: no cover - moto internals
        tags = [t for t in found.image_tags or [] if t]
    base = f"{registry}/{repository}"
    return list(dict.fromkeys([image, f"{base}@{digest}", *(f"{base}:{t}" for t in tags)]))


def pull_error(sim: EcsSimulation, rs: RegionState, task: TaskRecord) -> str | None:
    """CannotPullContainerError text if a container's image cannot be pulled (§4.2)."""
    for container in task.containers:
        image = container.image
        if _ecr_image(image) is None:
            if sim.behaviour.pull_non_ecr_images:
                continue
        elif _find_ecr_image(image) is not None:
            continue
        registry, repository, tag, digest = _split_image(image)
        ref = f"{registry}/{repository}" + (f"@{digest}" if digest else f":{tag}")
        return (
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
            f"failed to resolve ref {ref}: {ref}: not found"
        )
    return None


def image_digest(rs: RegionState, image: str) -> str | None:
    found = _find_ecr_image(image)
    if found is not None:
        return str(found.get_image_digest())
    _, _, _, digest = _split_image(image)
    if digest:
        return digest
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _ssm_exists(rs: RegionState, value_from: str) -> bool:
    account, region, name = rs.account, rs.region, value_from
    if value_from.startswith("arn:"):
        parts = value_from.split(":", 5)
        region, account = parts[3], parts[4]
        name = parts[5].split("parameter", 1)[1]
    try:
        backend = get_backend("ssm")[account][region]
    except Exception:
        return False
    candidates = {name, "/" + name.lstrip("/"), name.lstrip("/")}
    return any(c in backend._parameters for c in candidates)


def _secret_exists(value_from: str) -> bool:
    parts = value_from.split(":")
    region, account = parts[3], parts[4]
    secret_arn = ":".join(parts[:7])
    try:
        backend = get_backend("secretsmanager")[account][region]
    except Exception:
        return False
    return secret_arn in backend.secrets


def missing_secret(sim: EcsSimulation, rs: RegionState, task: TaskRecord) -> str | None:
    """ResourceInitializationError text if a `secrets` valueFrom does not exist (§4.2)."""
    td = find_task_definition(rs, task.task_definition_arn)
    prefix = (
        "ResourceInitializationError: unable to pull secrets or registry auth: "
        "execution resource retrieval failed: "
    )
    for cdef in td.body.get("containerDefinitions", []):
        for secret in cdef.get("secrets", []) or []:
            value_from = str(secret.get("valueFrom", ""))
            if value_from.startswith("arn:") and ":secretsmanager:" in value_from:
                if not _secret_exists(value_from):
                    return (
                        prefix + "unable to retrieve secret from asm: "
                        "service call has been retried 1 time(s): "
                        f"failed to fetch secret {value_from} from "
                        "secrets manager: ResourceNotFoundException: "
                        "Secrets Manager can't find the specified secret."
                    )
            elif not _ssm_exists(rs, value_from):
                name = value_from
                if value_from.startswith("arn:"):
                    name = value_from.split(":", 5)[5].split("parameter", 1)[1]
                return (
                    prefix + "unable to retrieve secrets from ssm: "
                    "service call has been retried 1 time(s): "
                    f"invalid ssm parameters: {name}"
                )
    return None


# ---------------------------------------------------------------- task definitions


def _normalise_container(cdef: dict[str, Any], network_mode: str) -> dict[str, Any]:
    out = copy.deepcopy(cdef)
    if "name" not in out or "image" not in out:
        raise client_error("Container.name and Container.image should not be null or empty.")
    out.setdefault("cpu", 0)
    out.setdefault("essential", True)
    out.setdefault("environment", [])
    out.setdefault("mountPoints", [])
    out.setdefault("volumesFrom", [])
    mappings = []
    for pm in out.get("portMappings", []) or []:
        pm = dict(pm)
        if "containerPort" in pm and network_mode == "awsvpc":
            pm.setdefault("hostPort", pm["containerPort"])
            if pm["hostPort"] != pm["containerPort"]:
                raise client_error(
                    "When networkMode=awsvpc, the host ports and "
                    "container ports in port mappings must match."
                )
        pm.setdefault("protocol", "tcp")
        mappings.append(pm)
    out["portMappings"] = mappings
    if out.get("healthCheck"):
        hc = dict(out["healthCheck"])
        hc.setdefault("interval", 30)
        hc.setdefault("timeout", 5)
        hc.setdefault("retries", 3)
        out["healthCheck"] = hc
    out.setdefault("systemControls", [])
    return out


@handler("RegisterTaskDefinition")
def register_task_definition(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    family = str(_required(p, "family"))
    if not all(ch.isalnum() or ch in "-_" for ch in family) or len(family) > 255:
        raise client_error(
            "Family contains invalid characters: up to 255 "
            "letters (uppercase and lowercase), numbers, "
            "hyphens, and underscores are allowed."
        )
    containers = p.get("containerDefinitions") or []
    if not containers:
        raise client_error("TaskDefinition must contain at least one container definition.")
    network_mode = p.get("networkMode", "bridge")
    requires = list(p.get("requiresCompatibilities") or [])
    cpu = normalise_cpu(str(p["cpu"])) if p.get("cpu") is not None else None
    memory = normalise_memory(str(p["memory"])) if p.get("memory") is not None else None
    if "FARGATE" in requires:
        if network_mode != "awsvpc":
            raise client_error("Fargate only supports network mode 'awsvpc'.")
        validate_fargate_size(cpu, memory)
    names = [c.get("name") for c in containers]
    if len(set(names)) != len(names):
        raise client_error("Container names must be unique in a task definition.")
    if not any(c.get("essential", True) for c in containers):
        raise client_error("Task definition must have at least one essential container.")
    bodies = [_normalise_container(c, network_mode) for c in containers]
    _check_execution_role(p, bodies, fargate="FARGATE" in requires)
    revisions = rs.task_definitions.setdefault(family, [])
    revision = (revisions[-1].revision if revisions else 0) + 1
    arn = rs.arn(f"task-definition/{family}:{revision}")
    body: dict[str, Any] = {
        "taskDefinitionArn": arn,
        "containerDefinitions": bodies,
        "family": family,
        "networkMode": network_mode,
        "revision": revision,
        "volumes": copy.deepcopy(p.get("volumes") or []),
        "status": "ACTIVE",
        "requiresAttributes": _requires_attributes(p, bodies),
        "placementConstraints": copy.deepcopy(p.get("placementConstraints") or []),
        "compatibilities": ["EC2", "FARGATE"] if network_mode == "awsvpc" else ["EC2"],
        "requiresCompatibilities": requires,
        "registeredAt": sim.now,
        "registeredBy": _caller(rs),
    }
    for key in (
        "taskRoleArn",
        "executionRoleArn",
        "runtimePlatform",
        "pidMode",
        "ipcMode",
        "proxyConfiguration",
        "ephemeralStorage",
        "enableFaultInjection",
    ):
        if p.get(key) is not None:
            body[key] = copy.deepcopy(p[key])
    if cpu is not None:
        body["cpu"] = cpu
    if memory is not None:
        body["memory"] = memory
    tags = _tags_of(p)
    record = TaskDefinitionRecord(
        arn=arn, family=family, revision=revision, body=body, tags=tags, registered_at=sim.now
    )
    revisions.append(record)
    sim.record("taskdef.registered", arn=arn)
    return {"taskDefinition": copy.deepcopy(body), "tags": list(tags)}


def _check_execution_role(
    p: dict[str, Any], bodies: list[dict[str, Any]], *, fargate: bool
) -> None:
    """What AWS refuses to register without an execution role."""
    if p.get("executionRoleArn"):
        return
    if any(b.get("secrets") for b in bodies):
        raise client_error(
            "When you are specifying container secrets, you must also specify a value for "
            "'executionRoleArn'."
        )
    if not fargate:
        return
    if any(_ecr_image(str(b.get("image", ""))) for b in bodies):
        raise client_error(
            "Fargate requires task definition to have execution role ARN to support ECR images."
        )
    if any((b.get("logConfiguration") or {}).get("logDriver") == "awslogs" for b in bodies):
        raise client_error(
            "Fargate requires task definition to have execution role ARN to support log driver "
            "awslogs."
        )


def _requires_attributes(p: dict[str, Any], bodies: list[dict[str, Any]]) -> list[dict[str, str]]:
    attrs = []
    if p.get("networkMode") == "awsvpc":
        attrs.append({"name": "ecs.capability.task-eni"})
    if p.get("executionRoleArn"):
        attrs.append({"name": "ecs.capability.execution-role-ecr-pull"})
    if any(b.get("secrets") for b in bodies):
        attrs.append({"name": "ecs.capability.secrets.ssm.environment-variables"})
    if any(b.get("healthCheck") for b in bodies):
        attrs.append({"name": "ecs.capability.container-health-check"})
    return attrs


def _td_view(record: TaskDefinitionRecord) -> dict[str, Any]:
    body = copy.deepcopy(record.body)
    body["status"] = record.status
    if record.deregistered_at is not None:
        body["deregisteredAt"] = record.deregistered_at
    return body


@handler("DescribeTaskDefinition")
def describe_task_definition(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    record = find_task_definition(rs, str(_required(p, "taskDefinition")))
    out: dict[str, Any] = {"taskDefinition": _td_view(record)}
    if "TAGS" in (p.get("include") or []):
        out["tags"] = list(record.tags)
    return out


@handler("ListTaskDefinitions")
def list_task_definitions(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    status = p.get("status", "ACTIVE")
    prefix = p.get("familyPrefix")
    records = [
        r
        for family in sorted(rs.task_definitions)
        for r in rs.task_definitions[family]
        if r.status == status and (prefix is None or family == prefix)
    ]
    records.sort(key=lambda r: (r.family, r.revision), reverse=p.get("sort") == "DESC")
    return _paged("taskDefinitionArns", [r.arn for r in records], p)


@handler("ListTaskDefinitionFamilies")
def list_task_definition_families(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    status = p.get("status", "ACTIVE")
    prefix = p.get("familyPrefix") or ""
    families = []
    for family in sorted(rs.task_definitions):
        if not family.startswith(prefix):
            continue
        has_active = any(r.status == "ACTIVE" for r in rs.task_definitions[family])
        if (
            status == "ALL"
            or (status == "ACTIVE" and has_active)
            or (status == "INACTIVE" and not has_active)
        ):
            families.append(family)
    return _paged("families", families, p)


@handler("DeregisterTaskDefinition")
def deregister_task_definition(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    ref = str(_required(p, "taskDefinition"))
    if ":" not in ref.split("task-definition/")[-1]:
        raise client_error(
            "The specified task definition identifier is invalid. Specify a valid revision."
        )
    record = find_task_definition(rs, ref)
    if record.status == "ACTIVE":
        record.status = "INACTIVE"
        record.deregistered_at = sim.now
        sim.record("taskdef.deregistered", arn=record.arn)
    return {"taskDefinition": _td_view(record)}


# ---------------------------------------------------------------- tags


def _taggable(
    rs: RegionState, arn: str
) -> TaskDefinitionRecord | ClusterRecord | ServiceRecord | TaskRecord:
    resource = arn.split(":", 5)[-1] if arn.startswith("arn:") else ""
    kind, _, rest = resource.partition("/")
    if kind == "task-definition":
        return find_task_definition(rs, arn)
    if kind == "cluster":
        cluster = rs.clusters.get(rest)
        if cluster is None:
            raise cluster_not_found()
        return cluster
    if kind == "service":
        cluster_name, _, name = rest.partition("/")
        service = rs.services.get((cluster_name, name))
        if service is None:
            raise service_not_found()
        return service
    if kind == "task":
        task = rs.tasks.get(arn)
        if task is None:
            raise invalid_parameter("The specified task was not found.")
        return task
    raise invalid_parameter(f"The ARN {arn} is not a taggable ECS resource in the sandbox.")


@handler("TagResource")
def tag_resource(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    target = _taggable(rs, str(_required(p, "resourceArn")))
    target.tags = _merge_tags(target.tags, _tags_of(p))
    return {}


@handler("UntagResource")
def untag_resource(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    target = _taggable(rs, str(_required(p, "resourceArn")))
    keys = set(p.get("tagKeys") or [])
    target.tags = [t for t in target.tags if t["key"] not in keys]
    return {}


@handler("ListTagsForResource")
def list_tags_for_resource(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    target = _taggable(rs, str(_required(p, "resourceArn")))
    return {"tags": list(target.tags)}


# ---------------------------------------------------------------- clusters


def _cluster_view(
    sim: EcsSimulation, rs: RegionState, cluster: ClusterRecord, include: list[str]
) -> dict[str, Any]:
    tasks = [t for t in rs.tasks.values() if t.cluster == cluster.name]
    services = [
        s for s in rs.services.values() if s.cluster == cluster.name and s.status == "ACTIVE"
    ]
    out: dict[str, Any] = {
        "clusterArn": cluster.arn,
        "clusterName": cluster.name,
        "status": cluster.status,
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": sum(1 for t in tasks if t.last_status == "RUNNING"),
        "pendingTasksCount": sum(1 for t in tasks if t.last_status in PENDING_STATES),
        "activeServicesCount": len(services),
        "statistics": [],
        "tags": list(cluster.tags) if "TAGS" in include else [],
        "settings": list(cluster.settings),
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }
    return out


@handler("CreateCluster")
def create_cluster(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    name = str(p.get("clusterName") or "default")
    existing = rs.clusters.get(name)
    if existing is None or existing.status != "ACTIVE":
        existing = ClusterRecord(
            name=name,
            arn=rs.arn(f"cluster/{name}"),
            created_at=sim.now,
            tags=_tags_of(p),
            settings=list(
                p.get("settings") or [{"name": "containerInsights", "value": "disabled"}]
            ),
        )
        rs.clusters[name] = existing
        sim.record("cluster.created", cluster=name)
    return {"cluster": _cluster_view(sim, rs, existing, ["TAGS"])}


@handler("DescribeClusters")
def describe_clusters(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    clusters, failures = [], []
    include = list(p.get("include") or [])
    for ref in p.get("clusters") or ["default"]:
        name = _name_from(ref)
        cluster = rs.clusters.get(name)
        if cluster is None:
            failures.append({"arn": rs.arn(f"cluster/{name}"), "reason": "MISSING"})
        else:
            clusters.append(_cluster_view(sim, rs, cluster, include))
    return {"clusters": clusters, "failures": failures}


@handler("ListClusters")
def list_clusters(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    arns = [c.arn for c in rs.clusters.values() if c.status == "ACTIVE"]
    return _paged("clusterArns", arns, p)


@handler("DeleteCluster")
def delete_cluster(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, str(_required(p, "cluster")))
    if any(s.cluster == cluster.name and s.status != "INACTIVE" for s in rs.services.values()):
        raise ApiError(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        )
    if any(t.cluster == cluster.name and t.last_status != "STOPPED" for t in rs.tasks.values()):
        raise ApiError(
            "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active."
        )
    cluster.status = "INACTIVE"
    return {"cluster": _cluster_view(sim, rs, cluster, [])}


# ---------------------------------------------------------------- services

_DEFAULT_DC: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "strategy": "ROLLING",
    "bakeTimeInMinutes": 0,
}


def _deployment_configuration(
    given: dict[str, Any] | None,
    base: dict[str, Any] | None = None,
    *,
    other_strategy_configuration: Literal["drop", "refuse"] = "drop",
) -> dict[str, Any]:
    """``given`` merged field by field onto the stored ``base`` (UpdateService) or the defaults.

    A strategy's configuration block (``linearConfiguration``, ``canaryConfiguration``) is
    "only valid when the deployment strategy is LINEAR/CANARY" (traffic-shifting.md §1.1);
    what UpdateService does with the *stored* block of the previous strategy is UNVERIFIED. With
    ``"drop"`` (``Behaviour.other_strategy_configuration``, the documented reading) a stored
    block that does not belong to the resulting strategy is dropped; a block the request itself
    gives for another strategy is still refused.
    """
    config = copy.deepcopy(base if base is not None else _DEFAULT_DC)
    for key, value in (given or {}).items():
        config[key] = copy.deepcopy(value)
    if base is not None and other_strategy_configuration == "drop":
        strategy = config.get("strategy", "ROLLING")
        for key, owner in (("linearConfiguration", "LINEAR"), ("canaryConfiguration", "CANARY")):
            if key in config and key not in (given or {}) and strategy != owner:
                del config[key]
    breaker = config.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
    breaker.setdefault("enable", False)
    breaker.setdefault("rollback", False)
    minimum, maximum = (
        int(config.get("minimumHealthyPercent", 100)),
        int(config.get("maximumPercent", 200)),
    )
    if not 0 <= minimum <= 100:
        raise invalid_parameter("minimumHealthyPercent must be between 0 and 100.")
    if maximum < 100:
        raise invalid_parameter(
            "maximumPercent must be at least 100 for the REPLICA scheduling strategy."
        )
    if (given or {}).get("strategy") == "BLUE_GREEN" and "bakeTimeInMinutes" not in (given or {}):
        raise invalid_parameter(
            "deploymentConfiguration.bakeTimeInMinutes is required when the deployment strategy "
            "is BLUE_GREEN."
        )
    shifting.check_configuration(config)
    if config.get("alarms") is not None:
        alarms = config["alarms"]
        alarms.setdefault("alarmNames", [])
        alarms.setdefault("enable", False)
        alarms.setdefault("rollback", False)
    return config


def _check_load_balancers(
    rs: RegionState, td: TaskDefinitionRecord, lbs: list[dict[str, Any]]
) -> None:
    containers = {c["name"]: c for c in td.body.get("containerDefinitions", [])}
    for lb in lbs:
        name = lb.get("containerName")
        if name not in containers:
            raise invalid_parameter(f"The container {name} does not exist in the task definition.")
        port = lb.get("containerPort")
        ports = {pm.get("containerPort") for pm in containers[name].get("portMappings", [])}
        if port not in ports:
            raise invalid_parameter(
                f"The container {name} did not have a container port {port} defined."
            )
        tg_arn = lb.get("targetGroupArn")
        if tg_arn:
            try:
                backend = get_backend("elbv2")[rs.account][rs.region]
                group = backend.target_groups.get(tg_arn)
            except Exception:
                group = None
            if group is None:
                raise invalid_parameter(
                    "Unable to assume role and validate the specified "
                    "targetGroupArn. Please verify that the "
                    "ECS service role being passed has the proper permissions."
                )
            if not group.load_balancer_arns:
                raise invalid_parameter(
                    f"The target group with targetGroupArn {tg_arn} "
                    "does not have an associated load balancer."
                )


def _check_network(td: TaskDefinitionRecord, network: dict[str, Any] | None) -> None:
    if td.body.get("networkMode") == "awsvpc":
        subnets = ((network or {}).get("awsvpcConfiguration") or {}).get("subnets")
        if not subnets:
            raise invalid_parameter(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )


def _usable_task_definition(rs: RegionState, ref: str) -> TaskDefinitionRecord:
    try:
        td = find_task_definition(rs, ref)
    except ApiError as exc:
        raise invalid_parameter("TaskDefinition not found.") from exc
    if td.status != "ACTIVE":
        raise client_error("TaskDefinition is inactive")
    return td


@handler("CreateService")
def create_service(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    name = str(_required(p, "serviceName"))
    existing = rs.services.get((cluster.name, name))
    if existing is not None and existing.status != "INACTIVE":
        raise invalid_parameter("Creation of service was not idempotent.")
    td = _usable_task_definition(rs, str(_required(p, "taskDefinition")))
    if (p.get("deploymentController") or {}).get("type", "ECS") != "ECS":
        raise invalid_parameter("The rollout sandbox simulates the ECS deployment controller only.")
    lbs = copy.deepcopy(p.get("loadBalancers") or [])
    _check_load_balancers(rs, td, lbs)
    config = _deployment_configuration(p.get("deploymentConfiguration"))
    shifting.check_load_balancers(rs.account, rs.region, config["strategy"], lbs)
    network = copy.deepcopy(p.get("networkConfiguration"))
    _check_network(td, network)
    desired = int(p.get("desiredCount", 0 if p.get("schedulingStrategy") == "DAEMON" else 1))
    if desired < 0:
        raise invalid_parameter("desiredCount must be 0 or more.")
    grace = p.get("healthCheckGracePeriodSeconds")
    if grace is not None and not lbs:
        raise invalid_parameter(
            "Health check grace period is only valid for services configured to use load balancers."
        )
    service = ServiceRecord(
        name=name,
        arn=rs.arn(f"service/{cluster.name}/{name}"),
        cluster=cluster.name,
        cluster_arn=cluster.arn,
        task_definition=td.arn,
        desired=desired,
        launch_type=str(p.get("launchType") or "FARGATE"),
        platform_version=str(p.get("platformVersion") or "LATEST"),
        network_configuration=network,
        load_balancers=lbs,
        deployment_configuration=config,
        grace_period=int(grace) if grace is not None else (0 if lbs else None),
        created_at=sim.now,
        created_by=_caller(rs),
        role_arn=f"arn:aws:iam::{rs.account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
        tags=_tags_of(p),
        propagate_tags=str(p.get("propagateTags") or "NONE"),
        enable_ecs_managed_tags=bool(p.get("enableECSManagedTags", False)),
        enable_execute_command=bool(p.get("enableExecuteCommand", False)),
    )
    rs.services[(cluster.name, name)] = service
    sim.record("service.created", service=name, cluster=cluster.name)
    sim.start_deployment(rs, service)
    return {"service": service_view(sim, rs, service, include_tags=True)}


_STARTS_DEPLOYMENT = (
    "taskDefinition",
    "networkConfiguration",
    "platformVersion",
    "loadBalancers",
    "serviceRegistries",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "vpcLatticeConfigurations",
)


@handler("UpdateService")
def update_service(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    service = _service(rs, cluster, str(_required(p, "service")))
    if service.status != "ACTIVE":
        raise service_not_active()
    new_deployment = bool(p.get("forceNewDeployment"))
    td_ref = p.get("taskDefinition")
    td = (
        _usable_task_definition(rs, str(td_ref))
        if td_ref
        else find_task_definition(rs, service.task_definition)
    )
    lbs = (
        copy.deepcopy(p["loadBalancers"])
        if p.get("loadBalancers") is not None
        else service.load_balancers
    )
    network = (
        copy.deepcopy(p["networkConfiguration"])
        if p.get("networkConfiguration")
        else service.network_configuration
    )
    _check_load_balancers(rs, td, lbs)
    _check_network(td, network)
    config = (
        _deployment_configuration(
            p["deploymentConfiguration"],
            service.deployment_configuration,
            other_strategy_configuration=sim.behaviour.other_strategy_configuration,
        )
        if p.get("deploymentConfiguration") is not None
        else service.deployment_configuration
    )
    if p.get("desiredCount") is not None and int(p["desiredCount"]) < 0:
        raise invalid_parameter("desiredCount must be 0 or more.")
    shifting.check_load_balancers(rs.account, rs.region, config["strategy"], lbs)
    # all checks passed: apply
    if td_ref and td.arn != service.task_definition:
        new_deployment = True
    if td_ref:
        service.task_definition = td.arn
    if p.get("loadBalancers") is not None and lbs != service.load_balancers:
        new_deployment = True
    service.load_balancers = lbs
    if p.get("networkConfiguration") and network != service.network_configuration:
        new_deployment = True
    service.network_configuration = network
    if p.get("platformVersion") and p["platformVersion"] != service.platform_version:
        service.platform_version = str(p["platformVersion"])
        new_deployment = True
    for key in (
        "serviceRegistries",
        "serviceConnectConfiguration",
        "volumeConfigurations",
        "vpcLatticeConfigurations",
    ):
        if p.get(key):
            new_deployment = True
    # settings the scheduler reads on every pass: a change wakes it (no new deployment, §1.1),
    # so a deployment stuck on min/max (or waiting out a grace period) resumes at once
    rescheduled = config != service.deployment_configuration
    service.deployment_configuration = config
    if p.get("healthCheckGracePeriodSeconds") is not None:
        grace = int(p["healthCheckGracePeriodSeconds"])
        rescheduled = rescheduled or grace != service.grace_period
        service.grace_period = grace
    for key, attr in (
        ("enableExecuteCommand", "enable_execute_command"),
        ("enableECSManagedTags", "enable_ecs_managed_tags"),
    ):
        if p.get(key) is not None:
            setattr(service, attr, bool(p[key]))
    if p.get("propagateTags") is not None:
        service.propagate_tags = str(p["propagateTags"])
    if p.get("desiredCount") is not None and int(p["desiredCount"]) != service.desired:
        service.desired = int(p["desiredCount"])
        service.steady = False
        sim.record("service.desired", service=service.name, desired=service.desired)
        sim.request_pass(rs, service, sim.now + sim.timings.scheduler_reaction)
    if rescheduled:
        service.stuck_reported = False  # stuck again under the new settings: say so again
        sim.request_pass(rs, service, sim.now + sim.timings.scheduler_reaction)
    if new_deployment:
        sim.start_deployment(rs, service)
    return {"service": service_view(sim, rs, service)}


def _deployment_view(
    sim: EcsSimulation, rs: RegionState, service: ServiceRecord, d: DeploymentRecord
) -> dict[str, Any]:
    tasks = [
        t
        for t in rs.tasks.values()
        if t.service == service.name and t.cluster == service.cluster and t.deployment_id == d.id
    ]
    out: dict[str, Any] = {
        "id": d.id,
        "status": d.status,
        "taskDefinition": d.task_definition,
        "desiredCount": d.desired,
        "pendingCount": sum(1 for t in tasks if t.last_status in PENDING_STATES),
        "runningCount": sum(1 for t in tasks if t.last_status == "RUNNING"),
        "failedTasks": d.failed_tasks,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
        "launchType": d.launch_type,
        "platformVersion": PLATFORM_VERSION_RESOLVED
        if d.platform_version == "LATEST"
        else d.platform_version,
        "platformFamily": "Linux",
        "rolloutState": d.rollout_state,
        "rolloutStateReason": d.rollout_reason,
    }
    if d.network_configuration:
        out["networkConfiguration"] = copy.deepcopy(d.network_configuration)
    return out


def service_view(
    sim: EcsSimulation, rs: RegionState, service: ServiceRecord, *, include_tags: bool = False
) -> dict[str, Any]:
    tasks = [
        t for t in rs.tasks.values() if t.service == service.name and t.cluster == service.cluster
    ]
    visible = service.visible_deployments() if service.status != "INACTIVE" else []
    out: dict[str, Any] = {
        "serviceArn": service.arn,
        "serviceName": service.name,
        "clusterArn": service.cluster_arn,
        "loadBalancers": copy.deepcopy(service.load_balancers),
        "serviceRegistries": [],
        "status": service.status,
        "desiredCount": service.desired,
        "runningCount": sum(1 for t in tasks if t.last_status == "RUNNING"),
        "pendingCount": sum(1 for t in tasks if t.last_status in PENDING_STATES),
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "Linux",
        "taskDefinition": service.task_definition,
        "deploymentConfiguration": copy.deepcopy(service.deployment_configuration),
        "deployments": [_deployment_view(sim, rs, service, d) for d in visible],
        "roleArn": service.role_arn,
        "events": list(service.events),
        "createdAt": service.created_at,
        "placementConstraints": [],
        "placementStrategy": [],
        "schedulingStrategy": service.scheduling_strategy,
        "deploymentController": copy.deepcopy(service.deployment_controller),
        "createdBy": service.created_by,
        "enableECSManagedTags": service.enable_ecs_managed_tags,
        "propagateTags": service.propagate_tags,
        "enableExecuteCommand": service.enable_execute_command,
        "availabilityZoneRebalancing": "ENABLED",
    }
    if service.network_configuration:
        out["networkConfiguration"] = copy.deepcopy(service.network_configuration)
    if service.grace_period is not None:
        out["healthCheckGracePeriodSeconds"] = service.grace_period
    if visible:
        current = service.deployment(service.current_deployment) or service.primary
        out["currentServiceDeployment"] = sim.service_deployment_arn(rs, service, current)
        out["currentServiceRevisions"] = [
            {
                "arn": sim.revision_arn(rs, service, d),
                "requestedTaskCount": d.desired,
                "runningTaskCount": sum(
                    1 for t in tasks if t.deployment_id == d.id and t.last_status == "RUNNING"
                ),
                "pendingTaskCount": sum(
                    1 for t in tasks if t.deployment_id == d.id and t.last_status in PENDING_STATES
                ),
            }
            for d in visible
        ]
    if include_tags:
        out["tags"] = list(service.tags)
    return out


@handler("DescribeServices")
def describe_services(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    refs = _required(p, "services")
    if len(refs) > 10:
        raise invalid_parameter("services can have at most 10 items.")
    include_tags = "TAGS" in (p.get("include") or [])
    services, failures = [], []
    for ref in refs:
        service = rs.services.get((cluster.name, _name_from(ref)))
        if service is None or (
            service.status == "INACTIVE"
            and service.deleted_at is not None
            and sim.now > service.deleted_at + sim.timings.inactive_service_retention
        ):
            failures.append(
                {"arn": rs.arn(f"service/{cluster.name}/{_name_from(ref)}"), "reason": "MISSING"}
            )
        else:
            services.append(service_view(sim, rs, service, include_tags=include_tags))
    return {"services": services, "failures": failures}


@handler("ListServices")
def list_services(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    arns = [
        s.arn
        for s in rs.services.values()
        if s.cluster == cluster.name
        and s.status != "INACTIVE"
        and (not p.get("launchType") or s.launch_type == p["launchType"])
        and (not p.get("schedulingStrategy") or s.scheduling_strategy == p["schedulingStrategy"])
    ]
    return _paged("serviceArns", arns, p, default=10)


@handler("DeleteService")
def delete_service(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    service = _service(rs, cluster, str(_required(p, "service")))
    if service.status != "ACTIVE":
        raise service_not_active()
    if service.desired > 0 and not p.get("force"):
        raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
    service.status = "DRAINING"
    service.desired = 0
    service.deleted_at = sim.now
    sim.record("service.deleted", service=service.name)
    sim.request_pass(rs, service, sim.now)
    return {"service": service_view(sim, rs, service)}


# ---------------------------------------------------------------- tasks


def task_view(
    sim: EcsSimulation, rs: RegionState, task: TaskRecord, include_tags: bool
) -> dict[str, Any]:
    attachment_status = {
        "PROVISIONING": "PRECREATED",
        "STOPPED": "DELETED",
        "DEPROVISIONING": "DELETED",
    }.get(task.last_status, "ATTACHED")
    health = "UNKNOWN"
    if task.container_health is not None:
        from rollout.sandbox.dataplane.health_timeline import health_at

        health = (
            health_at(task.container_health, sim.now).state
            if task.last_status == "RUNNING"
            else health
        )
    containers = []
    for c in task.containers:
        view: dict[str, Any] = {
            "containerArn": c.arn,
            "taskArn": task.arn,
            "name": c.name,
            "image": c.image,
            "runtimeId": c.runtime_id,
            "lastStatus": c.last_status,
            "networkBindings": [],
            "networkInterfaces": [
                {"attachmentId": task.attachment_id, "privateIpv4Address": task.ip}
            ],
            "healthStatus": health if c.health_check else "UNKNOWN",
            "cpu": "0",
            "managedAgents": [],
        }
        if c.image_digest:
            view["imageDigest"] = c.image_digest
        if c.exit_code is not None:
            view["exitCode"] = c.exit_code
        if c.reason:
            view["reason"] = c.reason
        containers.append(view)
    out: dict[str, Any] = {
        "attachments": [
            {
                "id": task.attachment_id,
                "type": "ElasticNetworkInterface",
                "status": attachment_status,
                "details": [
                    {"name": "subnetId", "value": task.subnet},
                    {"name": "networkInterfaceId", "value": task.eni_id},
                    {"name": "macAddress", "value": task.mac},
                    {
                        "name": "privateDnsName",
                        "value": f"ip-{task.ip.replace('.', '-')}.{rs.region}.compute.internal",
                    },
                    {"name": "privateIPv4Address", "value": task.ip},
                ],
            }
        ],
        "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
        "availabilityZone": task.availability_zone,
        "clusterArn": rs.arn(f"cluster/{task.cluster}"),
        "connectivity": "CONNECTED" if task.connectivity_at is not None else "DISCONNECTED",
        "containers": containers,
        "cpu": task.cpu,
        "memory": task.memory,
        "createdAt": task.created_at,
        "desiredStatus": task.desired_status,
        "enableExecuteCommand": False,
        "group": task.group,
        "healthStatus": health,
        "lastStatus": task.last_status,
        "launchType": "FARGATE",
        "overrides": {
            "containerOverrides": copy.deepcopy(task.overrides.get("containerOverrides"))
            or [{"name": c.name} for c in task.containers],
            "inferenceAcceleratorOverrides": [],
        },
        "platformVersion": PLATFORM_VERSION_RESOLVED,
        "platformFamily": "Linux",
        "taskArn": task.arn,
        "taskDefinitionArn": task.task_definition_arn,
        "version": task.version,
        "ephemeralStorage": {"sizeInGiB": 20},
        "fargateEphemeralStorage": {"sizeInGiB": 20},
    }
    for key, value in (
        ("connectivityAt", task.connectivity_at),
        ("pullStartedAt", task.pull_started_at),
        ("pullStoppedAt", task.pull_stopped_at),
        ("startedAt", task.started_at),
        ("stoppingAt", task.stopping_at),
        ("executionStoppedAt", task.execution_stopped_at),
        ("stoppedAt", task.stopped_at),
        ("startedBy", task.started_by),
        ("stopCode", task.stop_code),
        ("stoppedReason", task.stopped_reason),
    ):
        if value is not None:
            out[key] = value
    if include_tags:
        out["tags"] = list(task.tags)
    return out


def _find_task(rs: RegionState, cluster: ClusterRecord, ref: str) -> TaskRecord | None:
    if ref.startswith("arn:"):
        task = rs.tasks.get(ref)
        if task is None and ref.count("/") == 1:  # old-style ARN without the cluster
            ref = ref.rsplit("/", 1)[-1]
        else:
            return task if task is not None and task.cluster == cluster.name else None
    return rs.tasks.get(rs.arn(f"task/{cluster.name}/{ref}"))


@handler("DescribeTasks")
def describe_tasks(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    refs = _required(p, "tasks")
    if len(refs) > 100:
        raise invalid_parameter("tasks can have at most 100 items.")
    include_tags = "TAGS" in (p.get("include") or [])
    tasks, failures = [], []
    for ref in refs:
        task = _find_task(rs, cluster, str(ref))
        if task is None:
            arn = ref if str(ref).startswith("arn:") else rs.arn(f"task/{cluster.name}/{ref}")
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            tasks.append(task_view(sim, rs, task, include_tags))
    return {"tasks": tasks, "failures": failures}


@handler("ListTasks")
def list_tasks(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    if p.get("serviceName") and (p.get("family") or p.get("startedBy")):
        raise invalid_parameter("serviceName may not be specified with family or startedBy.")
    if p.get("serviceName"):
        service = rs.services.get((cluster.name, _name_from(str(p["serviceName"]))))
        if service is None:
            raise service_not_found()
    desired = p.get("desiredStatus", "RUNNING")
    if desired not in ("RUNNING", "PENDING", "STOPPED"):
        raise invalid_parameter(f"desiredStatus {desired} is not valid.")
    arns = []
    for task in rs.tasks.values():
        if task.cluster != cluster.name:
            continue
        if p.get("serviceName") and task.service != _name_from(str(p["serviceName"])):
            continue
        if p.get("family") and task.family != p["family"]:
            continue
        if p.get("startedBy") and task.started_by != p["startedBy"]:
            continue
        if p.get("launchType") and p["launchType"] != "FARGATE":
            continue
        if task.desired_status != desired:
            continue
        arns.append(task.arn)
    return _paged("taskArns", arns, p)


@handler("RunTask")
def run_task(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    td = _usable_task_definition(rs, str(_required(p, "taskDefinition")))
    network = copy.deepcopy(p.get("networkConfiguration"))
    _check_network(td, network)
    count = int(p.get("count") or 1)
    if not 1 <= count <= 10:
        raise invalid_parameter("count must be between 1 and 10.")
    if p.get("launchType") not in (None, "FARGATE"):
        raise invalid_parameter("The rollout sandbox simulates the FARGATE launch type only.")
    started_by = p.get("startedBy")
    if started_by is not None and len(str(started_by)) > 128:
        raise invalid_parameter("startedBy must be at most 128 characters.")
    tasks = [
        sim.launch_task(
            rs,
            None,
            None,
            task_definition=td,
            cluster=cluster.name,
            started_by=started_by,
            group=p.get("group"),
            network_configuration=network,
            overrides=copy.deepcopy(p.get("overrides") or {}),
            tags=_tags_of(p),
        )
        for _ in range(count)
    ]
    return {"tasks": [task_view(sim, rs, t, True) for t in tasks], "failures": []}


@handler("StopTask")
def stop_task(sim: EcsSimulation, rs: RegionState, p: dict[str, Any]) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    task = _find_task(rs, cluster, str(_required(p, "task")))
    if task is None:
        raise invalid_parameter("The referenced task was not found.")
    if task.live:
        service = rs.services.get((task.cluster, task.service)) if task.service else None
        # UNVERIFIED: the stoppedReason ECS records when StopTask gets no reason.
        reason = str(p.get("reason") or "Task stopped by user")
        sim.stop_tasks(rs, service, [task], code="UserInitiated", reason=reason)
        if service is not None:
            sim.request_pass(rs, service, sim.now + sim.timings.scheduler_reaction)
    return {"task": task_view(sim, rs, task, False)}


# ---------------------------------------------------------------- service deployments (§2.3)


def _sd_find(
    sim: EcsSimulation, rs: RegionState, arn: str
) -> tuple[ServiceRecord, DeploymentRecord] | None:
    for service in rs.services.values():
        for d in service.deployments:
            if sim.service_deployment_arn(rs, service, d) == arn:
                return service, d
    return None


def _sd_view(
    sim: EcsSimulation, rs: RegionState, service: ServiceRecord, d: DeploymentRecord
) -> dict[str, Any]:
    tasks = [
        t for t in rs.tasks.values() if t.service == service.name and t.cluster == service.cluster
    ]

    def revision(dep: DeploymentRecord) -> dict[str, Any]:
        mine = [t for t in tasks if t.deployment_id == dep.id]
        return {
            "arn": sim.revision_arn(rs, service, dep),
            "requestedTaskCount": dep.desired,
            "runningTaskCount": sum(1 for t in mine if t.last_status == "RUNNING"),
            "pendingTaskCount": sum(1 for t in mine if t.last_status in PENDING_STATES),
        }

    sources = []
    for arn in d.source_revisions:
        number = "ecs-svc/" + arn.rsplit("/", 1)[-1]
        dep = service.deployment(number)
        if dep is not None:
            sources.append(revision(dep))
    target = revision(d)
    shift = d.shift
    if shift is not None:
        # a snapshot of the requested weights (§1.1); blue has the rest
        target["requestedProductionTrafficWeight"] = shift.production
        target["requestedTestTrafficWeight"] = shift.test
        for source in sources:
            if source["arn"].endswith("/" + shift.blue.split("/", 1)[1]):
                source["requestedProductionTrafficWeight"] = 100.0 - shift.production
                source["requestedTestTrafficWeight"] = 100.0 - shift.test
    config = copy.deepcopy(d.deployment_configuration)
    out: dict[str, Any] = {
        "serviceDeploymentArn": sim.service_deployment_arn(rs, service, d),
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": d.created_at,
        "updatedAt": d.sd_updated_at,
        "sourceServiceRevisions": sources,
        "targetServiceRevision": target,
        "status": d.sd_status,
        "deploymentConfiguration": config,
        "deploymentCircuitBreaker": {
            "status": d.breaker_status,
            "failureCount": d.failed_tasks,
            "threshold": sim.threshold(service),
        },
    }
    if d.sd_status_reason:
        out["statusReason"] = d.sd_status_reason
    for key, value in (
        ("startedAt", d.sd_started_at),
        ("finishedAt", d.sd_finished_at),
        ("stoppedAt", d.sd_stopped_at),
    ):
        if value is not None:
            out[key] = value
    if d.rollback is not None:
        out["rollback"] = dict(d.rollback)
    if shift is not None:
        out["lifecycleStage"] = shift.reported
        out["lifecycleHookDetails"] = [h.view() for h in shift.hooks]
    alarms = config.get("alarms")
    if alarms is not None:
        out["alarms"] = {
            "status": d.alarm_status,
            "alarmNames": list(alarms.get("alarmNames", [])),
            "triggeredAlarmNames": list(d.alarms_triggered),
        }
    return out


@handler("ListServiceDeployments")
def list_service_deployments(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    cluster = _cluster(rs, p.get("cluster"))
    service = _service(rs, cluster, str(_required(p, "service")))
    statuses = set(p.get("status") or [])
    created = p.get("createdAt") or {}
    briefs = []
    for d in sorted(service.deployments, key=lambda d: d.created_at, reverse=True):
        if statuses and d.sd_status not in statuses:
            continue
        if created.get("after") is not None and d.created_at < float(created["after"]):
            continue
        if created.get("before") is not None and d.created_at > float(created["before"]):
            continue
        brief: dict[str, Any] = {
            "serviceDeploymentArn": sim.service_deployment_arn(rs, service, d),
            "serviceArn": service.arn,
            "clusterArn": service.cluster_arn,
            "createdAt": d.created_at,
            "targetServiceRevisionArn": sim.revision_arn(rs, service, d),
            "status": d.sd_status,
        }
        for key, value in (("startedAt", d.sd_started_at), ("finishedAt", d.sd_finished_at)):
            if value is not None:
                brief[key] = value
        if d.sd_status_reason:
            brief["statusReason"] = d.sd_status_reason
        briefs.append(brief)
    return _paged("serviceDeployments", briefs, p, default=20)


@handler("DescribeServiceDeployments")
def describe_service_deployments(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    found, failures = [], []
    for arn in _required(p, "serviceDeploymentArns"):
        hit = _sd_find(sim, rs, str(arn))
        if hit is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(_sd_view(sim, rs, *hit))
    return {"serviceDeployments": found, "failures": failures}


@handler("StopServiceDeployment")
def stop_service_deployment(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    arn = str(_required(p, "serviceDeploymentArn"))
    stop_type = p.get("stopType", "ROLLBACK")
    if stop_type != "ROLLBACK":
        raise invalid_parameter(
            f"stopType {stop_type} is not supported. The valid value is ROLLBACK."
        )
    hit = _sd_find(sim, rs, arn)
    if hit is None:
        raise ApiError(
            "ServiceDeploymentNotFoundException", "The service deployment does not exist."
        )
    service, d = hit
    conflict = shifting.stop_conflict(d)
    if conflict is not None and d.sd_status in ("PENDING", "IN_PROGRESS"):
        raise conflict
    if d.status != "PRIMARY" or d.sd_status not in ("PENDING", "IN_PROGRESS"):
        raise ApiError(
            "ConflictException",
            f"The service deployment is in status {d.sd_status} and cannot be stopped.",
        )
    target = sim.last_completed(service, exclude=d)
    if target is None:
        raise ApiError(
            "ConflictException",
            "The service deployment cannot be rolled back: the service has no completed "
            "service revision to roll back to.",
        )
    sim.set_sd_status(service, d, "ROLLBACK_REQUESTED")
    d.sd_status_reason = "Rollback requested by StopServiceDeployment."  # UNVERIFIED text
    # UNVERIFIED: the rolloutStateReason of a manually stopped deployment.
    sim.set_rollout(
        service, d, "FAILED", "ECS deployment stopped by StopServiceDeployment (ROLLBACK)."
    )
    sim.record("deployment.stop_requested", service=service.name, deployment=d.id)
    sim.start_rollback(rs, service, d, target, breaker=False)
    return {"serviceDeploymentArn": arn}


@handler("ContinueServiceDeployment")
def continue_service_deployment(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    """Continue or roll back a deployment paused by a PAUSE lifecycle hook (§1.6)."""
    arn = str(_required(p, "serviceDeploymentArn"))
    hook_id = str(_required(p, "hookId"))
    action = p.get("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise invalid_parameter(f"action must be CONTINUE or ROLLBACK, got {action!r}.")
    hit = _sd_find(sim, rs, arn)
    if hit is None:
        raise ApiError(
            "ServiceDeploymentNotFoundException", "The service deployment does not exist."
        )
    service, d = hit
    if d.sd_status not in ("PENDING", "IN_PROGRESS"):
        raise invalid_parameter(
            f"The service deployment is in status {d.sd_status} and cannot be continued."
        )
    sim.shifter.continue_hook(rs, service, d, hook_id, str(action))
    return {"serviceDeploymentArn": arn}


@handler("DescribeServiceRevisions")
def describe_service_revisions(
    sim: EcsSimulation, rs: RegionState, p: dict[str, Any]
) -> dict[str, Any]:
    found, failures = [], []
    for arn in _required(p, "serviceRevisionArns"):
        hit = None
        for service in rs.services.values():
            for d in service.deployments:
                if sim.revision_arn(rs, service, d) == arn:
                    hit = (service, d)
        if hit is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        service, d = hit
        td = find_task_definition(rs, d.task_definition)
        found.append(
            {
                "serviceRevisionArn": arn,
                "serviceArn": service.arn,
                "clusterArn": service.cluster_arn,
                "taskDefinition": d.task_definition,
                "launchType": d.launch_type,
                "platformVersion": PLATFORM_VERSION_RESOLVED,
                "platformFamily": "Linux",
                "loadBalancers": copy.deepcopy(d.load_balancers),
                "networkConfiguration": copy.deepcopy(d.network_configuration) or {},
                "containerImages": [
                    {
                        "containerName": c["name"],
                        "image": c["image"],
                        **({"imageDigest": dg} if (dg := image_digest(rs, c["image"])) else {}),
                    }
                    for c in td.body.get("containerDefinitions", [])
                ],
                "createdAt": d.created_at,
                "resolvedConfiguration": {
                    "loadBalancers": [
                        {
                            "targetGroupArn": lb.get("targetGroupArn"),
                            **(
                                {"productionListenerRule": rule}
                                if (
                                    rule := (lb.get("advancedConfiguration") or {}).get(
                                        "productionListenerRule"
                                    )
                                )
                                else {}
                            ),
                        }
                        for lb in d.load_balancers
                    ]
                },
            }
        )
    return {"serviceRevisions": found, "failures": failures}


__all__ = [
    "HANDLERS",
    "find_task_definition",
    "image_digest",
    "image_references",
    "missing_secret",
    "pull_error",
    "service_view",
    "task_view",
]
