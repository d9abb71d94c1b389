"""AWS managed policies in the sandbox's IAM, as AWS has them (provisioning plane).

In AWS every managed policy (``arn:aws:iam::aws:policy/...``) exists in every account, and a
CloudFormation ``AWS::IAM::Role`` attaches its ``ManagedPolicyArns``. moto 5.2.5 knows the
documents (``moto.iam.aws_managed_policies``, refreshed from AWS) but loads them only with
``MOTO_IAM_LOAD_MANAGED_POLICIES`` (all 1,500+, in every account), and its CloudFormation role
ignores ``ManagedPolicyArns``. :func:`install` patches moto once per process so that:

- ``GetPolicy`` / ``AttachRolePolicy`` / ``GetPolicyVersion`` of an AWS managed policy load that
  one policy on first use (what ``verify`` reads: e.g. ECS's infrastructure role for load
  balancers, ``AmazonECSInfrastructureRolePolicyForLoadBalancers``);
- a CloudFormation role attaches its ``ManagedPolicyArns`` (unknown ARNs fail the stack, as in
  AWS).
"""

from __future__ import annotations

import json
import threading
from typing import Any, cast

_lock = threading.Lock()
_installed = False
_AWS_POLICY = ":iam::aws:policy/"


def _load(backend: Any, arn: str) -> None:
    """Add the AWS managed policy ``arn`` to ``backend`` if moto has its document."""
    if arn in backend.managed_policies or _AWS_POLICY not in arn:
        return
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    name = arn.rsplit("/", 1)[-1]
    data = json.loads(aws_managed_policies_data).get(name)
    if data is None:
        return
    policy = AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data)
    if policy.arn == arn:
        backend.managed_policies[policy.arn] = policy


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.iam.models import IAMBackend, Role

        attach, get_policy = IAMBackend.attach_role_policy, IAMBackend.get_policy
        get_version = IAMBackend.get_policy_version

        def attach_role_policy(self: IAMBackend, policy_arn: str, role_name: str) -> None:
            _load(self, policy_arn)
            attach(self, policy_arn, role_name)

        def get_policy_(self: IAMBackend, policy_arn: str) -> Any:
            _load(self, policy_arn)
            return get_policy(self, policy_arn)

        def get_policy_version(self: IAMBackend, policy_arn: str, version_id: str) -> Any:
            _load(self, policy_arn)
            return get_version(self, policy_arn, version_id)

        IAMBackend.attach_role_policy = attach_role_policy  # type: ignore[method-assign]
        IAMBackend.get_policy = get_policy_  # type: ignore[method-assign]
        IAMBackend.get_policy_version = get_policy_version  # type: ignore[method-assign]

        create = Role.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

        def create_from_cloudformation_json(
            cls: type[Role],
            /,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Role:
            role = cast(
                Role,
                create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs),
            )
            from moto.iam.models import iam_backends
            from moto.utilities.utils import get_partition

            backend = iam_backends[account_id][get_partition(region_name)]
            for arn in cloudformation_json.get("Properties", {}).get("ManagedPolicyArns") or []:
                backend.attach_role_policy(str(arn), role.name)
            return role

        Role.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
        _installed = True
