"""The simulated ECS API (see :mod:`rollout.sandbox.ecs.simulation`).

What is simulated (references are to ``shared/reference/ecs-behaviour.md``):

- Task definitions (register with Fargate size validation and ``"1 vCPU"``/``"1GB"`` forms,
  describe, list, families, deregister, tags), clusters, services (create, update, describe,
  list, delete), tasks (list with filters, describe, run, stop), the service-deployments API
  (list, describe, stop with ROLLBACK) and DescribeServiceRevisions. Any other ECS operation
  answers ``ClientException`` saying the sandbox does not simulate it.
- Rolling deployments (ECS controller, ROLLING strategy only) with the DERIVED per-pass rule of
  §1.1; a new PRIMARY per task-definition/network/load-balancer change or forceNewDeployment;
  overlapping deployments; drained deployments leave the list; ``rolloutState`` and its reason
  texts; ``failedTasks``; ``currentServiceRevisions``; service events in AWS's formats, newest
  first, at most 100, steady state re-emitted every 6 h.
- The task lifecycle PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING →
  DEPROVISIONING → STOPPED with :class:`Timings`; stop codes and reasons per failure (§4.2); an
  ENI with a private 10.0.x.y address registered (type ip, container port) in the service's
  target groups, whose health follows the group's interval and thresholds (see
  :mod:`rollout.sandbox.elb`), with the grace period and deregistration delay honoured.
- Configuration errors derived from moto's state: images missing from ECR (tag or digest) →
  CannotPullContainerError; ``secrets`` missing from SSM or Secrets Manager →
  ResourceInitializationError; a container port that differs from the target group's port →
  ``Target.Timeout``. Application faults come from :class:`rollout.sandbox.faults.FaultPlan`.
- Tasks are handed to a runtime (:mod:`rollout.sandbox.runtime`): the simulated one predicts
  their behaviour from the fault plan; the process one runs them as real processes and reports
  exits and health checks back. The model never knows which.
- The circuit breaker (both stages, threshold clamp(ceil(0.5 × N), 3, 200), reset on a healthy
  task, rollback to the last COMPLETED deployment reusing its id, stall without one), the
  service throttle, and CloudWatch alarm detection (moto's alarm states, polled) with bake time.

Not simulated: BLUE_GREEN/LINEAR/CANARY strategies, EC2 and external launch types, capacity
providers, Service Connect/Cloud Map, task protection, ECS Exec, EventBridge events, CloudWatch
metrics from the data plane, changes to a target group's health-check settings after a target
was registered (they apply to targets registered later).
"""

from rollout.sandbox.ecs.simulation import EcsSimulation, ServingTarget
from rollout.sandbox.ecs.state import TimelineEntry
from rollout.sandbox.ecs.timings import Behaviour, Timings

__all__ = ["Behaviour", "EcsSimulation", "ServingTarget", "TimelineEntry", "Timings"]
