"""Deploying through ECS's native strategies with analysis (issue 10), on the sandbox's virtual
clock with synthetic traffic through the ALB: stages walked, verdicts, rollbacks by traffic switch.

In a package of its own: each module opens its own sandbox, and one must never be opened while
tests/engine's package-wide sandbox is open (moto's state is process-global).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from engine.scenario import CONFIG, Run, World
from rollout.config import load_config
from rollout.decisions.analysis import Thresholds
from rollout.engine.probe import ProbeResult
from rollout.engine.settings import EngineSettings, ShiftSettings
from rollout.report.console import ConsoleRenderer
from rollout.report.github import step_summary
from rollout.report.plain import format_line
from rollout.report.result import build_result
from rollout.sandbox import Sandbox
from rollout.verbs.render import render_task_definition
from rollout.verbs.verify import run_checks

STRATEGIES = ("blue-green", "canary", "linear")
SHIFT = ShiftSettings(
    bake_minutes=3,
    canary_percent=20.0,
    canary_bake_minutes=3,
    step_percent=50.0,
    step_bake_minutes=2,
)


@pytest.fixture(scope="module")
def shifting(request: pytest.FixtureRequest) -> Iterator[World]:
    """voj provisioned for one strategy (``provision --strategy``; the deploys also set it from
    the settings, as rollout.toml's ``shift.set_on_deploy`` does). One sandbox at a time."""
    sb = Sandbox()
    try:
        prov = sb.provision_voj(strategy=request.param)
        # rollout's analysis is what these tests judge: the stack's own deployment alarms (which
        # also roll a bad release back, tests/sandbox/strategies) are switched off here
        ecs = sb.client_factory().client("ecs")
        config = ecs.describe_services(cluster=prov.cluster, services=[prov.service])["services"][
            0
        ]["deploymentConfiguration"]
        config["alarms"] = {**config.get("alarms", {}), "enable": False, "rollback": False}
        config.setdefault("alarms", {}).setdefault("alarmNames", [])
        ecs.update_service(
            cluster=prov.cluster, service=prov.service, deploymentConfiguration=config
        )
        world = World(sb, prov)
        world.reset()
        yield world
    finally:
        sb.stop_synthetic_traffic()
        sb.close()


@pytest.fixture
def world(shifting: World) -> World:
    """Settled, no faults, steady synthetic traffic (10 req/s production, 1 req/s test)."""
    shifting.reset()
    shifting.sb.start_synthetic_traffic(rate=10.0, test_rate=1.0)
    return shifting


def settings(world: World, strategy: str, **changes: Any) -> EngineSettings:
    base: dict[str, Any] = {
        "strategy": strategy,
        "shift": SHIFT,
        "thresholds": Thresholds(min_requests=50),
        "analysis_window": 60,
        "smoke_url": None,
    }
    return replace(world.settings(), **(base | changes))


def stages(run: Run) -> list[str]:
    return [e.data["stage"] for e in run.kinds("stage")]


def prod_weights(world: World) -> dict[str, int]:
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    lb = svc.load_balancers[0]
    assert lb.production_listener_rule
    client = world.sb.client_factory().client("elbv2")
    rule = client.describe_rules(RuleArns=[lb.production_listener_rule])["Rules"][0]
    fwd = next(a for a in rule["Actions"] if a["Type"] == "forward")
    return {g["TargetGroupArn"]: int(g["Weight"]) for g in fwd["ForwardConfig"]["TargetGroups"]}


@pytest.mark.parametrize(
    ("shifting", "strategy"), [(x, x) for x in STRATEGIES], indirect=["shifting"]
)
def test_a_good_release_walks_every_stage_and_succeeds(world: World, strategy: str) -> None:
    run = world.deploy("sha-0000002", settings=settings(world, strategy))
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    walked = stages(run)
    for stage in ("SCALE_UP", "TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME"):
        assert stage in walked, walked
    assert walked.index("BAKE_TIME") > walked.index("PRODUCTION_TRAFFIC_SHIFT")
    windows = run.kinds("analysis")
    assert windows
    assert all(e.data["outcome"] != "fail" for e in windows)
    # blue stopped after the bake: only the new revision's tasks remain
    world.sb.advance_until(lambda: True if world.steady() else None, timeout=1800, step=5)
    assert world.current_revision() == world.next_revision() - 1
    assert not run.kinds("rollback.started")


@pytest.mark.parametrize(
    ("shifting", "strategy"), [(x, x) for x in STRATEGIES], indirect=["shifting"]
)
def test_a_release_serving_5xx_is_failed_by_analysis_and_rolled_back_to_blue(
    world: World, strategy: str
) -> None:
    before = world.current_revision()
    world.break_next("serve_5xx", share=0.2)
    run = world.deploy("sha-0000003", settings=settings(world, strategy))
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    failed = [e for e in run.kinds("analysis") if e.data["outcome"] == "fail"]
    assert failed
    assert failed[-1].data["metric"] == "5xx rate"
    assert failed[-1].data["stage"] in (
        "PRODUCTION_TRAFFIC_SHIFT",
        "PRE_PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
    )
    assert "5xx rate" in run.outcome.reason
    assert "requests" in run.outcome.reason
    # the first window judged is the one in progress when green began serving production
    serving = min(
        e.at
        for e in run.kinds("stage")
        if e.data.get("observed", True)
        and e.data["stage"]
        in ("PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME")
    )
    judged = [*run.kinds("analysis"), *run.kinds("analysis.partial")]
    first = min(e.data["window"][0] for e in judged)
    assert first <= serving < first + 60, (first, serving)
    assert run.kinds("traffic.restored")
    assert run.kinds("restore.verified")
    assert "StopServiceDeployment" in " ".join(world.writes())
    weights = prod_weights(world)
    svc = world.ecs.describe_service(world.prov.cluster, world.prov.service)
    # production weight back on the group the old revision serves
    assert sorted(weights.values()) == [0, max(weights.values())]
    assert world.current_revision() == before, svc.task_definition


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_a_failing_window_is_judged_before_it_ends_fail_fast_pass_slow(world: World) -> None:
    """With two-minute windows (ALB metrics per minute), a canary serving 5xx is failed on the
    window's first minute, not at its end; a good release's windows still run to their end."""
    world.break_next("serve_5xx", share=0.3)
    run = world.deploy("sha-0000003", settings=settings(world, "canary", analysis_window=120))
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    failed = [e for e in run.kinds("analysis") if e.data["outcome"] == "fail"]
    assert failed
    start, judged_at = failed[-1].data["window"]
    assert judged_at - start < 120, (start, judged_at)
    good = world.deploy("sha-0000002", settings=settings(world, "canary", analysis_window=120))
    assert good.outcome.verdict == "SUCCEEDED", good.outcome
    for e in good.kinds("analysis"):
        start, end = e.data["window"]
        assert end - start == 120, e.data


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_too_few_requests_is_inconclusive_and_never_rolls_back_on_its_own(
    world: World,
) -> None:
    world.sb.start_synthetic_traffic(rate=0.5, test_rate=0.0)  # ~30 requests a minute
    run = world.deploy(
        "sha-0000002",
        settings=settings(
            world, "canary", thresholds=Thresholds(min_requests=50, inconclusive_limit=100)
        ),
    )
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    outcomes = {e.data["outcome"] for e in run.kinds("analysis")}
    assert outcomes == {"inconclusive"}
    assert not run.kinds("rollback.started")


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_a_limit_turns_inconclusive_windows_into_a_failure(world: World) -> None:
    world.sb.start_synthetic_traffic(rate=0.5, test_rate=0.0)
    run = world.deploy(
        "sha-0000002",
        settings=settings(
            world, "canary", thresholds=Thresholds(min_requests=50, inconclusive_limit=1)
        ),
    )
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    assert "inconclusive 2 windows in a row (limit 1)" in run.outcome.reason


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_a_slow_but_healthy_release_inside_the_thresholds_is_not_rolled_back(
    world: World,
) -> None:
    world.break_next("slow", share=0.5, latency=0.4)  # p99 400 ms < 1000 ms allowed
    run = world.deploy("sha-0000002", settings=settings(world, "canary"))
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    passes = [e for e in run.kinds("analysis") if e.data["outcome"] == "pass"]
    assert passes
    assert max(e.data["green"]["p99_ms"] or 0 for e in passes) >= 300


def _stack_alarms(world: World, *, on: bool) -> None:
    ecs = world.sb.client_factory().client("ecs")
    svc = ecs.describe_services(cluster=world.prov.cluster, services=[world.prov.service])
    config = svc["services"][0]["deploymentConfiguration"]
    config["alarms"] = {**config.get("alarms", {}), "enable": on, "rollback": on}
    ecs.update_service(
        cluster=world.prov.cluster, service=world.prov.service, deploymentConfiguration=config
    )


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_a_rollback_by_the_stack_s_alarm_names_the_alarm_not_the_breaker(world: World) -> None:
    """ECS's own deployment alarm fails the canary before rollout's analysis judges (it allows
    60 % 5xx here): the verdict names the alarm. ECS's rollback text ("circuit breaker: rolling
    back to ...") reads the same whatever failed the deployment and must not be quoted as the
    cause (it was, before)."""
    _stack_alarms(world, on=True)
    try:
        world.break_next("serve_5xx", share=0.5)
        run = world.deploy(
            "sha-0000003",
            settings=settings(
                world, "canary", thresholds=Thresholds(min_requests=50, max_error_rate=0.6)
            ),
        )
    finally:
        _stack_alarms(world, on=False)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    assert "voj-prod-target-5xx" in run.outcome.reason, run.outcome.reason
    assert "circuit breaker" not in run.outcome.reason
    assert not [e for e in run.kinds("analysis") if e.data["outcome"] == "fail"]


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_stages_and_windows_reach_every_renderer(world: World) -> None:
    """JSON result, GitHub summary (stages on the mermaid timeline), plain lines and the console
    panel all carry the lifecycle stages and the analysis."""
    world.break_next("serve_5xx", share=0.3)
    run = world.deploy("sha-0000003", settings=settings(world, "canary"))
    doc = build_result(run.events)
    walked = [x["stage"] for x in doc["stages"]]
    assert "PRODUCTION_TRAFFIC_SHIFT" in walked
    assert doc["analysis"][-1]["outcome"] == "fail"
    assert doc["traffic_back_seconds"] is not None
    summary = step_summary(doc)
    assert "section stages" in summary
    assert "production traffic shift" in summary
    assert "| Analysis window |" in summary
    origin = run.events[0].at
    lines = [format_line(e, origin) for e in run.events if e.kind in ("stage", "analysis")]
    assert any("stage production traffic shift" in line for line in lines)
    assert any("analysis window" in line and "fail" in line for line in lines)
    console = ConsoleRenderer(io.StringIO(), live=False)
    for event in run.events:
        console(event)
    panel = io.StringIO()
    Console(file=panel, width=120).print(console.panel())
    assert "stage " in panel.getvalue()
    assert "analysis window" in panel.getvalue()


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_verify_checks_what_a_traffic_shifting_service_needs(world: World) -> None:
    ctx, _ = world.context()
    cfg = load_config(CONFIG, "prod", environ={"ROLLOUT_STRATEGY": "canary"})
    rendered = render_task_definition(cfg, world.prov.images["sha-0000002"], ctx)
    report = run_checks(cfg, rendered, ctx)
    strategy = {c.name: c for c in report.checks if c.name.startswith("strategy:")}
    assert set(strategy) == {
        "strategy: deployment controller",
        "strategy: alternate target group",
        "strategy: production listener rule",
        "strategy: test listener rule",
        "strategy: ECS infrastructure role",
    }
    failed = {n: c.message for n, c in strategy.items() if c.status != "pass"}
    assert failed == {}


@pytest.mark.parametrize("shifting", ["canary"], indirect=True)
def test_verify_checks_the_smoke_probes_headers_against_the_test_rule(world: World) -> None:
    """With test_url, verify reads the test rule's http-header conditions: rollout.toml's
    test_headers pass; without them it fails and says what to add."""
    ctx, _ = world.context()
    name = "strategy: smoke probe reaches the test rule"
    base = {"ROLLOUT_STRATEGY": "canary", "ROLLOUT_TEST_URL": "http://voj.invalid/health"}
    for environ, status in ((base, "pass"), ({**base, "ROLLOUT_TEST_HEADERS": ""}, "fail")):
        cfg = load_config(CONFIG, "prod", environ=environ)
        rendered = render_task_definition(cfg, world.prov.images["sha-0000002"], ctx)
        report = run_checks(cfg, rendered, ctx)
        check = next(c for c in report.checks if c.name == name)
        assert check.status == status, check
    assert "X-Rollout-Test matching '1'" in check.message
    assert 'test_headers = { "X-Rollout-Test" = "1" }' in check.fix
    assert report.exit_code == 10


@pytest.mark.parametrize("shifting", ["rolling"], indirect=True)
def test_verify_fails_a_rolling_only_service_for_canary(world: World) -> None:
    ctx, _ = world.context()
    cfg = load_config(CONFIG, "prod", environ={"ROLLOUT_STRATEGY": "canary"})
    rendered = render_task_definition(cfg, world.prov.images["sha-0000002"], ctx)
    report = run_checks(cfg, rendered, ctx)
    failed = {c.name for c in report.checks if c.status == "fail"}
    assert "strategy: alternate target group" in failed
    assert report.exit_code == 10


@pytest.mark.parametrize("shifting", ["rolling"], indirect=True)
def test_deploying_canary_on_a_rolling_only_service_writes_nothing(world: World) -> None:
    run = world.deploy("sha-0000002", settings=settings(world, "canary"))
    assert run.outcome.verdict == "PREFLIGHT_FAILED"
    assert "advancedConfiguration" in run.outcome.reason
    assert world.writes(run.calls_before) == [] or all(
        "ssm" in w.lower() for w in world.writes(run.calls_before)
    )


@pytest.mark.parametrize("shifting", ["blue-green"], indirect=True)
def test_the_smoke_probe_hits_the_test_listener_before_any_production_traffic(
    world: World,
) -> None:
    """With test_url, rollout adds a PAUSE hook at POST_TEST_TRAFFIC_SHIFT, probes green through
    the test listener while the hook holds it, and continues only then."""
    probed: list[tuple[str, dict[str, int]]] = []

    def probe(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
        probed.append((url, prod_weights(world)))
        return ProbeResult("pass", 200, f"GET {url} -> 200")

    test_url = "http://test.voj.invalid:8080/health"
    run = world.deploy(
        "sha-0000002", settings=settings(world, "blue-green", test_url=test_url), prober=probe
    )
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    assert [url for url, _ in probed] == [test_url]
    # green had no production weight when it was probed
    _, weights = probed[0]
    assert sorted(weights.values())[0] == 0
    smoke = run.kinds("smoke")[0]
    assert smoke.data["before_production"] is True
    continued = [
        e for e in run.kinds("write") if e.data["operation"] == "ContinueServiceDeployment"
    ]
    assert len(continued) == 1


@pytest.mark.parametrize("shifting", ["blue-green"], indirect=True)
def test_a_failing_smoke_probe_rolls_back_before_production_traffic(world: World) -> None:
    def probe(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
        return ProbeResult("fail", 500, f"GET {url} -> 500")

    before = world.current_revision()
    run = world.deploy(
        "sha-0000002",
        settings=settings(world, "blue-green", test_url="http://test.voj.invalid/health"),
        prober=probe,
    )
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    assert "smoke probe through the test listener failed" in run.outcome.reason
    assert not [e for e in run.kinds("stage") if e.data["stage"] == "BAKE_TIME"]
    assert world.current_revision() == before


def _routed(world: World, url: str, headers: Mapping[str, str] | None) -> dict[str, int]:
    """Where the sandbox's ALB listener would send this GET now (the first matching rule's
    forward action, as the real listener evaluates it): {target group ARN: weight}."""
    from urllib.parse import urlsplit

    from moto.backends import get_backend

    from rollout.sandbox.dataplane import routing

    elbv2 = get_backend("elbv2")[world.prov.account][world.prov.region]
    parts = urlsplit(url)
    view = routing.RequestView(headers=tuple((headers or {}).items()))
    for lb in elbv2.load_balancers.values():
        for listener in lb.listeners.values():
            action = routing.select_action(listener, parts.hostname or "", parts.path, view)
            if isinstance(action, routing.Forward):
                return dict(action.groups)
    return {}


@pytest.mark.parametrize("shifting", ["blue-green"], indirect=True)
def test_the_smoke_probe_sends_test_headers_and_reaches_green_through_the_test_rule(
    world: World,
) -> None:
    """rollout.toml's test_headers (``X-Rollout-Test: 1``) go with the probe; on the sandbox's
    listener that request matches the stack's test rule, which forwards to green only."""
    reached: list[dict[str, int]] = []
    sent: list[Mapping[str, str] | None] = []

    def probe(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
        sent.append(headers)
        reached.append(_routed(world, url, headers))
        reached.append(_routed(world, url, {}))  # the same GET without the header
        return ProbeResult("pass", 200, f"GET {url} -> 200")

    st = settings(world, "blue-green", test_url="http://voj.invalid/health")
    assert dict(st.test_headers) == {"X-Rollout-Test": "1"}  # from rollout.toml
    run = world.deploy("sha-0000002", settings=st, prober=probe)
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    assert sent == [{"X-Rollout-Test": "1"}]
    plan = run.kinds("analysis.plan")[0].data
    green, blue = plan["green"], plan["blue"]
    assert reached[0][green] > 0
    assert reached[0][blue] == 0
    assert run.kinds("smoke")[0].data["headers"] == ["X-Rollout-Test"]
    # without the header, the same GET falls through to the production rule: blue
    assert reached[1][green] == 0
    assert reached[1][blue] > 0


@pytest.mark.parametrize("shifting", ["blue-green"], indirect=True)
def test_a_probe_missing_the_test_rules_header_is_refused_before_any_write(
    world: World,
) -> None:
    """Without the header the probe would reach blue and pass without testing green: the deploy
    is refused before anything is written, production traffic never moves, and the message says
    what to add."""
    probed: list[str] = []

    def probe(url: str, headers: Mapping[str, str] | None = None) -> ProbeResult:
        probed.append(url)
        return ProbeResult("pass", 200, f"GET {url} -> 200")

    before, weights = world.current_revision(), prod_weights(world)
    st = settings(world, "blue-green", test_url="http://voj.invalid/health", test_headers={})
    run = world.deploy("sha-0000002", settings=st, prober=probe)
    assert run.outcome.verdict == "PREFLIGHT_FAILED", run.outcome
    assert "X-Rollout-Test matching '1'" in run.outcome.reason
    assert 'test_headers = { "X-Rollout-Test" = "1" }' in run.outcome.reason
    assert probed == []
    assert not [w for w in world.writes(run.calls_before) if w.startswith(("ecs.", "elbv2."))]
    assert world.current_revision() == before
    assert prod_weights(world) == weights


@pytest.mark.parametrize(
    ("shifting", "strategy"), [(x, x) for x in ("blue-green", "canary")], indirect=["shifting"]
)
def test_a_release_crashing_after_turning_healthy_goes_back_to_blue_within_one_poll(
    world: World, strategy: str
) -> None:
    """Issue 10: a release that crashes 30 s after turning healthy. The first poll that sees a
    green task stopped (essential container exited) sends StopServiceDeployment(ROLLBACK); the
    verdict names the task, why and the stage; blue has all its tasks healthy throughout, and
    green carries production without a healthy target at most one poll (+ jitter)."""
    before = world.current_revision()
    world.break_next("crash", after=30.0, count=100)
    blue_at_decision: list[list[str]] = []

    def at_decision(event: Any) -> None:
        if event.kind == "rollback.started":
            blue = next(e for e in run_events if e.kind == "analysis.plan").data["blue"]
            health = (
                world.sb.client_factory()
                .client("elbv2")
                .describe_target_health(TargetGroupArn=blue)["TargetHealthDescriptions"]
            )
            blue_at_decision.append([t["TargetHealth"]["State"] for t in health])

    run_events: list[Any] = []
    st = settings(world, strategy)
    run = world.deploy(
        "sha-0000003",
        settings=st,
        sink=lambda e: (run_events.append(e), at_decision(e)),
    )
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    reason = run.outcome.reason
    for part in ("green task ", "stopped during", "essential-container-exited", "exit code"):
        assert part in reason, reason
    stage = "bake time" if strategy == "blue-green" else "production traffic shift"
    assert stage in reason, reason
    signal = [e for e in run.kinds("signal") if e.data.get("definitive")][-1]
    assert signal.data["signal"] == "task"
    # the rollback call went out at the first poll after the crash
    ecs = world.sb.client_factory().client("ecs")
    green_id = reason.split("green task ", 1)[1].split()[0]
    task = ecs.describe_tasks(cluster=world.prov.cluster, tasks=[green_id])["tasks"][0]
    crashed = task["stoppingAt"].timestamp()  # its container exited: ECS began stopping it
    decided = run.kinds("rollback.started")[0].at
    one_poll = st.poll_interval * (1 + st.jitter)
    assert 0 <= decided - crashed <= one_poll + 0.5, (crashed, decided)
    stops = [
        e
        for e in run.kinds("write")
        if e.data["operation"] == "StopServiceDeployment" and e.at - crashed <= one_poll + 0.5
    ]
    assert len(stops) == 1
    # blue kept every task healthy throughout, and took production back within a second
    assert blue_at_decision, "no rollback.started event"
    assert blue_at_decision[0], "blue had no registered target at the decision"
    assert set(blue_at_decision[0]) == {"healthy"}, blue_at_decision
    assert run.kinds("traffic.restored")[0].data["seconds"] <= 1.0
    blind = world.sb.synthetic.blind_moments
    assert blind
    assert max(blind) - min(blind) <= one_poll + 1.0, (min(blind), max(blind))
    assert world.current_revision() == before
    weights = prod_weights(world)
    assert sorted(weights.values())[0] == 0


@pytest.mark.parametrize("shifting", ["blue-green"], indirect=True)
def test_a_green_target_deregistered_by_hand_fails_the_deployment_at_the_next_poll(
    world: World,
) -> None:
    """An operator runs ``elbv2 deregister-targets`` on a green target during the bake: the
    sandbox drains it as AWS does (ecs-behaviour.md §6.2, §6.3), and rollout's next poll fails
    the deployment naming the draining target (decisions/green.py), then rolls back to blue."""
    before = world.current_revision()
    elbv2 = world.sb.client_factory().client("elbv2")
    green: list[str] = []
    pulled: list[tuple[float, str]] = []

    def operator(event: Any) -> None:
        if event.kind == "analysis.plan":
            green.append(event.data["green"])
        if event.kind == "stage" and event.data.get("stage") == "BAKE_TIME" and not pulled:
            health = elbv2.describe_target_health(TargetGroupArn=green[0])
            target = health["TargetHealthDescriptions"][0]["Target"]
            elbv2.deregister_targets(TargetGroupArn=green[0], Targets=[target])
            pulled.append((world.sb.clock.now(), target["Id"]))

    st = settings(world, "blue-green")
    run = world.deploy("sha-0000002", settings=st, sink=operator)
    assert pulled, "the deployment never reached its bake"
    at, ip = pulled[0]
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    reason = run.outcome.reason
    assert f"green target {ip} is draining during bake time" in reason, reason
    assert "Target.DeregistrationInProgress" in reason, reason
    decided = run.kinds("rollback.started")[0].at
    assert 0 <= decided - at <= st.poll_interval * (1 + st.jitter) + 0.5, (at, decided)
    assert world.current_revision() == before


def _watch(world: World, settings: EngineSettings) -> Run:
    """``rollout watch`` (the engine's watch request) with ``settings``."""
    from rollout.engine.deploy import DeployRequest, DeployRun, Prepared

    ctx, log = world.context()
    session = world.session(ctx, settings)
    request = DeployRequest(
        image="",
        prepare=lambda: Prepared(document={}, tags={}, image=""),
        verb="watch",
    )
    return world._timed(lambda: DeployRun(session, request).run(), log)


def _interrupted_at_first_production_shift(world: World, tag: str, st: EngineSettings) -> Run:
    from rollout.engine.interrupt import Interrupt

    interrupt = Interrupt()

    def stop_there(event: Any) -> None:
        if event.kind == "stage" and event.data.get("stage") == "PRODUCTION_TRAFFIC_SHIFT":
            interrupt.set()

    run = world.deploy(tag, settings=st, interrupt=interrupt, sink=stop_there)
    assert run.outcome.verdict == "INTERRUPTED", run.outcome
    return run


@pytest.mark.parametrize("shifting", ["linear"], indirect=True)
def test_watch_resumes_the_stage_watch_and_the_analysis_of_a_shift_in_flight(
    world: World,
) -> None:
    """`rollout watch` on a LINEAR deployment interrupted at its first production shift (50 %:
    green and blue carry equal weights) finds green from the test rule, reports the stages it
    has not seen, and runs the analysis: a release serving 5xx is failed by it and rolled back
    to blue, a good one succeeds after its analysis windows."""
    st = settings(world, "linear")
    before = world.current_revision()
    world.break_next("serve_5xx", share=0.2)
    _interrupted_at_first_production_shift(world, "sha-0000003", st)
    run = _watch(world, st)
    assert run.outcome.verdict == "FAILED_ROLLED_BACK", run.outcome
    assert run.kinds("analysis.plan")
    failed = [e for e in run.kinds("analysis") if e.data["outcome"] == "fail"]
    assert failed
    assert failed[-1].data["metric"] == "5xx rate"
    assert run.kinds("traffic.restored")
    world.sb.advance_until(lambda: True if world.steady() else None, timeout=1800, step=5)
    assert world.current_revision() == before

    world.reset()
    world.sb.start_synthetic_traffic(rate=10.0, test_rate=1.0)
    _interrupted_at_first_production_shift(world, "sha-0000002", st)
    run = _watch(world, st)
    assert run.outcome.verdict == "SUCCEEDED", run.outcome
    assert "BAKE_TIME" in stages(run)
    assert run.kinds("analysis")
    assert all(e.data["outcome"] != "fail" for e in run.kinds("analysis"))
