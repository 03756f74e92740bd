"""The SLURM profile against a real SLURM cluster: retries and GPU scheduling.

The ``slurm``-marked tests submit tiny throwaway workflows through ``profiles/slurm`` to the
cluster that ``sinfo`` answers for (``bash .ci/slurm/up.sh`` starts a one-node cluster with two
fake GPUs). Without one they skip; with ``WLCNN_REQUIRE_SLURM=1`` (CI, ``.ci/slurm_demo.sh``)
they fail instead, so a missing cluster is never mistaken for a pass:

    bash .ci/slurm/up.sh /tmp/wlcnn-slurm
    WLCNN_REQUIRE_SLURM=1 .venv/bin/pytest -m slurm tests/workflow/test_slurm_cluster.py
    bash .ci/slurm/down.sh /tmp/wlcnn-slurm

The unmarked tests check the profile itself (retries, job groups) without a cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
#: One workflow run through SLURM takes ~30 s on the CI machine (the plugin's polling cadence).
RUN_TIMEOUT_S = 420
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def probe_sinfo() -> str | None:
    """None when ``sinfo`` answers and lists a node, else why not."""
    if shutil.which("sinfo") is None:
        return "sinfo is not installed"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %t %G"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if proc.returncode:
        return f"sinfo failed: {(proc.stderr or proc.stdout).strip()}"
    if not proc.stdout.strip():
        return "sinfo lists no nodes"
    return None


def cluster_gate(
    env: Mapping[str, str], probe: Callable[[], str | None] = probe_sinfo
) -> tuple[str, str] | None:
    """What to do about the cluster: None (run), ``("skip", why)`` or ``("fail", why)``."""
    reason = probe()
    if reason is None:
        return None
    hint = "start one with `bash .ci/slurm/up.sh /tmp/wlcnn-slurm`"
    if env.get("WLCNN_REQUIRE_SLURM") == "1":
        return "fail", f"WLCNN_REQUIRE_SLURM=1 but no SLURM cluster answers ({reason}); {hint}"
    return "skip", f"no SLURM cluster ({reason}); {hint}, or set WLCNN_REQUIRE_SLURM=1 to make this a failure"


@pytest.fixture(scope="module")
def slurm_cluster() -> str:
    """``sinfo``'s node list; skips (or fails under WLCNN_REQUIRE_SLURM=1) without a cluster."""
    gate = cluster_gate(os.environ)
    if gate is not None:
        action, why = gate
        if action == "fail":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t %G"], capture_output=True, text=True).stdout


def run_through_slurm(workdir: Path, snakefile: str, *targets: str) -> subprocess.CompletedProcess:
    """Run ``snakefile`` (written into ``workdir``) with ``--profile profiles/slurm``, nothing else."""
    (workdir / "Snakefile").write_text(textwrap.dedent(snakefile))
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "--snakefile", "Snakefile", *targets]
    env = dict(
        os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    try:
        proc = subprocess.run(
            cmd, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env
        )
    except subprocess.TimeoutExpired as exc:
        _cancel_jobs_of(workdir)
        pytest.fail(
            f"snakemake through SLURM did not finish in {RUN_TIMEOUT_S} s:\n{(exc.stderr or b'')[-4000:]!r}"
        )
    return proc


def _cancel_jobs_of(workdir: Path) -> None:
    """Cancel the SLURM jobs a timed-out run submitted (only those: by job id)."""
    ids = set()
    for log in (workdir / ".snakemake" / "log").glob("*.snakemake.log"):
        ids.update(m.group(2) for m in SUBMITTED.finditer(log.read_text()))
    if ids:
        subprocess.run(["scancel", *sorted(ids)], capture_output=True)


def submissions(proc: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """(rule, SLURM job id) of every sbatch submission snakemake reported."""
    out = []
    for m in SUBMITTED.finditer(proc.stdout + proc.stderr):
        rule = Path(m.group(3)).parent.name.removeprefix("rule_")
        out.append((rule, m.group(2)))
    return out


def _explain(proc: subprocess.CompletedProcess) -> str:
    return f"snakemake exit {proc.returncode}\n--- stderr (tail) ---\n{proc.stderr[-6000:]}"


# --- the profile, without a cluster ---------------------------------------------------------


def test_profile_retries_failed_jobs() -> None:
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert int(profile["retries"]) >= 1
    # the map jobs ask for more memory on a retry (the reason to retry an out-of-memory job)
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert re.search(
        r"def maps_memory_mb\(\w+, attempt\):(?:\n(?:    .*)?)*?"
        r"\n    return .*(?:\* attempt|attempt=attempt)",
        common,
    )
    assert "mem_mb=maps_memory_mb" in (REPO / "workflow" / "rules" / "maps.smk").read_text()


def test_require_slurm_turns_a_missing_cluster_into_a_failure() -> None:
    def absent() -> str:
        return "sinfo failed: Unable to contact slurm controller"

    assert cluster_gate({}, absent)[0] == "skip"
    assert cluster_gate({"WLCNN_REQUIRE_SLURM": "0"}, absent)[0] == "skip"
    action, why = cluster_gate({"WLCNN_REQUIRE_SLURM": "1"}, absent)
    assert action == "fail" and "Unable to contact slurm controller" in why
    assert cluster_gate({"WLCNN_REQUIRE_SLURM": "1"}, lambda: None) is None


def test_profile_groups_small_jobs_but_not_map_or_training_jobs(tmp_path: Path) -> None:
    """Dry run of the demo through the profile: small jobs in group jobs, MPI maps and training alone."""
    override = tmp_path / "override.yaml"
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    demo["run"]["output_dir"] = str(tmp_path / "demo")  # nothing exists: the whole DAG
    override.write_text(yaml.safe_dump({"run": demo["run"]}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--profile",
            str(PROFILE),
            "--cores",
            "2",
            "--configfile",
            "config/demo.yaml",
            str(override),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, _explain(proc)
    groups: dict[str, set[str]] = {}
    alone: set[str] = set()
    current = None
    for line in proc.stdout.splitlines():
        if m := re.search(r"\] Group job (\S+) \(jobs", line):
            current = groups.setdefault(m.group(1), set())
        elif m := re.match(r"(    )?(?:local)?rule (\w+):$", line):
            (current.add if m.group(1) and current is not None else alone.add)(m.group(2))
    assert {"ingest", "summaries", "inference"} <= set(groups), proc.stdout[-3000:]
    assert {"mock_simulation", "ingest_simulation"} <= groups["ingest"]
    assert "test_summaries" in groups["summaries"]
    assert {"constrain", "merge_summaries", "data_vector"} <= groups["inference"]
    grouped = set().union(*groups.values())
    assert {"simulation_maps", "train_network"} <= alone
    assert not {"simulation_maps", "train_network"} & grouped


# --- against the cluster ----------------------------------------------------------------------


@pytest.mark.slurm
def test_failed_job_is_resubmitted_with_more_memory(slurm_cluster: str, tmp_path: Path) -> None:
    """The profile's retries: attempt 1 fails, SLURM runs attempt 2 as a new job with twice the memory."""
    proc = run_through_slurm(
        tmp_path,
        """
        rule flaky:
            output: "done.txt"
            resources:
                mem_mb=lambda wc, attempt: 200 * attempt,
                runtime=5,
                attempt_no=lambda wc, attempt: attempt,
            shell:
                "echo {resources.attempt_no} $SLURM_JOB_ID "
                "$(scontrol show job $SLURM_JOB_ID | grep -o 'MinMemoryNode=[^ ]*') >> attempts.txt; "
                "if [ {resources.attempt_no} -eq 1 ]; then echo 'failing on purpose' >&2; exit 1; fi; "
                "touch {output}"
        """,
    )
    assert proc.returncode == 0, _explain(proc)
    assert (tmp_path / "done.txt").exists()
    attempts = [line.split() for line in (tmp_path / "attempts.txt").read_text().splitlines()]
    assert [a[0] for a in attempts] == ["1", "2"], attempts
    job_ids = [a[1] for a in attempts]
    assert job_ids[0] != job_ids[1] and all(j.isdigit() for j in job_ids), attempts
    # what SLURM allocated: the memory grew with the attempt
    assert [a[2] for a in attempts] == ["MinMemoryNode=200M", "MinMemoryNode=400M"], attempts
    # two sbatch submissions of the rule, the same jobs that ran
    submitted = submissions(proc)
    assert [rule for rule, _ in submitted] == ["flaky", "flaky"], submitted
    assert [job for _, job in submitted] == job_ids
    assert "Trying to restart job" in proc.stderr + proc.stdout


@pytest.mark.slurm
def test_gpu_job_is_scheduled_on_a_gpu(slurm_cluster: str, tmp_path: Path) -> None:
    """``resources: gpu=1`` gets a GPU gres from SLURM, and CUDA_VISIBLE_DEVICES is set in the job.

    TensorFlow (the CPU build here) still picks the default single-device strategy there, so the
    demo's training reproduces bit for bit under SLURM with a (fake) GPU requested.
    """
    if "gpu" not in slurm_cluster:
        msg = f"the cluster has no GPU gres (sinfo: {slurm_cluster.strip()!r})"
        if os.environ.get("WLCNN_REQUIRE_SLURM") == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    strategy = (
        "from wlcnn.training.distribute import make_distribution; "
        "print('strategy=' + make_distribution().kind)"
    )
    proc = run_through_slurm(
        tmp_path,
        f"""
        rule gpu:
            output: "gpu.txt"
            resources: gpu=1, mem_mb=2000, runtime=10
            shell:
                "echo CUDA_VISIBLE_DEVICES=${{{{CUDA_VISIBLE_DEVICES:-unset}}}} > {{output}}.tmp; "
                "scontrol -d show job $SLURM_JOB_ID "
                "| grep -o -E '(TresPerJob|GRES)=[^ ]*' >> {{output}}.tmp; "
                "{sys.executable} -c \\"{strategy}\\" >> {{output}}.tmp; "
                "mv {{output}}.tmp {{output}}"
        """,
    )
    assert proc.returncode == 0, _explain(proc)
    report = (tmp_path / "gpu.txt").read_text()
    lines = dict(line.split("=", 1) for line in report.splitlines() if "=" in line)
    assert re.fullmatch(r"\d+", lines.get("CUDA_VISIBLE_DEVICES", "")), report
    assert "gpu" in lines.get("TresPerJob", ""), report  # requested: gres:gpu:1
    # allocated: a device index
    assert re.search(r"^GRES=gpu(:\w+)?:1\(IDX:\d+\)$", report, re.MULTILINE), report
    assert lines.get("strategy") == "default", report
    assert [rule for rule, _ in submissions(proc)] == ["gpu"]


#: Members of the grouped test job, the CPUs it may use (the CI node's), and each member's sleep.
GROUP_MEMBERS, GROUP_CORES, MEMBER_SLEEP_S = 4, 2, 6
#: A group job's submission line: its id is a UUID, not a number.
GROUP_SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: \S+/group_(\w+?)_")


@pytest.mark.slurm
def test_group_job_runs_its_members_one_at_a_time(slurm_cluster: str, tmp_path: Path) -> None:
    """What a group job does on the cluster: one sbatch for all members, which then run one by one.

    The job asks for ``min(members, cores)`` CPUs, but the Snakemake it starts runs its members
    with ``--jobs 1`` (the slurm-jobstep executor; upstream: snakemake-executor-plugin-slurm
    issues on sequential group execution), so they do not overlap. Measured from the members'
    own start and end times and SLURM job ids, not from the profile. When this fails because
    members overlap, the README may again say that groups run ``cores`` members side by side.
    """
    proc = run_through_slurm(
        tmp_path,
        f"""
        rule all:
            input: expand("member{{i}}.txt", i=range({GROUP_MEMBERS}))

        rule member:
            output: "member{{i}}.txt"
            group: "bundle"
            threads: 1
            resources: mem_mb=200, runtime=5
            shell:
                "start=$(date +%s.%N); sleep {MEMBER_SLEEP_S}; "
                "echo $start $(date +%s.%N) $SLURM_JOB_ID > {{output}}"
        """,
        "--cores",
        str(GROUP_CORES),
        "--group-components",
        f"bundle={GROUP_MEMBERS}",
    )
    assert proc.returncode == 0, _explain(proc)
    rows = [(tmp_path / f"member{i}.txt").read_text().split() for i in range(GROUP_MEMBERS)]
    intervals = sorted((float(r[0]), float(r[1])) for r in rows)
    # one SLURM job ran every member: the group was submitted once
    jobs = {r[2] for r in rows}
    groups = GROUP_SUBMITTED.findall(proc.stdout + proc.stderr)
    assert len(jobs) == 1 and [(job, group) for _, job, group in groups] == [(*jobs, "bundle")], (
        rows,
        groups,
    )
    # the most members running at one instant: at a member's start, those started and not ended
    widest = max(sum(s <= start < e for s, e in intervals) for start, _ in intervals)
    assert widest == 1, intervals
    # one after the other: the span is at least the members' sleeps end to end
    span = intervals[-1][1] - intervals[0][0]
    assert span >= GROUP_MEMBERS * MEMBER_SLEEP_S, intervals
