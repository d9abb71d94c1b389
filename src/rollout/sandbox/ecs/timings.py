"""Durations and behaviour switches of the ECS simulation, with their sources.

References are to ``shared/reference/ecs-behaviour.md`` (section numbers). Every choice the
reference leaves open (UNVERIFIED, DERIVED or CONFLICT) is a field here, so tests and users can
pick the other reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Timings:
    """Seconds of simulated time. Defaults reproduce the observed traces of §1.7 (≈2.5 min for a
    good rolling deploy with a 30 s deregistration delay) and the observed failure timelines of
    §2.1 (calibration: ``tests/sandbox/test_sim_calibration.py``, ``docs/sandbox.md``
    "Calibration"). Tests that only need speed pass :meth:`fast`."""

    #: UpdateService → first scheduler pass (`has started`): 14 s in trace A (§1.7).
    deployment_start_delay: float = 14.0
    #: A state change (health, task stopped) → the scheduler acting on it. DERIVED so that
    #: `registered` → `has stopped` is ≈40 s with a 30 s health-check interval (§1.7: 41–50 s).
    scheduler_reaction: float = 10.0
    #: PROVISIONING (ENI attach). §4.3 observed 17 s; with the next two, start → RUNNING = 30 s
    #: (§1.7: 20–40 s).
    provisioning: float = 10.0
    #: PENDING (image pull) for a pullable image.
    pending: float = 12.0
    #: ACTIVATING (container start, target registration).
    activating: float = 8.0
    #: PENDING → stop for an image that cannot be pulled ("retried 5 time(s)", §4.2). Calibrated
    #: on the one observed trace (§2.1, image tag missing, desired 1: failedTasks 1/2/3 at
    #: 2m34s/4m46s/11m00s): with the 24 s before PENDING and the throttle below the simulation
    #: gives 2m24s/4m44s/10m54s. DERIVED (one trace).
    pull_failure: float = 120.0
    #: PENDING → stop for a secret that cannot be retrieved (ResourceInitializationError,
    #: "service call has been retried 1 time(s)", §4.2). No observed timing exists: DERIVED by
    #: scaling the image-pull figure by the attempts each message reports (2 of 6 → 120 × 2/6),
    #: UNVERIFIED.
    secrets_failure: float = 40.0
    #: A service task that stopped on its own (essential container exited) or was stopped for
    #: failing health checks → the scheduler launching its replacement. §4.3 observed
    #: StopTask → replacement PROVISIONING +17 s; it also gives the ~50 s between task starts of
    #: the observed crash-on-start trace (§2.1: 30 s to RUNNING + exit + 17 s).
    replacement_delay: float = 17.0
    #: Scheduler stop decision → targets deregistered + `has begun draining` (§1.7: 1.6–10 s).
    deregistration_start: float = 2.0
    #: SIGTERM → container exit for a well-behaved app (bounded by the container's stopTimeout,
    #: default 30 s, §4.1). DERIVED.
    sigterm_exit: float = 2.0
    #: Fargate default stopTimeout when the container definition sets none (§4.1).
    stop_timeout: float = 30.0
    #: DEPROVISIONING (ENI detach). DERIVED from §1.7 (draining → completed 52–62 s).
    deprovisioning: float = 10.0
    #: A task with no load balancer and no container health check counts as healthy after
    #: RUNNING for this long ([BC-ECS] minimumHealthyPercent, §1.1).
    healthy_without_checks: float = 40.0
    #: Seconds the ALB target shows `initial`/`Elb.RegistrationInProgress` before
    #: `Elb.InitialHealthChecking`. UNVERIFIED.
    elb_registration: float = 5.0
    #: Service throttle (§2.1, UNVERIFIED curve, 15 min cap [DG23]): after the k-th consecutive
    #: start failure (k >= throttle_after) the next launch waits
    #: min(throttle_cap, throttle_base * 2 ** (k - throttle_after)). ``throttle_base`` is
    #: calibrated on the observed missing-image trace (§2.1: 6m14s between failedTasks 2 and 3,
    #: i.e. a 4 min wait plus one 130 s launch-to-failure); the doubling is UNVERIFIED.
    throttle_after: int = 2
    throttle_base: float = 240.0
    throttle_cap: float = 900.0
    #: `has reached a steady state.` is re-emitted every 6 h when nothing changes (§1.5).
    steady_state_repeat: float = 21_600.0
    #: How often ECS polls the deployment's CloudWatch alarms (§2.2: UNVERIFIED).
    alarm_poll: float = 30.0
    #: Stopped tasks stay in DescribeTasks for at least 1 h (§4.1); forgotten after this.
    stopped_task_retention: float = 3_600.0
    #: An INACTIVE (deleted) service stays describable for this long. UNVERIFIED.
    inactive_service_retention: float = 3_600.0

    @classmethod
    def observed_image_pull(cls) -> Timings:
        """Durations that reproduce the observed missing-image trace of §2.1 (desired 1:
        failedTasks 1, 2, 3 at ≈2m24s, 4m44s, 10m54s; observed 2m34s, 4m46s, 11m00s). These are
        the defaults now; kept so callers can ask for them by name."""
        return cls()

    @classmethod
    def fast(cls) -> Timings:
        """Failures in seconds rather than minutes, for tests that need speed rather than AWS's
        pace (client tests with real waiters: the AWS CLI, fabfuel, the JS SDK). Not
        calibrated: a missing image fails after 30 s, a missing secret after 5 s, the throttle
        starts at 60 s, replacements start after 10 s."""
        return cls(
            pull_failure=30.0,
            secrets_failure=5.0,
            throttle_base=60.0,
            replacement_delay=10.0,
        )


#: Named control-plane timings for ``rollout sandbox up --preset`` (the process runtime runs at
#: wall speed; these shorten only ECS's own delays, never the application's or the ALB's).
PRESET_NAMES: tuple[str, ...] = ("aws", "quick")


def preset(name: str) -> Timings:
    """``aws``: the calibrated defaults (≈30 s from start to RUNNING); ``quick``: ECS's own
    delays (scheduler pass, provisioning, image pull, ENI detach, replacement) cut to 1-5 s
    for demos; failures of bad images and secrets after 10 and 5 s."""
    if name == "aws":
        return Timings()
    if name == "quick":
        return Timings(
            deployment_start_delay=2.0,
            scheduler_reaction=1.0,
            provisioning=1.0,
            pending=1.0,
            activating=0.5,
            pull_failure=10.0,
            secrets_failure=5.0,
            replacement_delay=5.0,
            deregistration_start=0.5,
            deprovisioning=1.0,
            healthy_without_checks=10.0,
            elb_registration=1.0,
            throttle_base=30.0,
            alarm_poll=10.0,
        )
    raise ValueError(f"unknown timings preset {name!r}: use one of {', '.join(PRESET_NAMES)}")


@dataclass(frozen=True)
class Behaviour:
    """Switches for the places the reference marks CONFLICT or UNVERIFIED."""

    #: §6.1 CONFLICT: a new target turns healthy after one passing check (ALB guide) or after
    #: HealthyThresholdCount checks (ECS best-practice guide). Default: the ALB guide, which
    #: matches the observed `registered` → `has stopped` gaps of 41–50 s (§1.7).
    first_healthy: Literal["one_check", "threshold"] = "one_check"
    #: The issue's rule: the container port (the service's loadBalancers containerPort, which is
    #: what ECS registers) must equal the target group's port, else health checks time out.
    #: On AWS the registered port wins with `traffic-port` checks; set False for that reading.
    #: Either way a numeric HealthCheckPort that no container maps also fails.
    require_target_group_port: bool = True
    #: Health-check failure shown for a port nobody listens on: `Target.Timeout` /
    #: `Request timed out` (chosen; a refused connection has no documented reason code).
    port_mismatch_reason: Literal["Target.Timeout", "Target.FailedHealthChecks"] = "Target.Timeout"
    #: Images not hosted on an ECR registry URI (docker.io, public.ecr.aws, ...) are assumed
    #: pullable (the sandbox has no other registry to ask). Set False to fail them like a
    #: missing ECR image.
    pull_non_ecr_images: bool = True
    #: §2.1: the circuit breaker also counts failures after RUNNING (stage 2) and resets on a
    #: healthy task when the deployment does not set resetOnHealthyTask (current docs: true).
    reset_on_healthy_task: bool = True
    #: When a task that failed after RUNNING (essential container exited, failed ELB or
    #: container health checks) is added to ``failedTasks``: ``"stopped"`` once it reaches
    #: STOPPED (after its target drained), ``"stop"`` when the stop is decided. DERIVED from the
    #: observed crash-on-start trace (§2.1: 4 task starts ~50 s apart before the trip at
    #: failedTasks 3, ≈3 min in; counting at the exit trips with the third start, ≈2 min in).
    stage2_failure_counted: Literal["stopped", "stop"] = "stopped"
    #: A task whose essential container exited still waits in DEACTIVATING for its targets'
    #: deregistration delay before STOPPING (§6.3: ECS waits for UNUSED before it stops a task;
    #: applying that to exited tasks is DERIVED). False: straight to DEPROVISIONING.
    exited_tasks_drain: bool = True
    #: Tasks failing health checks (past the grace period): ``"one_by_one"`` stops one at a
    #: time, the next once the previous has STOPPED; ``"all_at_once"`` stops them all in the
    #: same pass. AWS documents one-by-one stops when maximumPercent leaves no room for a
    #: replacement ([BC-ECS] minimumHealthyPercent: "stops the unhealthy tasks one-by-one ...
    #: to clear up capacity"), which is the case mid-deployment with min 100 / max 200, and
    #: otherwise starts replacements first and stops unhealthy tasks "gradually" as the
    #: replacements become healthy (DG deployment-type-ecs); a replacement of a bad revision
    #: never does, so both come down to one at a time. Waiting for STOPPED is DERIVED; with
    #: it the failing-ALB-check trace (c) completes 20 s after the trip (observed 24 s).
    unhealthy_replacement: Literal["one_by_one", "all_at_once"] = "one_by_one"
    #: §2.1 CONFLICT: the breaker minimum threshold (current docs 3; 2023 guide 10).
    breaker_min_threshold: int = 3
    breaker_max_threshold: int = 200
    #: With rollback on but nothing COMPLETED to roll back to, the ServiceDeployment ends in
    #: ROLLBACK_FAILED (chosen; the docs only say the deployment stalls).
    stall_service_deployment_status: Literal["ROLLBACK_FAILED", "STOPPED"] = "ROLLBACK_FAILED"
    # -- traffic-shifting deployments (BLUE_GREEN, LINEAR, CANARY; traffic-shifting.md) --------
    #: §1.5: the model doc says the circuit breaker is for rolling deployments; the sandbox
    #: also lets it count green's failed tasks and roll back by a traffic switch (the issue's
    #: reading). False: the breaker is ignored under BLUE_GREEN/LINEAR/CANARY.
    breaker_with_traffic_shifting: bool = True
    #: §1.5 UNVERIFIED: from which stage deployment alarms can fail a traffic-shifting
    #: deployment. Documented reading: once production traffic has shifted (through BAKE_TIME).
    alarms_from_stage: Literal["PRODUCTION_TRAFFIC_SHIFT", "SCALE_UP", "TEST_TRAFFIC_SHIFT"] = (
        "PRODUCTION_TRAFFIC_SHIFT"
    )
    #: §1.1 UNVERIFIED: what ``lifecycleStage`` reports while PRE_PRODUCTION_TRAFFIC_SHIFT hooks
    #: run. The enum has no such value: ``"previous"`` keeps the previous stage (documented
    #: reading); ``"PRODUCTION_TRAFFIC_SHIFT"`` reports the shift about to happen.
    pre_production_stage_reported: Literal["previous", "PRODUCTION_TRAFFIC_SHIFT"] = "previous"
    #: §1.1 UNVERIFIED: what UpdateService does with the stored ``linearConfiguration`` /
    #: ``canaryConfiguration`` when the request switches to another strategy without it. A
    #: block is "only valid" with its strategy: ``"drop"`` forgets it (documented reading);
    #: ``"refuse"`` merges it in and refuses the request (InvalidParameterException).
    other_strategy_configuration: Literal["drop", "refuse"] = "drop"
    #: What an AWS_LAMBDA lifecycle hook answers (the sandbox cannot invoke Lambda):
    #: SUCCEEDED, FAILED or TIMED_OUT (no answer: the hook's timeout action applies when its
    #: ``timeoutInMinutes`` is over). ``Sandbox.set_hook_answer`` changes it at run time.
    hook_answer: Literal["SUCCEEDED", "FAILED", "TIMED_OUT"] = "SUCCEEDED"
    #: Seconds before an AWS_LAMBDA hook answers.
    hook_delay: float = 1.0
