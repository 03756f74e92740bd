"""A Snakemake killed with SIGKILL must not block the next run (scripts/_snakemake_lock.sh).

Real Snakemake runs of a one-rule Snakefile in a temporary directory: the first is killed with
SIGKILL while its job runs, which leaves ``.snakemake/locks/`` behind (plain ``snakemake`` then
refuses to start, checked here so that the test can fail); the wrapper used by scripts/demo.sh
must clear that lock and finish the run, and must refuse a second run while one is live.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "scripts" / "_snakemake_lock.sh"
#: Exit status of the wrapper when another run holds the directory (EX_TEMPFAIL).
BUSY = 75
#: Seconds the killed run's job sleeps: far longer than the test, so it is killed mid-job.
JOB_SLEEP_S = 300
#: Seconds allowed for Snakemake to start and take its lock on a shared, loaded machine.
START_TIMEOUT_S = 120
RUN_TIMEOUT_S = 240

SNAKEFILE = """\
rule done:
    output:
        "done.txt",
    params:
        sleep=config.get("sleep", 0),
    shell:
        "sleep {params.sleep:q} && echo finished > {output:q}"
"""

pytestmark = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc (Linux)")


def _env() -> dict[str, str]:
    """The test's environment with this interpreter's bin directory (snakemake) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _snakemake_args(sleep: int) -> list[str]:
    return ["--cores", "1", "--config", f"sleep={sleep}", "--rerun-triggers", "mtime"]


def _wrapped(sleep: int) -> list[str]:
    return ["bash", str(WRAPPER), *_snakemake_args(sleep)]


def _snakemake_pids(workdir: Path) -> list[int]:
    """Snakemake processes running in ``workdir`` (the main process, not its job's shell)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(os.readlink(proc / "cwd")) != workdir:
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")[:3]
        except OSError:  # the process ended meanwhile
            continue
        if any(arg == b"snakemake" or arg.endswith(b"/snakemake") for arg in argv):
            pids.append(int(proc.name))
    return pids


def _wait_for(condition, *, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with the one-rule Snakefile."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    return tmp_path.resolve()


def _start(cmd: list[str], workdir: Path, groups: list[int]) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (recorded, to end the orphaned job afterwards)."""
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    groups.append(proc.pid)
    return proc


def _locks(workdir: Path) -> list[Path]:
    locks = workdir / ".snakemake" / "locks"
    return sorted(locks.iterdir()) if locks.is_dir() else []


def _kill_groups(groups: list[int]) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _run(cmd: list[str], workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def test_run_after_sigkill_clears_the_stale_lock_and_concurrent_run_is_refused(workdir: Path) -> None:
    groups: list[int] = []
    try:
        first = _start(_wrapped(JOB_SLEEP_S), workdir, groups)
        _wait_for(lambda: _locks(workdir) and _snakemake_pids(workdir), what="the first run to take its lock")

        # A second wrapped run while the first is live: refused, nothing unlocked, nothing made.
        second = _run(_wrapped(0), workdir)
        assert second.returncode == BUSY, second.stdout + second.stderr
        assert "another run is in progress" in second.stderr and str(workdir) in second.stderr
        assert _locks(workdir), "a live run's lock was removed"
        assert not (workdir / "done.txt").exists()

        # kill -9 Snakemake itself (its job, a `sleep`, lives on as an orphan, as it would).
        for pid in _snakemake_pids(workdir):
            os.kill(pid, signal.SIGKILL)
        first.wait(timeout=RUN_TIMEOUT_S)
        assert first.returncode != 0
        assert _locks(workdir), "SIGKILL should leave the lock behind (the case under test)"
        _wait_for(lambda: not _snakemake_pids(workdir), what="the killed snakemake to be gone")

        # Without the wrapper the directory stays locked: the state the wrapper must recover from.
        plain = _run([sys.executable, "-m", "snakemake", *_snakemake_args(0)], workdir)
        assert plain.returncode != 0 and "cannot be locked" in plain.stdout + plain.stderr

        rerun = _run(_wrapped(0), workdir)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "stale Snakemake lock" in rerun.stderr and "--unlock" in rerun.stderr
        assert (workdir / "done.txt").read_text() == "finished\n"
        assert not _locks(workdir)
    finally:
        _kill_groups(groups)


def test_snakemake_started_without_the_wrapper_is_not_unlocked(workdir: Path) -> None:
    """A live snakemake started by hand holds a real lock: the wrapper refuses, never unlocks it."""
    groups: list[int] = []
    try:
        _start([sys.executable, "-m", "snakemake", *_snakemake_args(JOB_SLEEP_S)], workdir, groups)
        _wait_for(lambda: _locks(workdir) and _snakemake_pids(workdir), what="snakemake to take its lock")
        live = _snakemake_pids(workdir)

        refused = _run(_wrapped(0), workdir)
        assert refused.returncode == BUSY, refused.stdout + refused.stderr
        assert "already running" in refused.stderr and str(live[0]) in refused.stderr
        assert "not stale" in refused.stderr
        assert _locks(workdir), "a live run's lock was removed"
        assert not (workdir / "done.txt").exists()
    finally:
        _kill_groups(groups)
