"""rollout.toml loading: merging, overrides and the error messages for bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rollout.config import LEAF_ALIASES, EnvConfig, environments, load_config
from rollout.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
[env.prod]
region = "ap-northeast-2"
cluster = "c"
service = "s"
containers = ["api"]
template = "td.json"
ecr_repository = "r"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollout.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_config_has_seed_values_for_prod() -> None:
    """The committed rollout.toml gives prod the seed's region, cluster, service and template."""
    cfg = load_config(REPO / "rollout.toml", "prod", environ={})
    assert (cfg.region, cfg.cluster, cfg.service) == (
        "ap-northeast-2",
        "voj-prod",
        "voj-backend-api",
    )
    assert cfg.containers == ("api",)
    assert cfg.ecr_repository == "voj-backend"
    assert cfg.template == REPO / ".github" / "ecs" / "taskdef.json"
    assert cfg.template.exists()
    assert cfg.traffic is not None
    assert (cfg.traffic.new_set_identifier, cfg.traffic.legacy_set_identifier) == ("ecs", "legacy")


def test_repository_config_has_staging_example() -> None:
    """The committed rollout.toml defines a staging environment that inherits the defaults."""
    assert set(environments(REPO / "rollout.toml")) >= {"prod", "staging"}
    cfg = load_config(REPO / "rollout.toml", "staging", environ={})
    assert cfg.cluster == "voj-staging"
    assert cfg.region == "ap-northeast-2"
    assert cfg.detection.circuit_breaker == "warn"


def test_defaults_fill_unset_sections(tmp_path: Path) -> None:
    """A minimal environment gets the documented defaults for every section."""
    cfg = load_config(write(tmp_path, MINIMAL), "prod", environ={})
    assert cfg.timeouts.deploy == 1800
    assert cfg.watch.poll_interval == 5.0
    assert cfg.detection.consecutive_failures == 2
    assert cfg.detection.circuit_breaker == "require"
    assert cfg.retention.keep == 10
    assert cfg.lock.parameter_prefix == "/rollout/lock"
    assert cfg.traffic is None
    assert cfg.smoke_url is None


def test_defaults_table_merges_deeply_under_env(tmp_path: Path) -> None:
    """[defaults] sections merge key by key under the environment's own sections."""
    text = MINIMAL + "[env.prod.watch]\njitter = 0.5\n[defaults.watch]\npoll_interval = 2.0\n"
    cfg = load_config(write(tmp_path, text), "prod", environ={})
    assert (cfg.watch.poll_interval, cfg.watch.jitter) == (2.0, 0.5)


def test_template_is_relative_to_config_file(tmp_path: Path) -> None:
    """`template` is resolved against the config file's directory, not the working directory."""
    sub = tmp_path / "deploy"
    sub.mkdir()
    cfg = load_config(write(sub, MINIMAL), "prod", environ={})
    assert cfg.template == sub / "td.json"


@pytest.mark.parametrize(
    ("environ", "check"),
    [
        ({"ROLLOUT_CLUSTER": "other"}, lambda c: c.cluster == "other"),
        ({"ROLLOUT_REGION": "us-east-1"}, lambda c: c.region == "us-east-1"),
        ({"ROLLOUT_POLL_INTERVAL": "1.5"}, lambda c: c.watch.poll_interval == 1.5),
        ({"ROLLOUT_WATCH__POLL_INTERVAL": "3"}, lambda c: c.watch.poll_interval == 3.0),
        ({"ROLLOUT_CIRCUIT_BREAKER": "off"}, lambda c: c.detection.circuit_breaker == "off"),
        ({"ROLLOUT_CONTAINERS": "api, worker"}, lambda c: c.containers == ("api", "worker")),
        ({"ROLLOUT_BAKE__ALARMS": "a,b"}, lambda c: c.bake.alarms == ("a", "b")),
        ({"ROLLOUT_PRUNE_AFTER_DEPLOY": "true"}, lambda c: c.retention.prune_after_deploy),
        ({"ROLLOUT_SMOKE_URL": ""}, lambda c: c.smoke_url is None),
        ({"ROLLOUT_RETRY_MODE": "adaptive"}, lambda c: c.cluster == "c"),  # not a config key
    ],
)
def test_environment_variables_override_file(
    tmp_path: Path, environ: dict[str, str], check: Any
) -> None:
    """ROLLOUT_<KEY>, ROLLOUT_<SECTION>__<KEY> and unique-key shorthands override the file."""
    text = MINIMAL + 'smoke_url = "https://x/health"\n'
    cfg = load_config(write(tmp_path, text), "prod", environ=environ)
    assert check(cfg)


def test_flags_override_environment_variables(tmp_path: Path) -> None:
    """Overrides (flags) win over environment variables; None values are ignored."""
    cfg = load_config(
        write(tmp_path, MINIMAL),
        "prod",
        environ={"ROLLOUT_CLUSTER": "from-env", "ROLLOUT_SERVICE": "svc-env"},
        overrides={"cluster": "from-flag", "service": None, "watch.poll_interval": 9},
    )
    assert (cfg.cluster, cfg.service, cfg.watch.poll_interval) == ("from-flag", "svc-env", 9.0)


@pytest.mark.parametrize("value", ["", "off", "None"])
def test_optional_section_switched_off_by_variable(tmp_path: Path, value: str) -> None:
    """ROLLOUT_TRAFFIC= (empty, off or none) removes the traffic section the file sets."""
    text = MINIMAL + "[env.prod.traffic]\nrecord_name = 'a'\nnew_set_identifier = 'n'\n"
    text += "legacy_set_identifier = 'l'\n"
    path = write(tmp_path, text)
    assert load_config(path, "prod", environ={}).traffic is not None
    assert load_config(path, "prod", environ={"ROLLOUT_TRAFFIC": value}).traffic is None
    assert load_config(path, "prod", environ={}, overrides={"traffic": False}).traffic is None


def test_config_is_frozen(tmp_path: Path) -> None:
    """EnvConfig cannot be changed after loading."""
    cfg = load_config(write(tmp_path, MINIMAL), "prod", environ={})
    with pytest.raises(ValueError, match="frozen"):
        cfg.cluster = "x"  # type: ignore[misc]
    assert isinstance(cfg, EnvConfig)


def test_leaf_aliases_are_unambiguous() -> None:
    """Shorthand variables exist only for section keys no other section uses."""
    assert LEAF_ALIASES["poll_interval"] == "watch.poll_interval"
    assert "seconds" in LEAF_ALIASES  # bake only
    assert "deploy" in LEAF_ALIASES  # timeouts only


DEFAULTS_ONLY = (
    MINIMAL.replace("[env.prod]", "[defaults]") + "[env.prod]\n[env.qa]\ncluster = 'q'\n"
)
TRAFFIC = """
[env.prod.traffic]
hosted_zone_id = "Z123"
record_name = "api.example.com"
new_set_identifier = "ecs"
legacy_set_identifier = "legacy"
"""


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (MINIMAL, "prod", {"cluster": "c", "containers": ("api",)}),
        (DEFAULTS_ONLY, "prod", {"cluster": "c", "service": "s"}),
        (DEFAULTS_ONLY, "qa", {"cluster": "q", "service": "s"}),
        (
            MINIMAL + "smoke_url = 'http://x'\n",
            "prod",
            {"smoke_url": "http://x"},
        ),
        (MINIMAL + TRAFFIC, "prod", {"traffic.hosted_zone_id": "Z123", "traffic.record_type": "A"}),
        (MINIMAL + "[env.prod.vars]\nTIER = 'gold'\n", "prod", {"vars": {"TIER": "gold"}}),
        (
            MINIMAL + "[env.prod.bake]\nseconds = 30\nalarms = ['a']\n",
            "prod",
            {"bake.alarms": ("a",)},
        ),
        (
            MINIMAL + "[env.prod.lock]\nparameter_prefix = '/locks/'\n",
            "prod",
            {"lock.parameter_prefix": "/locks"},
        ),
        (
            MINIMAL + "[env.prod.timeouts]\ndeploy = 60\n",
            "prod",
            {"timeouts.deploy": 60.0, "timeouts.healthy": 900.0},
        ),
    ],
)
def test_valid_files(tmp_path: Path, text: str, env: str, expected: dict[str, Any]) -> None:
    """Valid files load, with the given values and the defaults for everything else."""
    cfg = load_config(write(tmp_path, text), env, environ={})
    for dotted, value in expected.items():
        node: Any = cfg
        for part in dotted.split("."):
            node = getattr(node, part)
        assert node == value


@pytest.mark.parametrize(
    ("text", "env", "environ", "expected"),
    [
        (MINIMAL + "clustr = 'x'\n", "prod", {}, r"\[env.prod\]:\n  unknown key 'clustr'"),
        (
            MINIMAL + "[env.prod.watch]\npoll_intervall = 1\n",
            "prod",
            {},
            r"unknown key 'watch.poll_intervall' \[from .*rollout.toml \[env.prod\]\]",
        ),
        (
            MINIMAL + "[env.prod.watch]\npoll_interval = 'fast'\n",
            "prod",
            {},
            r"key 'watch.poll_interval': Input should be a valid number.*\(got 'fast'\)",
        ),
        (
            MINIMAL.replace('cluster = "c"\n', ""),
            "prod",
            {},
            r"missing required key 'cluster'",
        ),
        (MINIMAL, "prod", {"ROLLOUT_JITTER": "2"}, r"key 'watch.jitter'.*ROLLOUT_JITTER"),
        (MINIMAL, "prod", {"ROLLOUT_WATCH__SPEED": "2"}, r"ROLLOUT_WATCH__SPEED names no config"),
        (MINIMAL, "prod", {"ROLLOUT_TRAFFIC": "yes"}, r"ROLLOUT_TRAFFIC='yes': a section can only"),
        (
            MINIMAL + "[env.prod.detection]\ncircuit_breaker = 'maybe'\n",
            "prod",
            {},
            r"key 'detection.circuit_breaker': Input should be 'require', 'warn' or 'off'",
        ),
        (
            MINIMAL + "[env.prod.traffic]\nrecord_name = 'api.example.com'\n",
            "prod",
            {},
            r"missing required key 'traffic.new_set_identifier'",
        ),
        (MINIMAL + "smoke_url = 'ftp://x'\n", "prod", {}, r"key 'smoke_url'.*http"),
        (
            MINIMAL,
            "prod",
            {"ROLLOUT_REGION": "ap-northeast2"},
            r"key 'region': String should match",
        ),
        (MINIMAL + "containers = []\n", "prod", {}, r"duplicate|Cannot overwrite"),
        (MINIMAL, "qa", {}, r"environment 'qa' is not defined \(defined: prod\)"),
        ("region = 'x'\n" + MINIMAL, "prod", {}, r"unknown top-level key\(s\) region"),
        ("[defaults]\nregion = 'x'\n", "prod", {}, r"no \[env.<name>\] table"),
        (MINIMAL + "name = 'x'\n", "prod", {}, r"key 'name' is not allowed"),
        ("[env.prod\n", "prod", {}, r"not valid TOML"),
    ],
)
def test_invalid_files_give_clear_errors(
    tmp_path: Path, text: str, env: str, environ: dict[str, str], expected: str
) -> None:
    """Each bad file or variable gives a ConfigError naming the file, the env and the key."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path, env, environ=environ)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_empty_containers_list_is_rejected(tmp_path: Path) -> None:
    """At least one container must be named."""
    with pytest.raises(ConfigError, match=r"key 'containers': .*at least 1"):
        load_config(write(tmp_path, MINIMAL.replace('["api"]', "[]")), "prod", environ={})


def test_missing_file_names_it(tmp_path: Path) -> None:
    """A missing config file is a ConfigError that names the path and suggests --config."""
    with pytest.raises(ConfigError, match=r"nope.toml does not exist.*--config"):
        load_config(tmp_path / "nope.toml", "prod", environ={})


def test_cli_config_prints_effective_settings(tmp_path: Path) -> None:
    """`rollout config` shows file + variables + flags merged, with `vars` values masked."""
    from typer.testing import CliRunner

    from rollout.cli import _register, app

    _register()
    path = write(tmp_path, MINIMAL + "[env.prod.vars]\nDB_HOST = 'db.internal'\n")
    runner = CliRunner()
    args = ["config", "--config", str(path), "--cluster", "from-flag"]
    result = runner.invoke(app, args, env={"ROLLOUT_POLL_INTERVAL": "2"})
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)
    assert settings["cluster"] == "from-flag"
    assert settings["watch"]["poll_interval"] == 2.0
    assert settings["vars"] == {"DB_HOST": "***"}
    shown = runner.invoke(app, [*args, "--show-values"])
    assert json.loads(shown.stdout)["vars"] == {"DB_HOST": "db.internal"}
    bad = runner.invoke(app, ["config", "--config", str(path), "--env", "qa"])
    assert bad.exit_code == 2
    assert "environment 'qa' is not defined" in bad.output


def test_a_file_that_is_not_utf8_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    """A rollout.toml saved as UTF-16 (or any binary) was a UnicodeDecodeError traceback: now a
    ConfigError (exit 2) naming the file and the encoding. The same cause (reading a user's file
    and catching only OSError) was in the template and the sandbox's fault file."""
    from rollout.sandbox import load_fault_file
    from rollout.verbs.render import load_template

    path = tmp_path / "rollout.toml"
    path.write_bytes("[env.prod]\n".encode("utf-16"))
    with pytest.raises(ConfigError, match=r"rollout.toml is not UTF-8 text") as info:
        load_config(path, "prod", environ={})
    assert info.value.exit_code == 2
    template = tmp_path / "taskdef.json"
    template.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match=r"taskdef.json is not UTF-8 text"):
        load_template(template)
    faults = tmp_path / "plan.toml"
    faults.write_bytes(b"\xff\xfe[[fault]]")
    with pytest.raises(ConfigError, match=r"plan.toml: not UTF-8 text"):
        load_fault_file(faults)


# -- test_headers: the smoke probe's request headers -------------------------------------------


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        ('test_headers = { "X-Rollout-Test" = "1" }', {}, {"X-Rollout-Test": "1"}),
        ('test_headers = { "X-Rollout-Test" = 1 }', {}, {"X-Rollout-Test": "1"}),
        ("", {}, {}),
        ("", {"ROLLOUT_TEST_HEADERS": "X-Rollout-Test: 1"}, {"X-Rollout-Test": "1"}),
        (
            "",
            {"ROLLOUT_TEST_HEADERS": " X-A: one two , X-B:2"},
            {"X-A": "one two", "X-B": "2"},
        ),
        # the variable replaces the file's table; empty clears it
        ('test_headers = { "X-A" = "1" }', {"ROLLOUT_TEST_HEADERS": "X-B: 2"}, {"X-B": "2"}),
        ('test_headers = { "X-A" = "1" }', {"ROLLOUT_TEST_HEADERS": ""}, {}),
        ('test_headers = { "X-Weird!#$%&\'*+-.^_`|~9" = "a\\tb ~" }', {}, None),
    ],
)
def test_test_headers_valid(
    tmp_path: Path, toml: str, environ: dict[str, str], expected: dict[str, str] | None
) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + toml + "\n"), "prod", environ=environ)
    if expected is None:
        assert len(cfg.test_headers) == 1
    else:
        assert cfg.test_headers == expected


def test_test_headers_merge_from_defaults(tmp_path: Path) -> None:
    defaults = '[defaults]\ntest_headers = { "X-A" = "1" }\n'
    text = defaults + MINIMAL + 'test_headers = { "X-B" = "2" }\n'
    cfg = load_config(write(tmp_path, text), "prod", environ={})
    assert cfg.test_headers == {"X-A": "1", "X-B": "2"}


SECRET = "s3cr3t-value"


@pytest.mark.parametrize(
    ("toml", "environ", "words"),
    [
        ('test_headers = { "X Rollout" = "1" }', {}, "not an HTTP token"),
        ('test_headers = { "X-Rollout:" = "1" }', {}, "not an HTTP token"),
        ('test_headers = { "" = "1" }', {}, "not an HTTP token"),
        ('test_headers = { "X-Ünicode" = "1" }', {}, "not an HTTP token"),
        (f'test_headers = {{ "X-Token" = "{SECRET}\\r\\nEvil: 1" }}', {}, "printable ASCII"),
        (f'test_headers = {{ "X-Token" = "{SECRET}\\u00e9" }}', {}, "printable ASCII"),
        (f'test_headers = {{ "X-Token" = " {SECRET}" }}', {}, "leading or trailing blanks"),
        ('test_headers = { "X-A" = "1", "x-a" = "2" }', {}, "given twice"),
        ('test_headers = { "Content-Length" = "1" }', {}, "cannot be set"),
        ('test_headers = { "X-A" = true }', {}, "must be a string"),
        ('test_headers = { "X-A" = ["1"] }', {}, "must be a string"),
        ('test_headers = "X-A: 1"', {}, None),  # a string in the file is the variable's form
        ("", {"ROLLOUT_TEST_HEADERS": f"X-Token {SECRET}"}, "is not 'Name: value'"),
        ("", {"ROLLOUT_TEST_HEADERS": f"X-Token: {SECRET}\x07"}, "printable ASCII"),
    ],
)
def test_test_headers_invalid_never_echo_the_value(
    tmp_path: Path, toml: str, environ: dict[str, str], words: str | None
) -> None:
    path = write(tmp_path, MINIMAL + toml + "\n")
    if words is None:
        assert load_config(path, "prod", environ=environ).test_headers == {"X-A": "1"}
        return
    with pytest.raises(ConfigError) as info:
        load_config(path, "prod", environ=environ)
    message = str(info.value)
    assert "test_headers" in message
    assert words in message
    assert SECRET not in message


def test_repository_config_sends_the_stacks_test_header() -> None:
    """voj's stack routes test traffic by `X-Rollout-Test: 1` (infra/voj.yaml TestListenerRule)."""
    for env in ("prod", "staging"):
        cfg = load_config(REPO / "rollout.toml", env, environ={})
        assert cfg.test_headers == {"X-Rollout-Test": "1"}
    stack = (REPO / "infra" / "voj.yaml").read_text(encoding="utf-8")
    assert 'HttpHeaderConfig: { HttpHeaderName: X-Rollout-Test, Values: ["1"] }' in stack
