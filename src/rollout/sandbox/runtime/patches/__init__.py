"""Bad releases as real code changes: unified diffs of ``backend/``, as ``git diff`` writes them
from the repository root, for ``rollout sandbox build --patch`` / ``Sandbox.build_image(patch=)``.

- ``books-500.diff``: ``GET /books`` answers 500 on every other request (per worker); the app
  boots and passes ``/health``, so the release turns healthy and then serves errors.

Regenerate one after ``backend/app`` changes: apply it (``git apply``), re-make the edit if it
no longer applies, and write ``git diff backend/ > src/rollout/sandbox/runtime/patches/NAME.diff``.
"""

from __future__ import annotations

from importlib import resources


def patch_text(name: str) -> str:
    """The diff ``NAME.diff`` of this package."""
    return resources.files(__name__).joinpath(f"{name}.diff").read_text(encoding="utf-8")


def patch_path(name: str) -> str:
    """The file of ``NAME.diff`` (for ``rollout sandbox build --patch``)."""
    return str(resources.files(__name__).joinpath(f"{name}.diff"))
