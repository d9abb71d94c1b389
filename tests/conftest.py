"""Suite-wide fixtures: a fresh sandbox, and one with the voj stack provisioned.

Both use the virtual clock, so nothing here sleeps: time moves only when a test (or the code it
drives, through an injected clock) advances it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from hypothesis import settings

from rollout.sandbox import Sandbox

# Two shared cores under CI load make wall-clock deadlines a source of flakes, not findings.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

# A suite started as a background job of a non-interactive shell inherits SIGINT *ignored*, and
# an ignored signal stays ignored across exec: every `rollout` the tests start would then shrug
# off the Ctrl-C they send it. A handler (not SIG_IGN) here makes children start with SIG_DFL,
# as they do under a terminal or CI.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    """Keep the order below under ``--dist loadfile``: pytest-xdist (>= 3.2) otherwise re-sorts
    the files by how many tests each has (``--loadscope-reorder``, on by default), which hands the
    one-test rehearsal out last, to run alone for minutes while the other core idles."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow (real-process, wall-clock) tests first: `make test` hands whole files to
    its workers in collection order, so a long end-to-end file started last would run alone at
    the end while the other core idles; started first, it overlaps everything else."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    # among them, the longest first: a test that needs an explicit pytest timeout says so
    budget: dict[object, float] = {}
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = float(marker.args[0]) if marker and marker.args else 0.0
        budget[item.path] = max(budget.get(item.path, 0.0), seconds)
    # stable: the order within each file is kept
    items.sort(key=lambda item: (item.path not in slow_files, -budget[item.path]))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh :class:`Sandbox` (moto reset, virtual clock, region ap-northeast-2); closed after."""
    sb = Sandbox()
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture
def voj() -> Iterator[Sandbox]:
    """A sandbox with the voj stack provisioned and steady on revision 1.

    ``voj.provisioned`` is delivery's ``ProvisionResult``. Calls made while provisioning are
    cleared, so ``voj.calls()`` starts empty for the test.
    """
    sb = Sandbox()
    try:
        sb.provision_voj()
        sb.clear_calls()
        yield sb
    finally:
        sb.close()
