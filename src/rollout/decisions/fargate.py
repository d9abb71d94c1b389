"""Fargate task sizes: which task-level cpu/memory pairs Fargate accepts (ecs-behaviour §8).

moto does not check these pairs, and AWS only rejects a bad one at RegisterTaskDefinition or, for
some values, when a task is placed; so verify checks them first.
"""

from __future__ import annotations

import re

# cpu units -> valid memory in MiB (Linux; 8 and 16 vCPU need platform 1.4.0 or later).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: (2048, 3072, 4096, 5120, 6144, 7168, 8192),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

_VCPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*$", re.IGNORECASE)
_GB = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*$", re.IGNORECASE)


def parse_cpu(value: object) -> int | None:
    """CPU units from ``"512"``, ``512`` or ``"0.5 vCPU"``; None when unreadable."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = _VCPU.match(text)
    if match:
        return round(float(match.group(1)) * 1024)
    return None


def parse_memory(value: object) -> int | None:
    """MiB from ``"1024"``, ``1024`` or ``"1GB"``; None when unreadable."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    match = _GB.match(text)
    if match:
        return round(float(match.group(1)) * 1024)
    return None


def fargate_size_problem(cpu: object, memory: object) -> str | None:
    """None when ``cpu``/``memory`` is a valid Fargate pair, else why not (with valid options)."""
    if cpu is None or memory is None:
        return "Fargate needs task-level cpu and memory; the task definition lacks " + (
            "both" if cpu is None and memory is None else ("cpu" if cpu is None else "memory")
        )
    units, mib = parse_cpu(cpu), parse_memory(memory)
    if units is None:
        return f"cpu {cpu!r} is not a number of CPU units or 'N vCPU'"
    if mib is None:
        return f"memory {memory!r} is not a number of MiB or 'N GB'"
    if units not in FARGATE_SIZES:
        return f"cpu {units} is not a Fargate size (valid: {', '.join(map(str, FARGATE_SIZES))})"
    valid = FARGATE_SIZES[units]
    if mib not in valid:
        return f"memory {mib} MiB is not valid with cpu {units} (valid: {_ranges(valid)} MiB)"
    return None


def _ranges(values: tuple[int, ...]) -> str:
    if len(values) <= 4:
        return ", ".join(map(str, values))
    step = values[1] - values[0]
    return f"{values[0]}-{values[-1]} in steps of {step}"
