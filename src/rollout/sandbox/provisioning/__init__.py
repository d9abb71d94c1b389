"""Provisioning plane: build the sandbox's AWS resources through AWS APIs only.

- :mod:`~rollout.sandbox.provisioning.stack`: ``infra/voj.yaml`` through moto's CloudFormation,
  plus the gaps moto leaves (created or patched from the template's own properties);
- :mod:`~rollout.sandbox.provisioning.environment`: a second environment beside it, from
  ``rollout.toml``.

It works the same for every runtime, in-process or over HTTP, and imports no other plane.
"""
