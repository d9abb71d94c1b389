"""Build the voj stack in a sandbox from the production template, through AWS APIs only.

The CloudFormation template ``infra/voj.yaml`` is the one truth: production deploys it with
CloudFormation, and :func:`provision_voj` sends the very same file to the sandbox's (moto's)
CloudFormation. Where moto cannot create a resource, or ignores a property, this module creates
or patches it through the regular AWS API, reading the resource's properties *from the
template* and resolving ``Ref``/``Fn::GetAtt``/``Fn::Sub``/... against the created stack. So a
change to the template reaches the sandbox too, and a resource type nobody taught this module
fails loudly instead of going missing.

The gaps (also listed in ``docs/operations.md``, "Sandbox gaps"):

* ``AWS::ECS::Cluster`` and ``AWS::ECS::Service``: the sandbox serves ECS with its own
  simulation, not moto's ECS, so they are created with ``ecs:CreateCluster`` and
  ``ecs:CreateService`` (the simulation's API) instead of inside moto's CloudFormation.
* ``AWS::CloudWatch::Alarm``, ``AWS::IAM::OIDCProvider``, ``AWS::S3::BucketPolicy``: moto's
  CloudFormation has no model for them; created with ``PutMetricAlarm``,
  ``CreateOpenIDConnectProvider`` and ``PutBucketPolicy``.
* Properties moto's CloudFormation accepts but drops, applied afterwards with the matching API
  call: target-group and load-balancer attributes (the deregistration delay matters to the
  simulation), the listener's weighted ``ForwardConfig`` (moto reads only ``TargetGroupArn``),
  the ECR lifecycle policy and scan-on-push, the S3 public-access block, versioning, ownership
  controls and bucket key, DynamoDB point-in-time recovery, and security-group egress rules.

Revision 1 of the task definition is ``.github/ecs/taskdef.json`` with ``<account>`` filled in
and the image set to ``voj-backend:sha-0000001``; the template's ``ServiceTaskDefinitionArn``
parameter gets its ARN, exactly as the bootstrap in ``docs/operations.md`` does on AWS.

Running it again converges instead of failing: each step first looks for what an earlier run
(finished, or stopped by Ctrl-C) created (revision 1, the OIDC provider, the stack, the images,
the service), reuses what exists and creates what is missing; the property gaps are applied
again (idempotent puts, back to the template's values). ``ProvisionResult.reused`` lists what
was already there.

This module never imports the engine, verbs or decisions (it is part of the sandbox).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

from rollout.aws import ClientFactory
from rollout.config import load_config
from rollout.errors import RolloutError
from rollout.templating import lookup_from, substitute_document

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "voj.yaml"
DEFAULT_TASKDEF = REPO_ROOT / ".github" / "ecs" / "taskdef.json"
DEFAULT_CONFIG = REPO_ROOT / "rollout.toml"
DEFAULT_STACK_NAME = "voj-prod"
DEFAULT_IMAGE_TAGS: tuple[str, ...] = ("sha-0000001", "sha-0000002", "sha-0000003")
REPOSITORY = "voj-backend"
ACCOUNT_PLACEHOLDER = "<account>"

# Resource types moto's CloudFormation does not create (or must not: ECS belongs to our
# simulation). Each maps to the reason, shown in errors and documented in docs/operations.md.
GAP_TYPES: Mapping[str, str] = {
    "AWS::ECS::Cluster": "ECS is served by the sandbox's simulation, not moto: ecs:CreateCluster",
    "AWS::ECS::Service": "ECS is served by the sandbox's simulation, not moto: ecs:CreateService",
    "AWS::CloudWatch::Alarm": "no moto CloudFormation model: cloudwatch:PutMetricAlarm",
    "AWS::IAM::OIDCProvider": "no moto CloudFormation model: iam:CreateOpenIDConnectProvider",
    "AWS::S3::BucketPolicy": "no moto CloudFormation model: s3:PutBucketPolicy",
}

# Resource types moto's CloudFormation creates; anything else in the template is an error
# until someone decides how the sandbox covers it.
MOTO_TYPES: frozenset[str] = frozenset(
    {
        "AWS::EC2::VPC",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
        "AWS::EC2::Route",
        "AWS::EC2::SubnetRouteTableAssociation",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::VPCEndpoint",
        "AWS::ECR::Repository",
        "AWS::Logs::LogGroup",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SSM::Parameter",
        "AWS::Route53::HostedZone",
        "AWS::Route53::RecordSet",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
    }
)

# Gap resources created before the stack because stack resources refer to them.
PRE_STACK_TYPES: frozenset[str] = frozenset({"AWS::IAM::OIDCProvider"})

# CloudFormation property names whose API name differs by more than letter case.
PROPERTY_ALIASES: Mapping[tuple[str, str], str] = {
    ("AWS::ECS::Cluster", "ClusterSettings"): "settings",
}

INTRINSICS = (
    "Ref",
    "Condition",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::If",
    "Fn::Select",
    "Fn::Split",
    "Fn::GetAZs",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Fn::Base64",
)


class ProvisionError(RolloutError):
    """The sandbox stack could not be built from the template."""

    exit_code = 1


@dataclass(frozen=True)
class ProvisionResult:
    """What :func:`provision_voj` built: names and ARNs tests and the demo need."""

    account: str
    region: str
    stack_name: str
    cluster: str
    cluster_arn: str
    service: str
    service_arn: str
    family: str
    container: str
    container_port: int
    task_definition_arn: str
    target_group_arns: tuple[str, ...]
    listener_arn: str
    load_balancer_arn: str
    load_balancer_name: str
    load_balancer_dns: str
    repository: str
    repository_uri: str
    images: Mapping[str, str]
    digests: Mapping[str, str]
    hosted_zone_id: str
    record_name: str
    record_set_identifiers: tuple[str, ...]
    execution_role_arn: str
    task_role_arn: str
    deploy_role_arn: str
    bucket: str
    tables: tuple[str, ...]
    parameters: tuple[str, ...]
    alarms: tuple[str, ...]
    outputs: Mapping[str, str] = field(default_factory=dict)
    # Every template resource the sandbox created (conditions applied): logical id -> Ref value.
    resources: Mapping[str, str] = field(default_factory=dict)
    # What an earlier run had already created and this one reused (empty on a fresh sandbox).
    reused: tuple[str, ...] = ()

    @property
    def complete_before(self) -> bool:
        """Whether an earlier run had built everything (this run created nothing)."""
        return {"task definition", "stack", "service"} <= set(self.reused)

    def image(self, tag: str) -> str:
        """The repository URI of ``tag`` (e.g. ``sha-0000002``), as a task definition names it."""
        return self.images[tag]


# ----------------------------------------------------------------------------- template


# libyaml's loader when PyYAML was built with it (several times faster), else the pure one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML loader that turns CloudFormation short forms (``!Ref x``) into long forms."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else ("Condition" if suffix == "Condition" else f"Fn::{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation YAML (or JSON) template into long-form intrinsics.

    Parsed once per file version (path and modification time); callers get their own copy.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise ProvisionError(
            f"failed to read template {path}: {exc.strerror}.",
            hint="Pass template= the path of infra/voj.yaml (run from a checkout of the repo).",
        ) from exc
    return copy.deepcopy(_parse_template(str(path), stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _parse_template(path: str, mtime_ns: int) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ProvisionError(f"failed to load template {path}: it has no Resources mapping.")
    return data


def references(node: Any) -> set[str]:
    """Logical ids (and parameter names) a template fragment refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                local = set(value[1]) if isinstance(value, list) and len(value) > 1 else set()
                for var in re.findall(r"\$\{([^}!]+)\}", text):
                    name = var.split(".", 1)[0]
                    if name not in local:
                        found.add(name)
                if isinstance(value, list) and len(value) > 1:
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def depends_on(resource: Mapping[str, Any]) -> set[str]:
    """Every logical id a resource needs first: its references and its DependsOn."""
    deps = references(resource.get("Properties", {}))
    raw = resource.get("DependsOn", [])
    deps |= {raw} if isinstance(raw, str) else set(raw)
    return deps


def split_template(template: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split into (resources moto creates, gap resources), refusing unknown types."""
    moto: dict[str, Any] = {}
    gaps: dict[str, Any] = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource.get("Type", "")
        if kind in GAP_TYPES:
            gaps[logical_id] = resource
        elif kind in MOTO_TYPES:
            moto[logical_id] = resource
        else:
            raise ProvisionError(
                f"failed to plan the sandbox stack: resource {logical_id} has type {kind}, which "
                "neither moto's CloudFormation nor rollout.sandbox.provision covers.",
                hint="Add the type to MOTO_TYPES (if moto creates it) or cover it as a gap.",
            )
    return moto, gaps


def gap_order(gaps: Mapping[str, Any]) -> list[str]:
    """Gap logical ids in creation order (dependencies among gaps first, else template order)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise ProvisionError(f"failed to order sandbox gap resources: cycle at {logical_id}.")
        visiting.add(logical_id)
        for dep in sorted(depends_on(gaps[logical_id]) & set(gaps)):
            visit(dep)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in gaps:
        visit(logical_id)
    return order


def _substitute(node: Any, values: Mapping[str, str]) -> Any:
    """Replace references to already-created gap resources with their literal values."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for name, value in values.items():
                text = text.replace("${" + name + "}", value)
            return {"Fn::Sub": text}
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    return node


def moto_template(template: Mapping[str, Any], created_gaps: Mapping[str, str]) -> dict[str, Any]:
    """The template moto's CloudFormation gets: gap resources and outputs naming them removed.

    References from moto-created resources to pre-stack gaps (the OIDC provider) are replaced
    by the created values; a reference to any other gap is a template design error.
    """
    moto, gaps = split_template(template)
    body = copy.deepcopy(dict(template))
    body.pop("Metadata", None)
    resources: dict[str, Any] = {}
    for logical_id, resource in moto.items():
        # A DependsOn on a later gap only orders creation on AWS (e.g. the ALB after its access-log
        # bucket policy); it is dropped below. A reference to one cannot be resolved.
        missing = (references(resource.get("Properties", {})) & set(gaps)) - set(created_gaps)
        if missing:
            raise ProvisionError(
                f"failed to plan the sandbox stack: {logical_id} refers to "
                f"{', '.join(sorted(missing))}, which the sandbox creates after the stack.",
                hint="Refer to the name (a parameter or literal) instead of the gap resource.",
            )
        clean = _substitute(copy.deepcopy(resource), created_gaps)
        downgrade = _MOTO_DOWNGRADES.get(clean["Type"])
        if downgrade is not None:
            clean = downgrade(clean)
        if "DependsOn" in clean:
            raw = clean["DependsOn"]
            kept = [d for d in ([raw] if isinstance(raw, str) else raw) if d not in gaps]
            if kept:
                clean["DependsOn"] = kept
            else:
                del clean["DependsOn"]
        resources[logical_id] = clean
    body["Resources"] = resources
    outputs = {
        name: output
        for name, output in body.get("Outputs", {}).items()
        if not (references(output) & set(gaps))
    }
    if outputs:
        body["Outputs"] = outputs
    else:
        body.pop("Outputs", None)
    return body


def _listener_for_moto(resource: dict[str, Any]) -> dict[str, Any]:
    """moto's CloudFormation reads only ``TargetGroupArn`` from a forward action, not
    ``ForwardConfig``: give it the first target group; the full action is applied afterwards
    with ``ModifyListener`` (see ``_patch_listener``)."""
    for action in resource.get("Properties", {}).get("DefaultActions", []):
        config = action.get("ForwardConfig")
        if action.get("Type") == "forward" and config and "TargetGroupArn" not in action:
            action["TargetGroupArn"] = config["TargetGroups"][0]["TargetGroupArn"]
            del action["ForwardConfig"]
    return resource


# Rewrites of moto-created resources whose properties moto's CloudFormation cannot read; the
# original properties are applied afterwards by the matching entry of _PROPERTY_PATCHES.
_MOTO_DOWNGRADES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "AWS::ElasticLoadBalancingV2::Listener": _listener_for_moto,
}


# ----------------------------------------------------------------------------- intrinsics


class Resolver:
    """Evaluates CloudFormation intrinsics against parameters and created resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
        physical_ids: Mapping[str, str],
        get_att: Callable[[str, str], str],
        azs: Callable[[], list[str]],
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        for name, spec in template.get("Parameters", {}).items():
            if name not in self.parameters and "Default" in spec:
                self.parameters[name] = str(spec["Default"])
        self.pseudo = pseudo
        self.physical_ids = physical_ids
        self._get_att = get_att
        self._azs = azs

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise ProvisionError(f"failed to resolve the template: unknown condition {name}.")
        return bool(self.resolve(conditions[name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [
                item for item in (self.resolve(value) for value in node) if item is not _NO_VALUE
            ]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key in INTRINSICS:
                return self._intrinsic(key, arg)
        out: dict[str, Any] = {}
        for key, value in node.items():
            resolved = self.resolve(value)
            if resolved is not _NO_VALUE:
                out[key] = resolved
        return out

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise ProvisionError(
            f"failed to resolve the template: Ref {name} is neither a parameter nor a created "
            "resource."
        )

    def _intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return self.ref(arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self._get_att(logical_id, attribute)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(item) for item in self.resolve(items))
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if key == "Fn::GetAZs":
            return self._azs()
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(item) for item in arg)
        if key == "Fn::Or":
            return any(self.resolve(item) for item in arg)
        raise ProvisionError(f"failed to resolve the template: {key} is not supported here.")

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            var = match.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in local:
                return str(local[var])
            if "." in var:
                logical_id, attribute = var.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self.ref(var))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()


# ----------------------------------------------------------------------------- API shapes


def to_api_params(
    resource_type: str, properties: Mapping[str, Any], shape: StructureShape
) -> dict[str, Any]:
    """Map resolved CloudFormation properties onto an API operation's input shape.

    Member names match case-insensitively (``ServiceName`` → ``serviceName``) with
    :data:`PROPERTY_ALIASES` for the rest; scalars are coerced to the shape's type
    (CloudFormation often writes numbers and booleans as strings). A property the API cannot
    take is an error, so the sandbox never silently drops part of the template.
    """
    return _convert_struct(resource_type, properties, shape, path=resource_type)


def _convert_struct(
    resource_type: str, value: Mapping[str, Any], shape: StructureShape, *, path: str
) -> dict[str, Any]:
    members = {name.lower(): name for name in shape.members}
    out: dict[str, Any] = {}
    for key, item in value.items():
        alias = PROPERTY_ALIASES.get((resource_type, key))
        member = alias or members.get(key.lower())
        if member is None:
            raise ProvisionError(
                f"failed to map template property {path}.{key} onto the "
                f"{shape.name} API shape: no such member.",
                hint="Cover it in PROPERTY_ALIASES in rollout/sandbox/provision.py.",
            )
        out[member] = _convert(resource_type, item, shape.members[member], path=f"{path}.{key}")
    return out


def _convert(resource_type: str, value: Any, shape: Shape, *, path: str) -> Any:
    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping):
            raise ProvisionError(f"failed to map template property {path}: expected a mapping.")
        return _convert_struct(resource_type, value, shape, path=path)
    if isinstance(shape, ListShape):
        items = value if isinstance(value, list) else [value]
        return [_convert(resource_type, item, shape.member, path=path) for item in items]
    if isinstance(shape, MapShape):
        return dict(value)
    kind = shape.type_name
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("double", "float"):
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


# ----------------------------------------------------------------------------- provision


def taskdef_vars(env: str = "prod", config: Path = DEFAULT_CONFIG) -> dict[str, str]:
    """The template's ``${NAME}`` values for ``env``: its ``vars`` in ``config`` (rollout.toml),
    as an operator bootstrapping the stack would fill them in."""
    return dict(load_config(config, env, environ={}).vars)


def render_taskdef(
    path: Path, *, account: str, image: str, variables: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The task-definition template with ``${NAME}`` variables (default: prod's in
    rollout.toml) and ``<account>`` filled in and every image swapped."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProvisionError(f"failed to read task definition {path}: {exc.strerror}.") from exc
    values = taskdef_vars() if variables is None else variables
    taskdef: dict[str, Any] = substitute_document(
        json.loads(raw.replace(ACCOUNT_PLACEHOLDER, account)),
        lookup_from(values),
        source=f"the task definition {path}",
    )
    for container in taskdef.get("containerDefinitions", []):
        container["image"] = image
    return taskdef


def fake_manifest(tag: str) -> str:
    """A Docker v2 manifest whose config digest is derived from ``tag`` (distinct digests)."""
    config = hashlib.sha256(f"voj-backend config {tag}".encode()).hexdigest()
    layer = hashlib.sha256(f"voj-backend layer {tag}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": f"sha256:{config}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 31_000_000,
                    "digest": f"sha256:{layer}",
                }
            ],
        },
        separators=(",", ":"),
    )


class _Provisioner:
    def __init__(
        self,
        factory: ClientFactory,
        template: dict[str, Any],
        *,
        stack_name: str,
        parameters: Mapping[str, str],
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.factory = factory
        self.progress = progress or (lambda _line: None)
        self.reused: list[str] = []
        self.template = template
        self.stack_name = stack_name
        self.account = str(factory.client("sts").get_caller_identity()["Account"])
        self.region = factory.region
        self.physical: dict[str, str] = {}
        self.gap_attrs: dict[tuple[str, str], str] = {}
        self.resolver = Resolver(
            template,
            parameters=parameters,
            pseudo={
                "AWS::AccountId": self.account,
                "AWS::Region": self.region,
                "AWS::StackName": stack_name,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/"
                f"{stack_name}/sandbox",
            },
            physical_ids=self.physical,
            get_att=self.get_att,
            azs=self.azs,
        )

    def client(self, service: str) -> Any:
        return self.factory.client(service)

    def azs(self) -> list[str]:
        zones = self.client("ec2").describe_availability_zones()["AvailabilityZones"]
        return sorted(zone["ZoneName"] for zone in zones)

    def resource_type(self, logical_id: str) -> str:
        return str(self.template["Resources"][logical_id]["Type"])

    def created(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.resolver.condition(condition)

    # -- GetAtt on created resources, read back through the APIs
    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.gap_attrs:
            return self.gap_attrs[(logical_id, attribute)]
        kind = self.resource_type(logical_id)
        phys = self.resolver.ref(logical_id)
        getter = _GET_ATT.get((kind, attribute))
        if getter is None:
            raise ProvisionError(
                f"failed to resolve Fn::GetAtt {logical_id}.{attribute} ({kind}) in the sandbox.",
                hint="Teach rollout.sandbox.provision._GET_ATT this attribute.",
            )
        return getter(self, str(phys))

    # -- steps
    def create_pre_stack_gaps(self, gaps: Mapping[str, Any]) -> dict[str, str]:
        created: dict[str, str] = {}
        for logical_id in gap_order(gaps):
            if self.resource_type(logical_id) in PRE_STACK_TYPES and self.created(logical_id):
                self.create_gap(logical_id)
                created[logical_id] = self.physical[logical_id]
        return created

    def existing_stack(self) -> dict[str, Any] | None:
        """The stack as DescribeStacks shows it, or None if there is none by that name."""
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack_name)
        except ClientError as exc:
            if _code(exc) == "ValidationError" and "does not exist" in str(exc):
                return None
            raise
        return dict(stacks["Stacks"][0]) if stacks.get("Stacks") else None

    def create_stack(self, body: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        cfn = self.client("cloudformation")
        existing = self.existing_stack()
        if existing is not None:
            status = str(existing["StackStatus"])
            if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                raise ProvisionError(
                    f"failed to provision voj: the sandbox stack {self.stack_name} from an "
                    f"earlier run is {status} "
                    f"({existing.get('StackStatusReason', 'no reason given')}).",
                    hint="Start a fresh sandbox (stop `rollout sandbox up` and start it again), "
                    "then provision.",
                )
            self.reused.append("stack")
            self.progress(f"stack {self.stack_name}: already {status}")
            self._read_stack_resources()
            return
        declared = set(self.template.get("Parameters", {}))
        cfn.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(body),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in parameters.items()
                if key in declared
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        # moto's CloudFormation creates the stack within the CreateStack call, so no waiter
        # (a waiter would sleep on the wall clock, which the sandbox's virtual clock can't skip).
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise ProvisionError(
                f"failed to create the sandbox stack {self.stack_name}: it is "
                f"{stack['StackStatus']} ({stack.get('StackStatusReason', 'no reason given')}).",
                hint="Check infra/voj.yaml with cfn-lint; `rollout sandbox up` logs moto errors.",
            )
        self.progress(f"stack {self.stack_name}: CREATE_COMPLETE")
        self._read_stack_resources()

    def _read_stack_resources(self) -> None:
        cfn = self.client("cloudformation")
        paginator = cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for summary in page["StackResourceSummaries"]:
                # moto lists a resource skipped by a false Condition as an empty summary.
                if summary["LogicalResourceId"]:
                    self.physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]

    def create_gap(self, logical_id: str) -> None:
        resource = self.template["Resources"][logical_id]
        kind = resource["Type"]
        props = self.resolver.resolve(resource.get("Properties", {}))
        creator = _GAP_CREATORS[kind]
        self.physical[logical_id] = creator(self, logical_id, props)

    def apply_property_gaps(self, moto_resources: Mapping[str, Any]) -> None:
        for logical_id, resource in moto_resources.items():
            if logical_id not in self.physical:
                continue
            patch = _PROPERTY_PATCHES.get(resource["Type"])
            if patch is not None:
                props = self.resolver.resolve(resource.get("Properties", {}))
                patch(self, self.physical[logical_id], props)

    def stack_outputs(self) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName=self.stack_name)
        return {
            output["OutputKey"]: output["OutputValue"]
            for output in stack["Stacks"][0].get("Outputs", [])
        }


# -- GetAtt table: (type, attribute) -> reader(provisioner, physical id)
def _role_arn(p: _Provisioner, name: str) -> str:
    return str(p.client("iam").get_role(RoleName=name)["Role"]["Arn"])


def _repository(p: _Provisioner, name: str) -> dict[str, Any]:
    repos = p.client("ecr").describe_repositories(repositoryNames=[name])["repositories"]
    return dict(repos[0])


def _load_balancer(p: _Provisioner, arn: str) -> dict[str, Any]:
    elbv2 = p.client("elbv2")
    return dict(elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0])


_GET_ATT: dict[tuple[str, str], Callable[[_Provisioner, str], str]] = {
    ("AWS::IAM::Role", "Arn"): _role_arn,
    ("AWS::ECR::Repository", "Arn"): lambda p, name: str(_repository(p, name)["repositoryArn"]),
    ("AWS::ECR::Repository", "RepositoryUri"): lambda p, name: str(
        _repository(p, name)["repositoryUri"]
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerFullName"): lambda p, arn: arn.split(
        ":loadbalancer/", 1
    )[1],
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "DNSName"): lambda p, arn: str(
        _load_balancer(p, arn)["DNSName"]
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerName"): lambda p, arn: str(
        _load_balancer(p, arn)["LoadBalancerName"]
    ),
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "CanonicalHostedZoneID"): lambda p, arn: str(
        _load_balancer(p, arn)["CanonicalHostedZoneId"]
    ),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupFullName"): lambda p, arn: arn.rsplit(
        ":", 1
    )[1],
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupName"): lambda p, arn: arn.rsplit(
        ":", 1
    )[1].split("/")[1],
    ("AWS::S3::Bucket", "Arn"): lambda p, name: f"arn:aws:s3:::{name}",
    ("AWS::DynamoDB::Table", "Arn"): lambda p, name: str(
        p.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"]
    ),
    ("AWS::Logs::LogGroup", "Arn"): lambda p, name: (
        f"arn:aws:logs:{p.region}:{p.account}:log-group:{name}:*"
    ),
}


# -- gap creators: (provisioner, logical id, resolved properties) -> Ref value
def _operation_shape(p: _Provisioner, service: str, operation: str) -> StructureShape:
    shape = p.client(service).meta.service_model.operation_model(operation).input_shape
    assert isinstance(shape, StructureShape)
    return shape


def _create_cluster(p: _Provisioner, logical_id: str, props: Mapping[str, Any]) -> str:
    params = to_api_params("AWS::ECS::Cluster", props, _operation_shape(p, "ecs", "CreateCluster"))
    cluster = p.client("ecs").create_cluster(**params)["cluster"]
    p.gap_attrs[(logical_id, "Arn")] = str(cluster["clusterArn"])
    return str(cluster["clusterName"])


def _create_service(p: _Provisioner, logical_id: str, props: Mapping[str, Any]) -> str:
    params = to_api_params("AWS::ECS::Service", props, _operation_shape(p, "ecs", "CreateService"))
    ecs = p.client("ecs")
    found = ecs.describe_services(
        cluster=params.get("cluster", "default"), services=[params["serviceName"]]
    )["services"]
    live = [svc for svc in found if svc.get("status") != "INACTIVE"]
    if live:
        service = live[0]
        p.reused.append("service")
        p.progress(f"service {service['serviceName']}: already {service.get('status')}")
    else:
        service = ecs.create_service(**params)["service"]
        p.progress(f"service {service['serviceName']}: created")
    p.gap_attrs[(logical_id, "Name")] = str(service["serviceName"])
    p.gap_attrs[(logical_id, "ServiceArn")] = str(service["serviceArn"])
    return str(service["serviceArn"])


def _create_alarm(p: _Provisioner, logical_id: str, props: Mapping[str, Any]) -> str:
    shape = _operation_shape(p, "cloudwatch", "PutMetricAlarm")
    params = to_api_params("AWS::CloudWatch::Alarm", props, shape)
    params.setdefault("AlarmName", f"{p.stack_name}-{logical_id}")
    p.client("cloudwatch").put_metric_alarm(**params)
    name = str(params["AlarmName"])
    p.gap_attrs[(logical_id, "Arn")] = f"arn:aws:cloudwatch:{p.region}:{p.account}:alarm:{name}"
    return name


def _create_oidc_provider(p: _Provisioner, logical_id: str, props: Mapping[str, Any]) -> str:
    shape = _operation_shape(p, "iam", "CreateOpenIDConnectProvider")
    params = to_api_params("AWS::IAM::OIDCProvider", props, shape)
    iam = p.client("iam")
    try:
        arn = str(iam.create_open_id_connect_provider(**params)["OpenIDConnectProviderArn"])
        p.progress(f"OIDC provider {params['Url']}: created")
    except ClientError as exc:
        if _code(exc) != "EntityAlreadyExists":
            raise
        # IAM names a provider by its URL without the scheme: one per URL and account.
        suffix = "oidc-provider/" + str(params["Url"]).split("://", 1)[-1].rstrip("/")
        providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        arn = next(str(x["Arn"]) for x in providers if str(x["Arn"]).endswith(suffix))
        p.reused.append("OIDC provider")
        p.progress(f"OIDC provider {params['Url']}: already there")
    p.gap_attrs[(logical_id, "Arn")] = arn
    return arn


def _put_bucket_policy(p: _Provisioner, logical_id: str, props: Mapping[str, Any]) -> str:
    bucket = str(props["Bucket"])
    p.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(props["PolicyDocument"]))
    return bucket


_GAP_CREATORS: dict[str, Callable[[_Provisioner, str, Mapping[str, Any]], str]] = {
    "AWS::ECS::Cluster": _create_cluster,
    "AWS::ECS::Service": _create_service,
    "AWS::CloudWatch::Alarm": _create_alarm,
    "AWS::IAM::OIDCProvider": _create_oidc_provider,
    "AWS::S3::BucketPolicy": _put_bucket_policy,
}
assert set(_GAP_CREATORS) == set(GAP_TYPES)


# -- property gaps on moto-created resources: (provisioner, physical id, resolved properties)
def _patch_target_group(p: _Provisioner, arn: str, props: Mapping[str, Any]) -> None:
    attributes = props.get("TargetGroupAttributes")
    if attributes:
        p.client("elbv2").modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[{"Key": a["Key"], "Value": str(a["Value"])} for a in attributes],
        )


def _patch_load_balancer(p: _Provisioner, arn: str, props: Mapping[str, Any]) -> None:
    attributes = props.get("LoadBalancerAttributes")
    if attributes:
        p.client("elbv2").modify_load_balancer_attributes(
            LoadBalancerArn=arn,
            Attributes=[{"Key": a["Key"], "Value": str(a["Value"])} for a in attributes],
        )


def _patch_listener(p: _Provisioner, arn: str, props: Mapping[str, Any]) -> None:
    actions = props.get("DefaultActions")
    if actions and any("ForwardConfig" in action for action in actions):
        shape = _operation_shape(p, "elbv2", "ModifyListener")
        params = to_api_params(
            "AWS::ElasticLoadBalancingV2::Listener", {"DefaultActions": actions}, shape
        )
        p.client("elbv2").modify_listener(ListenerArn=arn, **params)


def _patch_repository(p: _Provisioner, name: str, props: Mapping[str, Any]) -> None:
    scanning = props.get("ImageScanningConfiguration")
    if scanning:
        shape = _operation_shape(p, "ecr", "PutImageScanningConfiguration")
        params = to_api_params(
            "AWS::ECR::Repository", {"ImageScanningConfiguration": scanning}, shape
        )
        p.client("ecr").put_image_scanning_configuration(repositoryName=name, **params)
    lifecycle = props.get("LifecyclePolicy", {}).get("LifecyclePolicyText")
    if lifecycle:
        p.client("ecr").put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=lifecycle)


def _patch_bucket(p: _Provisioner, name: str, props: Mapping[str, Any]) -> None:
    s3 = p.client("s3")
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={k: bool(v) for k, v in block.items()},
        )
    encryption = props.get("BucketEncryption")
    if encryption:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
            }
            for rule in encryption["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    for key, operation, method in (
        ("VersioningConfiguration", "PutBucketVersioning", "put_bucket_versioning"),
        ("OwnershipControls", "PutBucketOwnershipControls", "put_bucket_ownership_controls"),
    ):
        if key in props:
            params = to_api_params(
                "AWS::S3::Bucket", {key: props[key]}, _operation_shape(p, "s3", operation)
            )
            getattr(s3, method)(Bucket=name, **params)


def _patch_table(p: _Provisioner, name: str, props: Mapping[str, Any]) -> None:
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr:
        shape = _operation_shape(p, "dynamodb", "UpdateContinuousBackups")
        params = to_api_params(
            "AWS::DynamoDB::Table", {"PointInTimeRecoverySpecification": pitr}, shape
        )
        p.client("dynamodb").update_continuous_backups(TableName=name, **params)


def _patch_security_group(p: _Provisioner, group_id: str, props: Mapping[str, Any]) -> None:
    """moto keeps the default allow-all egress and ignores ``SecurityGroupEgress``; replace it
    with the template's rules, as CloudFormation does."""
    rules = props.get("SecurityGroupEgress")
    if not rules:
        return
    ec2 = p.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=group["IpPermissionsEgress"]
        )
    permissions = []
    for rule in rules:
        permission: dict[str, Any] = {"IpProtocol": str(rule["IpProtocol"])}
        if "FromPort" in rule:
            permission["FromPort"] = int(rule["FromPort"])
            permission["ToPort"] = int(rule["ToPort"])
        described = {"Description": rule["Description"]} if "Description" in rule else {}
        if "CidrIp" in rule:
            permission["IpRanges"] = [{"CidrIp": rule["CidrIp"], **described}]
        elif "DestinationSecurityGroupId" in rule:
            permission["UserIdGroupPairs"] = [
                {"GroupId": rule["DestinationSecurityGroupId"], **described}
            ]
        else:
            raise ProvisionError(
                f"failed to apply egress rule {rule} of security group {group_id} in the sandbox.",
                hint="Teach rollout.sandbox.provision._patch_security_group this rule form.",
            )
        permissions.append(permission)
    ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=permissions)


_PROPERTY_PATCHES: dict[str, Callable[[_Provisioner, str, Mapping[str, Any]], None]] = {
    "AWS::ElasticLoadBalancingV2::TargetGroup": _patch_target_group,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _patch_load_balancer,
    "AWS::ElasticLoadBalancingV2::Listener": _patch_listener,
    "AWS::ECR::Repository": _patch_repository,
    "AWS::S3::Bucket": _patch_bucket,
    "AWS::DynamoDB::Table": _patch_table,
    "AWS::EC2::SecurityGroup": _patch_security_group,
}


def _push_images(
    p: _Provisioner,
    repository: str,
    tags: Sequence[str],
    push: Callable[[str], str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    ecr = p.client("ecr")
    uri = str(_repository(p, repository)["repositoryUri"])
    images: dict[str, str] = {}
    digests: dict[str, str] = {}
    pushed = []
    for tag in tags:
        images[tag] = f"{uri}:{tag}"
        if push is not None:  # a real image (the process runtime builds it from source)
            digests[tag] = push(tag)
            pushed.append(tag)
            continue
        try:
            image_id = ecr.put_image(
                repositoryName=repository,
                imageManifest=fake_manifest(tag),
                imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
                imageTag=tag,
            )["image"]["imageId"]
            pushed.append(tag)
        except ClientError as exc:
            if _code(exc) != "ImageAlreadyExistsException":
                raise
            image_id = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
                "imageDetails"
            ][0]
        digests[tag] = str(image_id["imageDigest"])
    if len(pushed) < len(tags):
        p.reused.append("images")
    counts = [f"pushed {len(pushed)}"] if pushed else []
    if len(pushed) < len(tags):
        counts.append(f"{len(tags) - len(pushed)} already there")
    p.progress(f"images {', '.join(tags)}: {', '.join(counts)}")
    return images, digests


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _revision_one(p: _Provisioner, family: str) -> str | None:
    """The task definition an earlier run registered: the stack's own parameter if the stack
    exists, else the family's first ACTIVE revision; None on a fresh sandbox."""
    stack = p.existing_stack()
    if stack is not None:
        for parameter in stack.get("Parameters", []):
            if parameter["ParameterKey"] == "ServiceTaskDefinitionArn":
                return str(parameter["ParameterValue"])
    arns = p.client("ecs").list_task_definitions(familyPrefix=family, status="ACTIVE", sort="ASC")[
        "taskDefinitionArns"
    ]
    mine = [arn for arn in arns if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
    return str(mine[0]) if mine else None


def _iter_type(template: Mapping[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == kind:
            yield logical_id, resource


def provision_voj(
    factory: ClientFactory,
    *,
    template: Path = DEFAULT_TEMPLATE,
    taskdef: Path = DEFAULT_TASKDEF,
    stack_name: str = DEFAULT_STACK_NAME,
    image_tags: Sequence[str] = DEFAULT_IMAGE_TAGS,
    github_org: str = "example-org",
    github_repo: str = "voj",
    parameters: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    push: Callable[[str], str] | None = None,
) -> ProvisionResult:
    """Create the voj stack from ``template`` through ``factory``'s clients (see module doc).

    Works the same in-process and over HTTP: only AWS API calls are made. The first of
    ``image_tags`` is the image of task-definition revision 1, which the service runs. Safe to
    run again on the same sandbox: it finishes what an earlier run left undone. ``progress``
    gets one line per step, as it completes. ``push(tag)`` (returning the digest) replaces the
    placeholder images: the process runtime builds each tag from the working tree with it.
    """
    if not image_tags:
        raise ProvisionError("failed to provision voj: image_tags is empty.")
    doc = load_template(template)
    moto_resources, gaps = split_template(doc)
    # The sandbox has no ACM certificate: it takes the template's named plain-HTTP opt-out.
    params: dict[str, str] = {
        "GitHubOrg": github_org,
        "GitHubRepo": github_repo,
        "AllowPlainHttp": "true",
    }
    params.update(parameters or {})
    p = _Provisioner(factory, doc, stack_name=stack_name, parameters=params, progress=progress)

    # 1. Revision 1 from the task-definition template (the bootstrap registers it first too).
    registry = f"{p.account}.dkr.ecr.{p.region}.amazonaws.com"
    rendered = render_taskdef(taskdef, account=p.account, image=f"{registry}/{REPOSITORY}:x")
    for container in rendered.get("containerDefinitions", []):
        container["image"] = f"{registry}/{REPOSITORY}:{image_tags[0]}"
    earlier = _revision_one(p, str(rendered["family"]))
    if earlier is not None:
        taskdef_arn = earlier
        p.reused.append("task definition")
        p.progress(f"task definition {taskdef_arn.rsplit('/', 1)[-1]}: already registered")
    else:
        registered = p.client("ecs").register_task_definition(**rendered)["taskDefinition"]
        taskdef_arn = str(registered["taskDefinitionArn"])
        p.progress(f"task definition {taskdef_arn.rsplit('/', 1)[-1]}: registered")
    params["ServiceTaskDefinitionArn"] = taskdef_arn
    p.resolver.parameters["ServiceTaskDefinitionArn"] = taskdef_arn

    # 2. Gaps other stack resources refer to, then the stack itself in moto's CloudFormation.
    pre = p.create_pre_stack_gaps(gaps)
    p.create_stack(moto_template(doc, pre), params)
    p.apply_property_gaps(moto_resources)
    p.progress("properties moto's CloudFormation ignores: applied")

    # 3. Images, then the remaining gaps (cluster, alarms, bucket policy, service).
    images, digests = _push_images(p, REPOSITORY, image_tags, push)
    for logical_id in gap_order(gaps):
        if logical_id not in p.physical and p.created(logical_id):
            p.create_gap(logical_id)
    p.progress("cluster, alarms and bucket policy: in place")

    return _result(p, doc, rendered, taskdef_arn, images, digests)


def _result(
    p: _Provisioner,
    doc: Mapping[str, Any],
    rendered: Mapping[str, Any],
    taskdef_arn: str,
    images: Mapping[str, str],
    digests: Mapping[str, str],
) -> ProvisionResult:
    def only(kind: str) -> str:
        ids = [logical_id for logical_id, _ in _iter_type(doc, kind) if logical_id in p.physical]
        if len(ids) != 1:
            raise ProvisionError(f"failed to summarise the sandbox stack: {len(ids)} x {kind}.")
        return ids[0]

    def all_of(kind: str) -> tuple[str, ...]:
        return tuple(
            p.physical[logical_id]
            for logical_id, _ in _iter_type(doc, kind)
            if logical_id in p.physical
        )

    cluster_id = only("AWS::ECS::Cluster")
    service_id = only("AWS::ECS::Service")
    lb_arn = p.physical[only("AWS::ElasticLoadBalancingV2::LoadBalancer")]
    lb = _load_balancer(p, lb_arn)
    service_props = p.resolver.resolve(doc["Resources"][service_id]["Properties"])
    binding = service_props["LoadBalancers"][0]
    records = [
        p.resolver.resolve(resource["Properties"])
        for _, resource in _iter_type(doc, "AWS::Route53::RecordSet")
    ]
    roles = {
        str(resource["Properties"].get("RoleName", logical_id)): p.get_att(logical_id, "Arn")
        for logical_id, resource in _iter_type(doc, "AWS::IAM::Role")
    }
    container = str(binding["ContainerName"])
    return ProvisionResult(
        account=p.account,
        region=p.region,
        stack_name=p.stack_name,
        cluster=p.physical[cluster_id],
        cluster_arn=p.gap_attrs[(cluster_id, "Arn")],
        service=p.gap_attrs[(service_id, "Name")],
        service_arn=p.physical[service_id],
        family=str(rendered["family"]),
        container=container,
        container_port=int(binding["ContainerPort"]),
        task_definition_arn=taskdef_arn,
        target_group_arns=all_of("AWS::ElasticLoadBalancingV2::TargetGroup"),
        listener_arn=p.physical[only("AWS::ElasticLoadBalancingV2::Listener")],
        load_balancer_arn=lb_arn,
        load_balancer_name=str(lb["LoadBalancerName"]),
        load_balancer_dns=str(lb["DNSName"]),
        repository=REPOSITORY,
        repository_uri=str(_repository(p, REPOSITORY)["repositoryUri"]),
        images=dict(images),
        digests=dict(digests),
        hosted_zone_id=p.physical[only("AWS::Route53::HostedZone")].rsplit("/", 1)[-1],
        record_name=str(records[0]["Name"]) if records else "",
        record_set_identifiers=tuple(str(r["SetIdentifier"]) for r in records),
        execution_role_arn=roles.get("voj-backend-execution", ""),
        task_role_arn=roles.get("voj-backend-task", ""),
        deploy_role_arn=roles.get("voj-backend-github-deploy", ""),
        # the app's bucket (the other one holds the ALB's access logs)
        bucket=p.physical["AudioBucket"],
        tables=all_of("AWS::DynamoDB::Table"),
        parameters=all_of("AWS::SSM::Parameter"),
        alarms=all_of("AWS::CloudWatch::Alarm"),
        outputs=p.stack_outputs(),
        resources=dict(p.physical),
        reused=tuple(p.reused),
    )
