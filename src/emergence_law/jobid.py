"""Who a job is and who runs it: the job id (a hash of its definition) and process owners.

A job's identity is the SHA-256 of its canonical JSON definition, so re-running a sweep skips
finished jobs and a changed job gets a new id. A running job is marked with its owner
(``host:pid:start:boot``), so a store opened later can tell a live run from one that died
(``kill -9``, a reboot) and put only the dead one's jobs back to pending
(:class:`emergence_law.store.ResultStore`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emergence_law.jsonfile import json_default


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal definitions give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default,
                      allow_nan=True)


def job_id(definition: Mapping[str, Any]) -> str:
    """A job's identity: the SHA-256 of its canonical JSON definition (first 20 hex digits)."""
    return hashlib.sha256(canonical_json(dict(definition)).encode()).hexdigest()[:20]


def _boot_id() -> str:
    """This boot of this machine (Linux); a pid recorded before a reboot names no process."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), to tell a reused pid from it."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_owner() -> str:
    """``host:pid:start:boot`` of this process: marks the jobs it runs, to tell live runs from
    dead ones (the start time and boot id guard against a pid reused after exit or a reboot)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}:{_boot_id()}"


def owner_alive(owner: str | None) -> bool:
    """Whether an owner (``host:pid:start:boot``, or the older ``host:pid``) is a live process.

    On this host the answer is exact: the pid must exist, not be a zombie, and have the recorded
    start time in the recorded boot. An owner on another host cannot be checked from here and
    counts as alive (its jobs are left alone; a second result would be refused anyway).
    """
    if not owner or ":" not in owner:
        return False
    parts = owner.split(":")
    host, pid_text = parts[0], parts[1]
    start, boot = (parts[2], parts[3]) if len(parts) >= 4 else ("", "")
    if host != socket.gethostname():
        return True
    if boot and _boot_id() and boot != _boot_id():
        return False  # recorded before a reboot of this machine
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    # a zombie (killed, not yet reaped) still answers signal 0: check its state where we can
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return True
    if fields[0] == "Z":
        return False
    return not start or fields[19] == start
