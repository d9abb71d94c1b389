"""ELBv2 gateway: target groups, their health and attributes, and load balancers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollout.aws import ClientFactory
from rollout.errors import AwsError
from rollout.gateways._base import aws_errors
from rollout.model import LoadBalancer, RuleCondition, TargetGroup, TargetHealth


class ElbGateway:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory

    @property
    def _elb(self) -> Any:
        return self._factory.client("elbv2")

    def describe_target_groups(self, arns: Sequence[str]) -> list[TargetGroup]:
        if not arns:
            return []
        with aws_errors("describe target groups"):
            resp = self._elb.describe_target_groups(TargetGroupArns=list(arns))
        groups = []
        for raw in resp.get("TargetGroups", []):
            with aws_errors(f"read attributes of target group {raw['TargetGroupName']}"):
                attrs = self._elb.describe_target_group_attributes(
                    TargetGroupArn=raw["TargetGroupArn"]
                )
            groups.append(_target_group(raw, attrs.get("Attributes", [])))
        return groups

    def describe_target_health(self, target_group_arn: str) -> list[TargetHealth]:
        with aws_errors("describe target health"):
            resp = self._elb.describe_target_health(TargetGroupArn=target_group_arn)
        return [
            TargetHealth(
                target_id=d["Target"]["Id"],
                port=d["Target"].get("Port"),
                state=d.get("TargetHealth", {}).get("State", "unavailable"),
                reason=d.get("TargetHealth", {}).get("Reason"),
                description=d.get("TargetHealth", {}).get("Description"),
            )
            for d in resp.get("TargetHealthDescriptions", [])
        ]

    def listeners(self, load_balancer_arn: str) -> list[dict[str, Any]]:
        """Each listener's port, protocol and the target groups its default action forwards
        to, with their weights: ``[{port, protocol, forwards: {target group ARN: weight}}]``."""
        out: list[dict[str, Any]] = []
        with aws_errors("describe listeners"):
            pages = self._elb.get_paginator("describe_listeners").paginate(
                LoadBalancerArn=load_balancer_arn
            )
            for page in pages:
                for listener in page.get("Listeners", []):
                    forwards: dict[str, int] = {}
                    for action in listener.get("DefaultActions", []):
                        if action.get("Type") != "forward":
                            continue
                        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
                        for g in groups:
                            forwards[g["TargetGroupArn"]] = int(g.get("Weight", 1))
                        if not groups and action.get("TargetGroupArn"):
                            forwards[action["TargetGroupArn"]] = 1
                    out.append(
                        {
                            "arn": listener.get("ListenerArn"),
                            "port": listener.get("Port"),
                            "protocol": listener.get("Protocol"),
                            "forwards": forwards,
                        }
                    )
        return out

    def rule_forwards(self, rule_arns: Sequence[str]) -> dict[str, dict[str, int]]:
        """{rule ARN: {target group ARN: weight}} of each rule's forward action; rules that do
        not exist are absent (a missing one fails the whole call on AWS: asked one by one)."""
        out: dict[str, dict[str, int]] = {}
        for arn in rule_arns:
            try:
                with aws_errors(f"describe listener rule {arn}"):
                    resp = self._elb.describe_rules(RuleArns=[arn])
            except AwsError as exc:
                if exc.code == "RuleNotFound":
                    continue
                raise
            for rule in resp.get("Rules", []):
                out[rule["RuleArn"]] = _forwards(rule)
        return out

    def rule_conditions(self, rule_arns: Sequence[str]) -> dict[str, tuple[RuleCondition, ...]]:
        """{rule ARN: its conditions}; rules that do not exist are absent."""
        out: dict[str, tuple[RuleCondition, ...]] = {}
        for arn in rule_arns:
            try:
                with aws_errors(f"describe listener rule {arn}"):
                    resp = self._elb.describe_rules(RuleArns=[arn])
            except AwsError as exc:
                if exc.code == "RuleNotFound":
                    continue
                raise
            for rule in resp.get("Rules", []):
                out[rule["RuleArn"]] = tuple(_condition(c) for c in rule.get("Conditions", []))
        return out

    def describe_load_balancers(
        self, *, arns: Sequence[str] = (), names: Sequence[str] = ()
    ) -> list[LoadBalancer]:
        kwargs: dict[str, Any] = {}
        if arns:
            kwargs["LoadBalancerArns"] = list(arns)
        if names:
            kwargs["Names"] = list(names)
        with aws_errors("describe load balancers"):
            resp = self._elb.describe_load_balancers(**kwargs)
        return [
            LoadBalancer(
                arn=lb["LoadBalancerArn"],
                name=lb["LoadBalancerName"],
                dns_name=lb.get("DNSName", ""),
                scheme=lb.get("Scheme"),
            )
            for lb in resp.get("LoadBalancers", [])
        ]


_CONFIG_KEYS = {
    "http-header": "HttpHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "host-header": "HostHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
}


def _condition(raw: Mapping[str, Any]) -> RuleCondition:
    field = str(raw.get("Field", ""))
    config = raw.get(_CONFIG_KEYS.get(field, "")) or {}
    values = config.get("Values") if isinstance(config, Mapping) else None
    return RuleCondition(
        field=field,
        values=tuple(str(v) for v in (values or raw.get("Values") or [])),
        header=str(config["HttpHeaderName"])
        if isinstance(config, Mapping) and config.get("HttpHeaderName")
        else None,
    )


def _forwards(rule: Mapping[str, Any]) -> dict[str, int]:
    """A rule's forward action as {target group: weight} (a plain TargetGroupArn is weight 1)."""
    weights: dict[str, int] = {}
    for action in rule.get("Actions", []):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        for g in groups:
            weights[g["TargetGroupArn"]] = int(g.get("Weight", 1))
        if not groups and action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = 1
    return weights


def _target_group(raw: Mapping[str, Any], attributes: Sequence[Mapping[str, str]]) -> TargetGroup:
    attrs = {a["Key"]: a["Value"] for a in attributes}
    return TargetGroup(
        arn=raw["TargetGroupArn"],
        name=raw["TargetGroupName"],
        port=raw.get("Port"),
        protocol=raw.get("Protocol"),
        target_type=raw.get("TargetType"),
        health_check_path=raw.get("HealthCheckPath"),
        health_check_interval=int(raw.get("HealthCheckIntervalSeconds", 30)),
        health_check_timeout=int(raw.get("HealthCheckTimeoutSeconds", 5)),
        healthy_threshold=int(raw.get("HealthyThresholdCount", 5)),
        unhealthy_threshold=int(raw.get("UnhealthyThresholdCount", 2)),
        matcher=(raw.get("Matcher") or {}).get("HttpCode"),
        deregistration_delay=int(attrs.get("deregistration_delay.timeout_seconds", "300")),
        load_balancer_arns=tuple(raw.get("LoadBalancerArns", [])),
    )
