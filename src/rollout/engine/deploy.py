"""The deploy, as data: a sequence of steps (frozen dataclasses) handled with ``match``.

    Preflight → TakeLock → RecordTarget → Register → [PreRun] → UpdateService → Watch
              → [RollBack] → Finish

``rollout restart`` is the same run on the revision already in service: Register is skipped and
UpdateService forces a new deployment. ``deploy --pre-run CMD`` adds PreRun: a one-off task on
the registered revision whose failure ends the run (PRE_RUN_FAILED) before UpdateService.

Each step emits ``step.started``/``step.finished``; each handler returns the next step. An
interrupt (SIGINT/SIGTERM) before ``UpdateService`` ends the run with the service untouched; one
while watching leaves ECS's breaker in charge and prints how to resume or undo. ``Finish``
records the outcome in the ledger, releases the lock, applies retention and emits the verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.decisions import ledger
from rollout.decisions.exitcodes import Verdict, exit_code, ledger_outcome
from rollout.decisions.jsondiff import normalise_task_definition
from rollout.decisions.progressive import (
    ECS_STRATEGY,
    NATIVE,
    analysis_summary,
    configuration_differences,
    deployment_configuration,
    shape_of,
    strategy_summary,
)
from rollout.decisions.target import (
    NoTarget,
    RollbackTarget,
    deploy_rollback_target,
    in_flight,
    last_known_good,
)
from rollout.decisions.verdict import Failed, NoTasks, Succeeded, SupersededBy, TimedOut
from rollout.engine.ledger import load_ledger, tag
from rollout.engine.lock import ServiceLock, actor, run_url
from rollout.engine.logs import quote_failed_task_logs
from rollout.engine.observe import Observer
from rollout.engine.outcome import Outcome
from rollout.engine.progressive import (
    NativeResult,
    Plan,
    PlanError,
    pause_hook,
    plan,
    plan_in_flight,
    watch_native,
)
from rollout.engine.rollback import RollbackResult, roll_back
from rollout.engine.session import Session
from rollout.engine.watch import watch
from rollout.errors import RolloutError
from rollout.events import Level
from rollout.model import Service, TaskDefinition


@dataclass(frozen=True)
class Prepared:
    """What render + verify produced (read-only work; nothing written yet)."""

    document: Mapping[str, Any]
    tags: Mapping[str, str]
    image: str
    digest: str | None = None
    git_sha: str | None = None
    ok: bool = True
    problems: tuple[str, ...] = ()
    #: ``rollout restart``: deploy this registered revision again instead of registering one.
    reuse_arn: str | None = None


@dataclass(frozen=True)
class DeployRequest:
    image: str
    prepare: Callable[[], Prepared]
    #: "deploy" | "restart" (the revision in service again) | "watch" (resume: attach to the
    #: deployment in flight)
    verb: str = "deploy"
    no_rollback: bool = False
    #: On TIMED_OUT, roll back instead of leaving ECS to carry on (``--rollback-on-timeout``).
    rollback_on_timeout: bool = False
    #: Called after a successful deploy when retention.prune_after_deploy is on.
    retention: Callable[[], None] | None = None
    #: ``UpdateService(forceNewDeployment=True)``: replace every task even on the same revision
    #: (``rollout restart``). Sent once, never retried (a retry could start a second deployment).
    force_new_deployment: bool = False
    #: ``deploy --pre-run``: a one-off task on the new revision before UpdateService; a failure
    #: ends the run with PRE_RUN_FAILED and the service untouched.
    pre_run: Callable[[Session, str], PreRunResult] | None = None


@dataclass(frozen=True)
class PreRunResult:
    """What a ``--pre-run`` task ended with."""

    ok: bool
    reason: str
    exit_code: int | None = None
    task_arn: str | None = None
    #: "interrupted" when SIGINT/SIGTERM ended the wait (the task is left running)
    state: str | None = None


# -- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight:
    name: str = "render and verify"


@dataclass(frozen=True)
class Locate:
    """``rollout watch``: is there a deployment in flight at all? (read-only, before the lock)"""

    name: str = "find the deployment in flight"


@dataclass(frozen=True)
class TakeLock:
    name: str = "take the service lock"


@dataclass(frozen=True)
class RecordTarget:
    name: str = "record the rollback target"


@dataclass(frozen=True)
class Register:
    name: str = "register the new revision"


@dataclass(frozen=True)
class PreRun:
    name: str = "run the pre-run task"


@dataclass(frozen=True)
class UpdateService:
    name: str = "update the service"


@dataclass(frozen=True)
class Attach:
    """``rollout watch``: adopt the deployment in flight instead of starting one."""

    name: str = "attach to the deployment in flight"


@dataclass(frozen=True)
class Watch:
    name: str = "watch"


@dataclass(frozen=True)
class RollBack:
    failure: Failed
    name: str = "roll back"


@dataclass(frozen=True)
class Finish:
    verdict: Verdict
    reason: str
    name: str = "finish"


Step = (
    Preflight
    | Locate
    | TakeLock
    | RecordTarget
    | Register
    | PreRun
    | UpdateService
    | Attach
    | Watch
    | RollBack
    | Finish
)
TOTAL_STEPS = 8
INDEX = {
    Preflight: 1,
    Locate: 1,
    TakeLock: 2,
    RecordTarget: 3,
    Register: 4,
    PreRun: 4,
    UpdateService: 5,
    Attach: 5,
    Watch: 6,
    RollBack: 7,
    Finish: 8,
}


@dataclass
class DeployState:
    started: float
    prepared: Prepared | None = None
    target: RollbackTarget | None = None
    family: str | None = None
    registered: TaskDefinition | None = None
    new_arn: str | None = None
    deployment_id: str | None = None
    deployment_created_at: float | None = None
    update_at: float | None = None  # local clock: UpdateService returned, or we attached
    attached: bool = False  # adopted a deployment in flight (watch, or a re-run deploy)
    service_deployment_arn: str | None = None
    last_service: Service | None = None
    rollback: RollbackResult | None = None
    rollback_tried: bool = False  # a rollback call was sent, or ECS's breaker was restoring
    details: dict[str, Any] = field(default_factory=dict)
    #: native strategies: the target groups and rules (read before anything is written)
    plan: Plan | None = None
    #: the deploymentConfiguration UpdateService sends (None: leave the service's as it is)
    deployment_configuration: dict[str, Any] | None = None


class DeployRun:
    def __init__(self, session: Session, request: DeployRequest) -> None:
        self.s = session
        self.req = request
        self.lock = ServiceLock(session, request.verb)
        self.state = DeployState(started=session.now())
        #: An undo took the lock over: no more writes (see :meth:`_preempted`).
        self.preempted = False

    # -- driver ---------------------------------------------------------------------------------

    def run(self) -> Outcome:
        st = self.s.settings
        what = {
            "watch": "the deployment in flight",
            "restart": "the revision in service",
        }.get(self.req.verb, self.req.image)
        self.s.emit_started(
            self.req.verb,
            f"{self.req.verb} {what} on {st.cluster}/{st.service} [{st.env}]",
            image=self.req.image,
        )
        step: Step = Locate() if self.req.verb == "watch" else Preflight()
        try:
            while True:
                if self.s.interrupt.is_set() and isinstance(
                    step,
                    Preflight
                    | Locate
                    | TakeLock
                    | RecordTarget
                    | Register
                    | PreRun
                    | UpdateService
                    | Attach,
                ):
                    step = Finish(Verdict.INTERRUPTED, self._interrupted_before(step))
                index = INDEX[type(step)]
                self.s.emit(
                    "step.started",
                    f"step {index}/{TOTAL_STEPS}: {step.name}",
                    level="debug",
                    step=step.name,
                    index=index,
                    total=TOTAL_STEPS,
                )
                t0 = self.s.now()
                if isinstance(step, Register | UpdateService | RollBack) and self._preempted():
                    step = Finish(Verdict.SUPERSEDED, self._preempted_reason(step))
                if isinstance(step, Finish):
                    return self._finish(step, t0)
                nxt = self._handle(step)
                self.s.emit(
                    "step.finished",
                    f"{step.name} done",
                    level="debug",
                    step=step.name,
                    index=index,
                    total=TOTAL_STEPS,
                    outcome=type(nxt).__name__,
                    seconds=round(self.s.now() - t0, 3),
                )
                step = nxt
        finally:
            try:
                self.lock.release()
            except RolloutError as exc:
                self.s.emit("lock.release_failed", str(exc), level="error")

    def _preempted(self) -> bool:
        """An ``undo`` took the service lock over (decisions.lock): from then on this run writes
        nothing. Checked before each step that writes, and before recording the outcome."""
        if not self.preempted and not self.lock.held():
            self.preempted = True
        return self.preempted

    def _preempted_reason(self, step: Step) -> str:
        return (
            f"an undo took the service lock over before '{step.name}'; this {self.req.verb} "
            "leaves the service to it and writes nothing more"
        )

    def _handle(self, step: Step) -> Step:
        match step:
            case Preflight():
                return self._preflight()
            case Locate():
                return self._locate()
            case TakeLock():
                self.lock.acquire()
                return Attach() if self.req.verb == "watch" else RecordTarget()
            case Attach():
                return self._attach()
            case RecordTarget():
                return self._record_target()
            case Register():
                return self._register()
            case PreRun():
                return self._pre_run()
            case UpdateService():
                return self._update()
            case Watch():
                return self._watch()
            case RollBack(failure=failure):
                return self._roll_back(failure)
            case Finish():
                raise AssertionError("Finish is handled by the driver")

    # -- steps ----------------------------------------------------------------------------------

    def _preflight(self) -> Step:
        prepared = self.req.prepare()
        self.state.prepared = prepared
        if not prepared.ok:
            problems = "; ".join(prepared.problems) or "verify failed"
            return Finish(Verdict.PREFLIGHT_FAILED, f"preflight failed: {problems}")
        return TakeLock()

    def _record_target(self) -> Step:
        s, st = self.s, self.s.settings
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        family = str(self.state.prepared.document.get("family")) if self.state.prepared else ""
        family = family or ledger.family_of(svc.task_definition)
        self.state.family = family
        if self._in_flight_is_ours(svc):
            if self.s.dry_run:
                return Finish(Verdict.SUCCEEDED, "DRY RUN OK")
            return Attach()
        problem = self._strategy(svc)
        if problem is not None:
            return problem
        entries = load_ledger(s, family)
        choice = deploy_rollback_target(svc, entries)
        if isinstance(choice, NoTarget):
            s.emit(
                "target.recorded",
                f"no rollback target: {choice.why}",
                level="warning",
                task_definition=None,
                source=None,
            )
            return Register()
        self.state.target = choice
        s.emit(
            "target.recorded",
            f"rollback target {choice.arn.rsplit('/', 1)[-1]} ({choice.why})",
            task_definition=choice.arn,
            rollback_target_arn=choice.arn,
            source=choice.source,
        )
        if choice.source == "primary-completed":
            entry = next((e for e in entries if e.arn == choice.arn), None)
            if entry is None or not entry.good:
                tag(s, choice.arn, dict(ledger.GOOD_TAGS), "ran healthy (completed PRIMARY)")
        return Register()

    def _strategy(self, svc: Service) -> Step | None:
        """Native strategies: find blue and green, and what UpdateService sends (reads only)."""
        s, st = self.s, self.s.settings
        sh = st.shift
        shape = shape_of(sh)
        current = dict(svc.deployment_configuration_raw)
        if st.strategy not in NATIVE:
            if svc.strategy != "ROLLING" and sh.set_on_deploy:
                self.state.deployment_configuration = deployment_configuration(
                    current, "rolling", shape
                )
            return None
        try:
            self.state.plan = plan(s, svc)
        except PlanError as exc:
            return Finish(Verdict.PREFLIGHT_FAILED, f"preflight failed: {exc}")
        if sh.set_on_deploy:
            wanted = deployment_configuration(current, st.strategy, shape)
            hooks = [
                h for h in current.get("lifecycleHooks") or [] if h.get("targetType") != "PAUSE"
            ]
            if st.test_url:
                hooks.append(pause_hook())
            if hooks or current.get("lifecycleHooks"):
                wanted["lifecycleHooks"] = hooks
            self.state.deployment_configuration = wanted
        else:
            diffs = configuration_differences(current, st.strategy, shape)
            if diffs:
                return Finish(
                    Verdict.PREFLIGHT_FAILED,
                    "preflight failed: the service is not configured as rollout.toml says "
                    f"(shift.set_on_deploy = false): {'; '.join(diffs)}",
                )
        s.emit(
            "strategy",
            f"{strategy_summary(st.strategy, shape)}; "
            f"{analysis_summary(st.thresholds, st.analysis_window)}",
            strategy=st.strategy,
            deployment_configuration=self.state.deployment_configuration,
            green=self.state.plan.green,
            blue=self.state.plan.blue,
        )
        return None

    def _locate(self) -> Step:
        """``watch`` with no deployment in flight says so and writes nothing (no lock, no bake,
        no ledger tag): a steady service has nothing to watch."""
        s, st = self.s, self.s.settings
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        primary = svc.primary
        if primary is not None and in_flight(svc):
            return TakeLock()
        if primary is None:
            where = "the service has no PRIMARY deployment"
        else:
            where = (
                f"PRIMARY {primary.id} is {primary.rollout_state or 'steady'} on "
                f"{primary.task_definition.rsplit('/', 1)[-1]}"
            )
            try:
                entry = ledger.parse(s.gw.ecs.describe_task_definition(primary.task_definition))
                if entry.outcome is not None:
                    where += f" (ledger: {entry.outcome}{', good' if entry.good else ''})"
            except RolloutError:
                pass
        return Finish(
            Verdict.NOTHING_TO_WATCH,
            f"nothing to watch: no deployment in flight on {st.cluster}/{st.service}; {where}. "
            "Nothing was written; `rollout status` shows the service",
        )

    def _in_flight_is_ours(self, svc: Service) -> bool:
        """Is the deployment in flight already this deploy (same rendered task definition)?

        A deploy re-run after an interrupt must adopt it, as ``rollout watch`` does, instead of
        registering an identical revision and starting a second deployment over it. The whole
        rendered document is compared with the in-flight revision (normalised as ``rollout
        diff`` does), not only the image: a changed template is a new deploy."""
        primary = svc.primary
        prepared = self.state.prepared
        if primary is None or prepared is None or primary.rollout_state != "IN_PROGRESS":
            return False
        if "rolling back" in (primary.rollout_state_reason or ""):
            # ECS restoring an older deployment after a failure is not a deploy of ours in
            # flight, even when it restores this very revision: adopting it would watch the
            # failed deployment (as `rollout watch` does) and report a good release as failed
            return False
        live = self.s.gw.ecs.describe_task_definition(primary.task_definition)
        if normalise_task_definition(live.document, show_values=True) != (
            normalise_task_definition(prepared.document, show_values=True)
        ):
            return False
        self.s.emit(
            "deployment.adopted",
            f"deployment {primary.id} in flight already deploys this image and rendered "
            f"revision ({primary.task_definition.rsplit('/', 1)[-1]}): adopting it as "
            "`rollout watch` would, instead of registering it again and starting a second "
            "deployment",
            level="warning",
            deployment_id=primary.id,
            task_definition_arn=primary.task_definition,
        )
        return True

    def _attach(self) -> Step:
        s, st = self.s, self.s.settings
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        primary = svc.primary
        if primary is None:
            return Finish(
                Verdict.NOTHING_TO_WATCH, "nothing to watch: the service has no PRIMARY deployment"
            )
        if "rolling back" in (primary.rollout_state_reason or ""):
            # ECS's breaker is restoring an older deployment: the one in flight that failed
            # is the one to see to a verdict (judged FAILED at once; the restore is verified)
            failed = next(
                (d for d in svc.deployments if d.id != primary.id and d.rollout_state == "FAILED"),
                None,
            )
            if failed is not None:
                primary = failed
        family = ledger.family_of(primary.task_definition)
        entries = load_ledger(s, family)
        self.state.family = family
        self.state.deployment_id = primary.id
        # createdAt is ECS's clock: it bounds service events (also ECS's clock) and tells a
        # newer deployment from ours; every duration and timeout counts on the local clock,
        # from now (the two clocks are never mixed: a skewed runner would show "-879s")
        self.state.deployment_created_at = primary.created_at
        self.state.update_at = s.now()
        self.state.attached = True
        self.state.new_arn = primary.task_definition
        self.state.registered = next(
            (
                s.gw.ecs.describe_task_definition(e.arn)
                for e in entries
                if e.arn == primary.task_definition
            ),
            None,
        )
        good = last_known_good(
            entries,
            below_revision=ledger.revision_of(primary.task_definition),
            exclude=primary.task_definition,
        )
        if good is not None:
            self.state.target = RollbackTarget(
                good.arn, good.revision, "last-known-good", "newest revision that ran healthy"
            )
        s.emit(
            "deployment",
            f"watching deployment {primary.id} ({primary.task_definition.rsplit('/', 1)[-1]}, "
            f"{primary.rollout_state})",
            deployment_id=primary.id,
            task_definition_arn=primary.task_definition,
        )
        s.emit(
            "target.recorded",
            f"rollback target {good.arn.rsplit('/', 1)[-1]}" if good else "no rollback target",
            level="info" if good else "warning",
            task_definition=good.arn if good else None,
            rollback_target_arn=good.arn if good else None,
            source="last-known-good" if good else None,
        )
        self._attach_shift(svc, primary.id)
        return Watch()

    def _attach_shift(self, svc: Service, deployment_id: str) -> None:
        """A BLUE_GREEN/CANARY/LINEAR deployment in flight is watched as ``deploy`` watches it:
        its lifecycle stages and the analysis of green against blue, with green found mid-shift
        (:func:`~rollout.engine.progressive.plan_in_flight`). A deployment ECS is already
        rolling back stays with the rolling rules (judged FAILED at once, restore verified)."""
        s = self.s
        if svc.strategy not in {ECS_STRATEGY[n] for n in NATIVE} or "rolling back" in (
            (svc.primary.rollout_state_reason or "") if svc.primary else ""
        ):
            return
        since = self.state.deployment_created_at
        observer = Observer(s, since=s.now(), events_since=since if since is not None else s.now())
        sd = observer.service_deployment(deployment_id)
        try:
            self.state.plan = plan_in_flight(s, svc, sd)
        except PlanError as exc:
            s.emit(
                "analysis.unavailable",
                f"watching {deployment_id} without analysis: {exc.message}",
                level="warning",
            )
            return
        s.emit(
            "strategy",
            f"{svc.strategy} deployment in flight"
            + (f" at {sd.lifecycle_stage}" if sd and sd.lifecycle_stage else "")
            + f": resuming its stage watch and the analysis; green "
            f"{self.state.plan.green.rsplit('/', 2)[-2]}, blue "
            f"{self.state.plan.blue.rsplit('/', 2)[-2]}",
            strategy=svc.strategy,
            green=self.state.plan.green,
            blue=self.state.plan.blue,
            attached=True,
        )

    def _register(self) -> Step:
        s = self.s
        prepared = self.state.prepared
        assert prepared is not None
        if prepared.reuse_arn is not None:
            # restart: the revision in service is deployed again; nothing is registered and
            # its ledger entry is left as it is (a failed restart must not unmark a good one)
            self.state.new_arn = prepared.reuse_arn
            s.emit(
                "registered",
                f"reusing {prepared.reuse_arn.rsplit('/', 1)[-1]} (nothing registered)",
                task_definition_arn=prepared.reuse_arn,
                revision=ledger.revision_of(prepared.reuse_arn),
                reused=True,
            )
            return UpdateService()
        env = dict(s.ctx.environ)
        # render's provenance tags win; the ledger adds what render does not know
        tags = ledger.start_tags(
            image=prepared.image,
            digest=prepared.digest,
            git_sha=prepared.git_sha or env.get("GITHUB_SHA"),
            actor=actor(env),
            run_url=run_url(env),
            started_at=self.state.started,
        ) | dict(prepared.tags)
        family = str(prepared.document.get("family", self.state.family or "?"))
        registered = s.write(
            "ecs",
            "RegisterTaskDefinition",
            {**prepared.document, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
            f"register a new revision of {family} ({prepared.image})",
            lambda: s.gw.ecs.register_task_definition(prepared.document, tags),
        )
        if registered is None:
            self.state.new_arn = f"{family}:<next revision>"
        else:
            self.state.registered = registered
            self.state.new_arn = registered.arn
            s.emit(
                "registered",
                f"registered {registered.family_revision}",
                task_definition_arn=registered.arn,
                revision=registered.revision,
            )
        return PreRun() if self.req.pre_run is not None else UpdateService()

    def _pre_run(self) -> Step:
        s = self.s
        assert self.req.pre_run is not None
        assert self.state.new_arn is not None
        if self.state.registered is None:  # dry run: nothing registered to run
            s.emit("pre_run.skipped", "dry run: the pre-run task would run here", level="info")
            return UpdateService()
        result = self.req.pre_run(s, self.state.new_arn)
        self.state.details["pre_run_exit_code"] = result.exit_code
        self.state.details["pre_run_task_arn"] = result.task_arn
        if result.state == "interrupted":
            return Finish(
                Verdict.INTERRUPTED,
                f"interrupted during the pre-run task: {result.reason}; the service was not "
                "changed",
            )
        if not result.ok:
            return Finish(
                Verdict.PRE_RUN_FAILED,
                f"pre-run task failed: {result.reason}; the service was not changed",
            )
        return UpdateService()

    def _update(self) -> Step:
        s, st = self.s, self.s.settings
        new_arn = self.state.new_arn
        assert new_arn is not None
        if self.req.force_new_deployment:
            # no taskDefinition: ECS replaces every task on the revision in service; the check
            # below finds the deployment it started (and SUPERSEDED if that is not ours)
            updated = s.write(
                "ecs",
                "UpdateService",
                {"cluster": st.cluster, "service": st.service, "forceNewDeployment": True},
                f"replace every task of {st.service} ({new_arn.rsplit('/', 1)[-1]})",
                lambda: s.gw.ecs.update_service(st.cluster, st.service, force_new_deployment=True),
            )
        else:
            request: dict[str, Any] = {
                "cluster": st.cluster,
                "service": st.service,
                "taskDefinition": new_arn,
            }
            config = self.state.deployment_configuration
            if config is not None:
                request["deploymentConfiguration"] = config
            how = f" ({st.strategy})" if config is not None else ""
            updated = s.write(
                "ecs",
                "UpdateService",
                request,
                f"point {st.service} at {new_arn.rsplit('/', 1)[-1]}{how}",
                lambda: s.gw.ecs.update_service(
                    st.cluster, st.service, task_definition=new_arn, deployment_configuration=config
                ),
            )
        self.state.update_at = s.now()
        if updated is None:  # dry run
            return Finish(Verdict.SUCCEEDED, "DRY RUN OK")
        svc = s.gw.ecs.describe_service(st.cluster, st.service)
        primary = svc.primary
        mine = next(
            (
                d
                for d in (updated.primary, primary)
                if d is not None and d.task_definition == new_arn
            ),
            None,
        )
        if mine is None or primary is None:
            by = primary.id if primary else "?"
            return Finish(
                Verdict.SUPERSEDED, f"right after UpdateService, PRIMARY is {by}, not ours"
            )
        self.state.deployment_id = mine.id
        self.state.deployment_created_at = mine.created_at
        s.emit(
            "deployment",
            f"deployment {mine.id} is PRIMARY",
            deployment_id=mine.id,
            task_definition_arn=new_arn,
        )
        if primary.id != mine.id:
            return Finish(Verdict.SUPERSEDED, f"{primary.id} replaced {mine.id} immediately")
        return Watch()

    def _watch(self) -> Step:
        s = self.s
        assert self.state.deployment_id is not None
        assert self.state.update_at is not None
        if self.state.plan is not None:
            return self._watch_native(self.state.plan)
        result = watch(
            s,
            deployment_id=self.state.deployment_id,
            started_at=self.state.update_at,
            deployment_created_at=self.state.deployment_created_at,
            since_note="since watching began" if self.state.attached else None,
        )
        self.state.last_service = result.service
        self.state.service_deployment_arn = result.service_deployment_arn
        match result.decision:
            case None:
                return Finish(Verdict.INTERRUPTED, "interrupted while watching")
            case Succeeded():
                return Finish(Verdict.SUCCEEDED, "new tasks healthy and old tasks drained")
            case NoTasks():
                return Finish(Verdict.NO_TASKS, self._no_tasks_reason())
            case SupersededBy(deployment_id=other, task_definition=td):
                return Finish(
                    Verdict.SUPERSEDED,
                    f"deployment {other} ({td.rsplit('/', 1)[-1]}) replaced ours; not rolling back",
                )
            case TimedOut(phase=phase, waiting_on=waiting) if self.req.rollback_on_timeout:
                reason = f"'{phase}' timed out ({waiting}) and --rollback-on-timeout is set"
                s.emit(
                    "signal",
                    f"deploy failed: {reason}",
                    level="error",
                    signal="timeout",
                    definitive=False,
                    reason=reason,
                )
                return RollBack(Failed(reason=reason, definitive=False))
            case TimedOut(phase=phase, waiting_on=waiting):
                return Finish(
                    Verdict.TIMED_OUT,
                    f"'{phase}' timed out after {self.s.now() - self.state.update_at:.0f}s, "
                    f"{waiting}; rollout stops watching and leaves the deployment to ECS (its "
                    "breaker stays armed)",
                )
            case Failed() as failure:
                s.emit(
                    "signal",
                    f"deploy failed: {failure.reason}",
                    level="error",
                    signal="verdict",
                    definitive=True,
                    reason=failure.reason,
                )
                quote_failed_task_logs(
                    s,
                    self.state.deployment_id,
                    failure.signal.task_arn if failure.signal else None,
                )
                return RollBack(failure)
            case other:
                raise AssertionError(f"unexpected decision {other!r}")

    def _watch_native(self, the_plan: Plan) -> Step:
        assert self.state.deployment_id is not None
        assert self.state.update_at is not None
        result: NativeResult = watch_native(
            self.s,
            the_plan,
            deployment_id=self.state.deployment_id,
            started_at=self.state.update_at,
            deployment_created_at=self.state.deployment_created_at,
        )
        self.state.service_deployment_arn = result.service_deployment_arn
        self.state.details["stages"] = list(result.stages)
        self.state.details["analysis_windows"] = result.analysis.windows
        if result.traffic_back_seconds is not None:
            self.state.details["traffic_back_seconds"] = result.traffic_back_seconds
        if result.restore_seconds is not None:
            self.state.details["restore_seconds"] = result.restore_seconds
            self.state.details["rollback_via"] = "ecs-stop-service-deployment"
        verdict = {
            "succeeded": Verdict.SUCCEEDED,
            "rolled-back": Verdict.FAILED_ROLLED_BACK,
            "rollback-failed": Verdict.FAILED_ROLLBACK_FAILED,
            "timed-out": Verdict.TIMED_OUT,
            "interrupted": Verdict.INTERRUPTED,
        }[result.outcome]
        self.state.rollback_tried = result.outcome in ("rolled-back", "rollback-failed")
        return Finish(verdict, result.reason)

    def _no_tasks_reason(self) -> str:
        new = (self.state.new_arn or "our revision").rsplit("/", 1)[-1]
        return (
            f"the service runs no tasks (desiredCount 0): ECS completed the deployment of {new} "
            "without starting a task, so nothing was verified and the revision is not marked "
            "good; scale the service up and run `rollout watch`, or deploy again once it runs"
        )

    def _roll_back(self, failure: Failed) -> Step:
        if self.req.no_rollback and not failure.ecs_rolling_back:
            return Finish(
                Verdict.FAILED_ROLLBACK_FAILED,
                f"{failure.reason}; --no-rollback: the service was left as it is",
            )
        self.state.rollback_tried = True
        try:
            result = roll_back(
                self.s,
                deployment_id=self.state.deployment_id,
                ours_created_at=self.state.deployment_created_at,
                target=self.state.target,
                ecs_rolling_back=failure.ecs_rolling_back,
                service_deployment_arn=self.state.service_deployment_arn,
                failure_reason=failure.reason,
            )
        except RolloutError as exc:
            self.s.emit("rollback.failed", f"rollback failed: {exc}", level="error")
            return Finish(
                Verdict.FAILED_ROLLBACK_FAILED,
                f"{failure.reason}; the rollback itself failed: {exc.message} ECS's circuit "
                "breaker is still armed; page someone and run `rollout status`",
            )
        self.state.rollback = result
        self.state.rollback_tried = result.attempted
        self.state.details["rollback_via"] = result.via
        self.state.details["restore_seconds"] = result.restore_seconds
        return Finish(result.verdict, result.reason)

    # -- finish ---------------------------------------------------------------------------------

    def _interrupted_before(self, step: Step) -> str:
        if isinstance(step, UpdateService):
            return (
                "interrupted after registering the new revision and before UpdateService: "
                "the service is untouched"
            )
        return f"interrupted before '{step.name}': nothing was changed on the service"

    def _finish(self, step: Finish, t0: float) -> Outcome:
        s, st = self.s, self.s.settings
        verdict = step.verdict
        registered = self.state.registered
        if verdict is Verdict.INTERRUPTED:
            self._report_interrupt(step.reason)
        # An undo that took the lock over owns the service and records the outcome.
        checked = verdict not in (Verdict.PREFLIGHT_FAILED, Verdict.INTERRUPTED)
        if checked and self._preempted() and verdict is not Verdict.SUPERSEDED:
            step = Finish(Verdict.SUPERSEDED, self._preempted_reason(step))
            verdict = step.verdict
        if (
            registered is not None
            and verdict is not Verdict.PREFLIGHT_FAILED
            and not self.preempted
        ):
            try:
                tag(
                    s,
                    registered.arn,
                    ledger.outcome_tags(
                        ledger_outcome(verdict, rollback_tried=self.state.rollback_tried),
                        finished_at=s.now(),
                        deployment_id=self.state.deployment_id,
                        good=verdict is Verdict.SUCCEEDED,
                    ),
                    f"outcome {ledger_outcome(verdict, rollback_tried=self.state.rollback_tried)}",
                )
                rb = self.state.rollback
                if verdict is Verdict.FAILED_ROLLED_BACK and rb and self.state.target:
                    tag(s, self.state.target.arn, dict(ledger.GOOD_TAGS), "restored and healthy")
            except RolloutError as exc:
                s.emit("ledger.failed", f"could not record the outcome: {exc}", level="warning")
        self.lock.release()
        if (
            verdict is Verdict.SUCCEEDED
            and not s.dry_run
            and st.prune_after_deploy
            and self.req.retention is not None
        ):
            try:
                self.req.retention()
            except RolloutError as exc:
                s.emit("retention.failed", f"retention skipped: {exc}", level="warning")
        code = exit_code(verdict)
        target_arn = self.state.target.arn if self.state.target else None
        new_arn = registered.arn if registered else None
        if self.state.prepared is not None and self.state.prepared.reuse_arn is not None:
            new_arn = self.state.prepared.reuse_arn
        level: Level = "success" if verdict is Verdict.SUCCEEDED else "error"
        if verdict in (
            Verdict.SUPERSEDED,
            Verdict.INTERRUPTED,
            Verdict.TIMED_OUT,
            Verdict.NO_TASKS,
            Verdict.NOTHING_TO_WATCH,
        ):
            level = "warning"
        message = "DRY RUN OK" if s.dry_run and verdict is Verdict.SUCCEEDED else f"{verdict}"
        s.emit(
            "verdict",
            f"{message}: {step.reason}" if message != "DRY RUN OK" else message,
            level=level,
            verdict=str(verdict),
            exit_code=code,
            reason=step.reason,
            deployment_id=self.state.deployment_id,
            task_definition_arn=new_arn,
            rollback_target_arn=target_arn,
            dry_run=s.dry_run,
            **{k: v for k, v in self.state.details.items() if v is not None},
        )
        s.emit(
            "step.finished",
            "finish done",
            level="debug",
            step=step.name,
            index=INDEX[Finish],
            total=TOTAL_STEPS,
            outcome=str(verdict),
            seconds=round(s.now() - t0, 3),
        )
        s.emit_finished(str(verdict), code, self.state.started)
        return Outcome(
            verdict=str(verdict),
            exit_code=code,
            reason=step.reason,
            deployment_id=self.state.deployment_id,
            task_definition_arn=new_arn,
            rollback_target_arn=target_arn,
            details=dict(self.state.details),
        )

    def _report_interrupt(self, reason: str) -> None:
        s, st = self.s, self.s.settings
        env = f"--env {st.env}"
        undo = f"rollout undo {env}"
        if self.state.target is not None and self.state.target.revision is not None:
            undo += f" --to-revision {self.state.target.revision}"
        resume = f"rollout watch {env}"
        deployments: list[str] = []
        if self.state.deployment_id is not None:
            try:
                svc = s.gw.ecs.describe_service(st.cluster, st.service)
                deployments = [
                    f"{d.status} {d.id} {d.task_definition.rsplit('/', 1)[-1]} "
                    f"{d.running}/{d.desired} running [{d.rollout_state}]"
                    for d in svc.deployments
                ]
            except RolloutError:
                deployments = ["(could not read the service)"]
        state = (
            f"deployment {self.state.deployment_id} left to ECS (its circuit breaker stays armed)"
            if self.state.deployment_id
            else "the service was not changed"
        )
        s.emit(
            "interrupted",
            f"{reason}. State: {state}."
            + (" Deployments: " + "; ".join(deployments) + "." if deployments else "")
            + f" Resume watching: `{resume}`. Undo: `{undo}`.",
            level="warning",
            signal=s.interrupt.signal_name,
            state=state,
            deployments=deployments,
            resume=resume,
            undo=undo,
        )
