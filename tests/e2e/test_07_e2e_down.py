"""`make e2e-down` (``k8s.e2e down``) removes all of it: no process, mount, network namespace,
bridge or iptables rule of the end-to-end bed is left behind. Last in the suite on purpose."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from k8s.e2e import install as e2e
from k8s.testbed.realnode import BRIDGE

if TYPE_CHECKING:
    from k8s.e2e.install import Install


def _processes_under(root: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = str((proc / "cwd").resolve())
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd.startswith(str(root)) or ("containerd-shim" in cmdline and str(root) in cmdline):
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


def _iptables_rules() -> list[str]:
    rules = []
    for tool in ("iptables-save", "ip6tables-save"):
        out = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        rules += [
            line
            for line in out.splitlines()
            if any(mark in line for mark in ("KUBE-", "CNI-", BRIDGE, "10.88."))
        ]
    return rules


def test_e2e_down_leaves_nothing_behind(e2e_install: Install) -> None:
    run_dir, state = e2e_install.bed.run_dir, Path("/run/orderflow") / e2e.BED_NAME
    assert _processes_under(run_dir), "the bed runs before `down` (the check can fail)"
    assert _iptables_rules(), "kube-proxy and the CNI installed rules (the check can fail)"

    e2e.down()

    assert _processes_under(run_dir) == []
    mounts = Path("/proc/mounts").read_text()
    assert str(run_dir) not in mounts and str(state) not in mounts
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    assert BRIDGE not in links.stdout
    assert _iptables_rules() == []
    assert not run_dir.exists()
