"""The walls of docs/architecture.md, checked by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
BACKEND = ROOT / "backend"


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _modules(base: Path, top: str) -> dict[str, set[str]]:
    return {
        _module_name(p, base): _imports(p, _module_name(p, base))
        for p in sorted((base / top).rglob("*.py"))
    }


ROLLOUT = _modules(SRC, "rollout")
APP = _modules(BACKEND, "app")


def _violations(prefixes: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for module, imports in ROLLOUT.items():
        if not module.startswith(prefixes):
            continue
        for name in sorted(imports):
            if name.startswith(forbidden):
                out.append(f"{module} imports {name}")
    return out


def test_the_tree_was_read() -> None:
    """The wall checks below see the real package (a broken path would make them vacuous)."""
    assert "rollout.engine.deploy" in ROLLOUT
    assert "rollout.decisions.verdict" in ROLLOUT
    assert "app.main" in APP


def test_decisions_are_pure() -> None:
    """Decisions import no gateway, engine, report, CLI, sandbox, boto3 or clock module."""
    forbidden = (
        "rollout.gateways",
        "rollout.engine",
        "rollout.report",
        "rollout.cli",
        "rollout.verbs",
        "rollout.sandbox",
        "rollout.aws",
        "rollout.clock",
        "boto3",
        "botocore",
        "time",
    )
    assert _violations(("rollout.decisions",), forbidden) == []


@pytest.mark.parametrize("room", ["rollout.engine", "rollout.decisions", "rollout.gateways"])
def test_production_code_never_imports_the_sandbox(room: str) -> None:
    """Engine, decisions and gateways cannot depend on the test bed."""
    assert _violations((room,), ("rollout.sandbox", "moto")) == []


def test_only_sandbox_and_demo_verbs_start_a_sandbox() -> None:
    """Verbs other than sandbox and demo never import the sandbox."""
    allowed = ("rollout.verbs.demo", "rollout.cli.sandbox", "rollout.cli.demo")
    prefixes = ("rollout.verbs", "rollout.cli", "rollout.report", "rollout.config")
    bad = [v for v in _violations(prefixes, ("rollout.sandbox",)) if not v.startswith(allowed)]
    assert bad == []


def test_sandbox_never_imports_the_tool_under_test() -> None:
    """The sandbox is an AWS server: it knows nothing of the engine, verbs or decisions."""
    forbidden = ("rollout.engine", "rollout.verbs", "rollout.decisions", "rollout.report")
    assert _violations(("rollout.sandbox",), forbidden) == []


def test_only_aws_module_creates_boto3_clients() -> None:
    """Exactly one module (rollout.aws) imports boto3 to build clients; gateways use it."""
    importers = sorted(
        m
        for m, imports in ROLLOUT.items()
        if any(i == "boto3" or i.startswith("boto3.") for i in imports)
    )
    assert importers == ["rollout.aws"]


def test_backend_and_rollout_are_strangers() -> None:
    """The service never imports rollout, and rollout never imports the service."""
    assert [m for m, imps in APP.items() if any(i.startswith("rollout") for i in imps)] == []
    assert [m for m, imps in ROLLOUT.items() if any(i.split(".")[0] == "app" for i in imps)] == []


# ------------------------------------------------------------------ the sandbox, by plane
#
# docs/architecture.md, "The sandbox, by plane". Every sandbox module lives in exactly one plane;
# a module imports its own plane, the shared small modules, and only the other planes its row in
# SANDBOX_MAY_USE names. The front door (the Sandbox object, the HTTP server, the in-process
# endpoint, the recorder, world.py, the assembly, and harness.py, the tests' small assembly) is
# the one place that knows every plane.

SANDBOX = "rollout.sandbox"
SANDBOX_PLANES: dict[str, tuple[str, ...]] = {
    "front door": (
        SANDBOX,  # __init__.py: the Sandbox object
        f"{SANDBOX}.server",
        f"{SANDBOX}.inprocess",
        f"{SANDBOX}.recorder",
        f"{SANDBOX}.world",
        f"{SANDBOX}.harness",  # a small assembly (one simulation, a moto stack) for tests
    ),
    "shared": (f"{SANDBOX}.clock", f"{SANDBOX}.errors", f"{SANDBOX}.faults", f"{SANDBOX}.wire"),
    "control": (f"{SANDBOX}.ecs",),
    "data": (f"{SANDBOX}.dataplane",),
    "runtime": (f"{SANDBOX}.runtime",),
    "observability": (f"{SANDBOX}.observability",),
    "provisioning": (f"{SANDBOX}.provisioning",),
    "overlays": (f"{SANDBOX}.overlays",),
    "measurement": (f"{SANDBOX}.measure",),
}
# Besides its own plane and "shared". One way each: the control plane registers targets with the
# data plane (as ECS registers tasks with ELB) and hands tasks to a runtime through the runtime
# protocol only; the data plane and runtimes publish what they see to observability, which
# only reads what it is given and imports no other plane.
SANDBOX_MAY_USE: dict[str, tuple[str, ...]] = {
    "front door": tuple(SANDBOX_PLANES),
    "shared": (),
    "control": ("data", "runtime"),
    "data": ("observability",),
    "runtime": ("observability",),
    "observability": (),
    "provisioning": (),
    "overlays": (),
    # typing only (the Sandbox, RecordedCall): test_measurement_imports_nothing_that_writes
    "measurement": ("front door",),
}
# The one runtime module the control plane may import: the protocol (TaskSpec, Runtime,
# TaskEvents...), never an implementation (simulated, process).
RUNTIME_PROTOCOL = f"{SANDBOX}.runtime"
SANDBOX_MODULES = sorted(m for m in ROLLOUT if m == SANDBOX or m.startswith(f"{SANDBOX}."))


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or (p != SANDBOX and module.startswith(f"{p}.")) for p in prefixes)


def _plane(module: str) -> str | None:
    found = [name for name, prefixes in SANDBOX_PLANES.items() if _in(module, prefixes)]
    return found[0] if len(found) == 1 else None


def _resolve(name: str) -> str | None:
    """The module an imported name lives in (``pkg.mod.Class`` -> ``pkg.mod``), if it is ours."""
    while name:
        if name in ROLLOUT:
            return name
        name = name.rpartition(".")[0]
    return None


def _sandbox_edges(module: str) -> set[str]:
    """Sandbox modules ``module`` imports. Its own ancestor packages below ``rollout.sandbox``
    are left out (Python imports a package before its modules, so a child naming its parent adds
    no dependency); ``rollout.sandbox`` itself stays: it is the front door."""
    out = set()
    for name in ROLLOUT[module]:
        target = _resolve(name)
        if target is None or target == module:
            continue
        if target != SANDBOX and not target.startswith(f"{SANDBOX}."):
            continue
        if target != SANDBOX and module.startswith(f"{target}."):
            continue
        out.add(target)
    return out


def test_the_sandbox_tree_was_read() -> None:
    """The plane checks below see the real sandbox (a wrong prefix would make them vacuous)."""
    for module in (
        "rollout.sandbox.ecs.api",
        "rollout.sandbox.ecs.ports",
        "rollout.sandbox.dataplane.listener",
        "rollout.sandbox.dataplane.target_health",
        "rollout.sandbox.observability.metrics",
        "rollout.sandbox.provisioning.stack",
        "rollout.sandbox.overlays.route53",
        "rollout.sandbox.wire",
        "rollout.sandbox.measure",
    ):
        assert module in SANDBOX_MODULES
    assert "rollout.sandbox.ecs.api" in _sandbox_edges("rollout.sandbox.ecs.simulation")
    assert "rollout.sandbox.world" in _sandbox_edges("rollout.sandbox")


def test_every_sandbox_module_lives_in_one_plane() -> None:
    """A new sandbox module goes into a plane (docs/architecture.md), not beside them."""
    assert [m for m in SANDBOX_MODULES if _plane(m) is None] == []


def test_sandbox_planes_import_only_what_their_row_allows() -> None:
    """Each plane imports itself, the shared small modules and the planes it may use; only the
    front door (``__init__``, server, inprocess, recorder, world) wires them all together."""
    bad = []
    for module in SANDBOX_MODULES:
        plane = _plane(module)
        if plane is None or plane == "front door":
            continue
        allowed = {plane, "shared", *SANDBOX_MAY_USE[plane]}
        for target in sorted(_sandbox_edges(module)):
            if _plane(target) not in allowed:
                bad.append(f"{module} ({plane}) imports {target} ({_plane(target)})")
    assert bad == []


@pytest.mark.parametrize("plane", ["data", "observability", "runtime", "provisioning", "overlays"])
def test_only_the_front_door_reaches_the_ecs_model(plane: str) -> None:
    """Target health, metrics, runtimes and provisioning never import ``sandbox.ecs``: the ECS
    model tells them what it decides (registrations, task specs), they never read its state."""
    prefixes = SANDBOX_PLANES[plane]
    bad = [
        f"{m} imports {t}"
        for m in SANDBOX_MODULES
        if _in(m, prefixes)
        for t in sorted(_sandbox_edges(m))
        if _in(t, SANDBOX_PLANES["control"])
    ]
    assert bad == []


def test_control_plane_never_imports_a_runtime_implementation() -> None:
    """The ECS model knows the runtime protocol only, never whether a task is a process; and the
    protocol module drags no implementation in."""
    bad = [
        f"{m} imports {t}"
        for m in SANDBOX_MODULES
        if _in(m, SANDBOX_PLANES["control"])
        for t in sorted(_sandbox_edges(m))
        if _in(t, SANDBOX_PLANES["runtime"]) and t != RUNTIME_PROTOCOL
    ]
    if RUNTIME_PROTOCOL in ROLLOUT:
        bad += [
            f"{RUNTIME_PROTOCOL} imports {t}"
            for t in sorted(_sandbox_edges(RUNTIME_PROTOCOL))
            if _in(t, SANDBOX_PLANES["runtime"])
        ]
    assert bad == []


def test_ecs_api_does_not_import_the_simulation() -> None:
    """The API handlers see the simulation through ``ecs.ports.SimulationPort`` only."""
    assert "rollout.sandbox.ecs.simulation" not in _sandbox_edges("rollout.sandbox.ecs.api")


def _runtime_imports(path: Path) -> set[str]:
    """Absolute imports of a module, without what its ``if TYPE_CHECKING:`` blocks import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_measurement_imports_nothing_that_writes() -> None:
    """``sandbox.measure`` reads timelines and traffic results: at run time it imports no AWS
    client, no HTTP or process library and no sandbox plane (the Sandbox type is typing only)."""
    path = SRC / "rollout" / "sandbox" / "measure.py"
    imports = _runtime_imports(path)
    ours = sorted(i for i in imports if i.split(".")[0] == "rollout")
    allowed_rollout = ("rollout.errors", "rollout.sandbox.clock", "rollout.sandbox.wire")
    assert [i for i in ours if not i.startswith(allowed_rollout)] == []
    writers = (
        "boto3",
        "botocore",
        "moto",
        "httpx",
        "aiohttp",
        "requests",
        "urllib",
        "http",
        "socket",
        "subprocess",
    )
    assert [i for i in imports if i.split(".")[0] in writers] == []


def test_no_import_cycles_inside_the_sandbox() -> None:
    """The sandbox's import graph (typing-only and function-level imports included) has no
    cycle: each arrow between modules points one way."""
    graph = {m: _sandbox_edges(m) for m in SANDBOX_MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in SANDBOX_MODULES:
        if module not in state:
            visit(module)
    assert cycles == []
