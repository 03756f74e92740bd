"""Bad command-line values: exit status 2 and one line naming the option (or file), what was
expected and what was found; never a traceback, never an output file or hidden temporary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wlcnn.cli import main as wlcnn_main
from wlcnn.inference.cli import main as inference_main
from wlcnn.training.cli import main as training_main

EXIT_USAGE = 2
REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "demo.yaml"
SNAPSHOT = "gadget2_N32/fmt1/snapshot_004"
GRID_OK = ["grid", "--sigma8-lines", "0.5:1.0:3", "--omega-m", "0.1:0.5:3"]

MAIN = {"wlcnn": wlcnn_main, "inference": inference_main, "training": training_main}


def _run(entry: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and stderr of one command (argparse errors exit via SystemExit)."""
    try:
        code = MAIN[entry](argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def _fill(argv: list[str], *, out: Path, snapshot: Path, files: Path) -> list[str]:
    return [
        a.format(out=out, snapshot=snapshot, config=CONFIG, file=files / "a_file", dir=files) for a in argv
    ]


# (entry point, argv, words the message must contain: option or file, expected, found)
CASES = {
    "ingest --chunk-size 0": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "--chunk-size", "0"],
        ["--chunk-size", "expected an integer >= 1", "found '0'"],
    ),
    "ingest --chunk-size -5": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "--chunk-size=-5"],
        ["--chunk-size", "expected an integer >= 1", "found '-5'"],
    ),
    "ingest --chunk-size not a number": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "--chunk-size", "1e3x"],
        ["--chunk-size", "expected an integer", "found '1e3x'"],
    ),
    "ingest --omega-m outside (0,1)": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "--omega-m", "1.3"],
        ["--omega-m", "expected a number in (0, 1)", "found '1.3'"],
    ),
    "ingest --hubble negative": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "--hubble=-0.7"],
        ["--hubble", "expected a number > 0", "found '-0.7'"],
    ),
    "ingest --box nan": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "--box", "nan"],
        ["--box", "expected a number > 0", "found 'nan'"],
    ),
    "ingest odd number of paths": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/s.h5", "{snapshot}"],
        ["SOURCE OUTPUT", "expected pairs of paths", "found 3 path(s)"],
    ),
    "ingest source is a directory": (
        "wlcnn",
        ["ingest", "{dir}", "{out}/s.h5"],
        ["{dir}", "SOURCE", "expected a snapshot file", "found a directory"],
    ),
    "ingest output is a directory": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}"],
        ["{out}", "OUTPUT", "expected a file name", "found an existing directory"],
    ),
    "ingest output parent missing": (
        "wlcnn",
        ["ingest", "{snapshot}", "{out}/missing/s.h5"],
        ["{out}/missing/s.h5", "OUTPUT", "expected an existing directory", "found no such directory"],
    ),
    "ingest output below a file": (
        "wlcnn",
        ["ingest", "{snapshot}", "{file}/s.h5"],
        ["{file}/s.h5", "OUTPUT", "to be a directory", "found a file"],
    ),
    "grid --omega-m lo:hi": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.1:0.5", "-o", "{out}/g.csv"],
        ["--omega-m", "expected 'lo:hi:n'", "found '0.1:0.5'"],
    ),
    "grid --omega-m four fields": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.1:0.5:8:2", "-o", "{out}/g.csv"],
        ["--omega-m", "expected 'lo:hi:n'", "found '0.1:0.5:8:2'"],
    ),
    "grid --omega-m n not an integer": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.1:0.5:x", "-o", "{out}/g.csv"],
        ["--omega-m", "expected a number of values n >= 1", "found 'x'"],
    ),
    "grid --omega-m n = 0": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.1:0.5:0", "-o", "{out}/g.csv"],
        ["--omega-m", "expected a number of values n >= 1", "found '0'"],
    ),
    "grid --omega-m lo > hi": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.5:0.1:8", "-o", "{out}/g.csv"],
        ["--omega-m", "expected lo <= hi", "found '0.5:0.1:8'"],
    ),
    "grid --omega-m not numbers": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.1,abc", "-o", "{out}/g.csv"],
        ["--omega-m", "expected a number in (0, 1)", "found 'abc'"],
    ),
    "grid --omega-m outside (0,1)": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:8", "--omega-m", "0.3,1.5", "-o", "{out}/g.csv"],
        ["--omega-m", "expected a number in (0, 1)", "found '1.5'"],
    ),
    "grid --sigma8-lines negative": (
        "wlcnn",
        ["grid", "--sigma8-lines=-1:1:3", "--omega-m", "0.1:0.5:3", "-o", "{out}/g.csv"],
        ["--sigma8-lines", "expected a number > 0", "found '-1'"],
    ),
    "grid --mock one number": (
        "wlcnn",
        [*GRID_OK, "--mock", "0.25", "-o", "{out}/g.csv"],
        ["--mock", "expected two numbers 'OM,S8'", "found '0.25'"],
    ),
    "grid --mock not a number": (
        "wlcnn",
        [*GRID_OK, "--mock", "0.25,high", "-o", "{out}/g.csv"],
        ["--mock", "S8: expected a number > 0", "found 'high'"],
    ),
    "grid --n-train negative": (
        "wlcnn",
        [*GRID_OK, "--n-train=-1", "-o", "{out}/g.csv"],
        ["--n-train", "expected an integer >= 1", "found '-1'"],
    ),
    "grid --n-train 0": (
        "wlcnn",
        [*GRID_OK, "--n-train", "0", "-o", "{out}/g.csv"],
        ["--n-train", "expected an integer >= 1", "found '0'"],
    ),
    "grid --n-test fractional": (
        "wlcnn",
        [*GRID_OK, "--n-test", "2.5", "-o", "{out}/g.csv"],
        ["--n-test", "expected an integer >= 0", "found '2.5'"],
    ),
    "grid --omega-m outside the prior": (
        "wlcnn",
        ["grid", "--sigma8-lines", "0.5:1.0:3", "--omega-m", "0.05,0.3", "-o", "{out}/g.csv"],
        ["--omega-m", "expected values inside the prior --prior-omega-m [0.1, 0.5]", "found 0.05"],
    ),
    "grid prior LO > HI": (
        "wlcnn",
        [*GRID_OK, "--prior-omega-m", "0.5", "0.1", "-o", "{out}/g.csv"],
        ["--prior-omega-m", "expected LO < HI", "found 0.5 0.1"],
    ),
    "grid no point inside the prior": (
        "wlcnn",
        ["grid", "--sigma8-lines", "5", "--omega-m", "0.1:0.5:3", "-o", "{out}/g.csv"],
        ["--sigma8-lines", "expected points inside the prior box", "found none"],
    ),
    "grid --output is a directory": (
        "wlcnn",
        [*GRID_OK, "-o", "{out}"],
        ["{out}", "--output", "expected a file name", "found an existing directory"],
    ),
    "grid --output parent missing": (
        "wlcnn",
        [*GRID_OK, "-o", "{out}/missing/g.csv"],
        ["{out}/missing/g.csv", "--output", "expected an existing directory", "found no such directory"],
    ),
    "inference constrain --summaries missing": (
        "inference",
        [
            *["constrain", "--config", "{config}", "--summaries", "{out}/nope.h5", "--data", "{file}"],
            "--label",
            "x",
            "--out",
            "{out}/res",
        ],
        ["--summaries", "expected an existing file", "found no such file", "nope.h5"],
    ),
    "inference constrain --data is a directory": (
        "inference",
        [
            *["constrain", "--config", "{config}", "--summaries", "{file}", "--data", "{dir}"],
            "--label",
            "x",
            "--out",
            "{out}/res",
        ],
        ["--data", "expected a file", "found the directory", "{dir}"],
    ),
    "inference constrain --truth-a-ia not a number": (
        "inference",
        [
            *["constrain", "--config", "{config}", "--summaries", "{file}", "--data", "{file}"],
            "--label",
            "x",
            "--out",
            "{out}/res",
            "--truth-a-ia",
            "one",
        ],
        ["--truth-a-ia", "expected a finite number", "found 'one'"],
    ),
    "inference merge --out is a directory": (
        "inference",
        ["merge", "--summaries", "{file}", "--out", "{out}"],
        ["--out", "expected a file name", "found the directory", "{out}"],
    ),
    "inference --config missing": (
        "inference",
        [
            *["summaries", "--config", "{out}/missing.yaml", "--label", "x", "--predictor", "power_spectrum"],
            "--surveys",
            "a:b",
            "--out",
            "{out}/s.h5",
        ],
        ["--config", "expected an existing file", "found no such file", "missing.yaml"],
    ),
    "training --steps 0": (
        "training",
        [
            *["--config", "{config}", "--network", "ml", "--maps", "{file}", "--out", "{out}/net"],
            "--steps",
            "0",
        ],
        ["--steps", "expected an integer >= 1", "found '0'"],
    ),
    "training --maps missing": (
        "training",
        ["--config", "{config}", "--network", "ml", "--maps", "{out}/m.h5", "--out", "{out}/net"],
        ["--maps", "expected an existing file", "found no such file", "m.h5"],
    ),
    "training --out is a file": (
        "training",
        ["--config", "{config}", "--network", "ml", "--maps", "{file}", "--out", "{file}"],
        ["--out", "expected a directory", "found the file", "a_file"],
    ),
    "training --stand-in-noise negative": (
        "training",
        [
            *["--config", "{config}", "--network", "ml", "--maps", "{file}", "--out", "{out}/net"],
            "--stand-in-noise=-0.1",
        ],
        ["--stand-in-noise", "expected a number >= 0", "found '-0.1'"],
    ),
    "training plot --smooth 0": (
        "training",
        ["plot", "--history", "{file}", "--out", "{out}/loss.png", "--smooth", "0"],
        ["--smooth", "expected an integer >= 1", "found '0'"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_value_exit_2_message_and_nothing_written(case, nbody_fixtures, tmp_path, capsys):
    entry, argv, words = CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    files = tmp_path / "inputs"
    files.mkdir()
    (files / "a_file").write_text("a file that is no directory\n")
    snapshot = files / "snapshot_004"
    shutil.copyfile(nbody_fixtures / SNAPSHOT, snapshot)
    before = sorted(p.name for p in files.iterdir())
    if entry == "training" and "plot" not in argv:
        from wlcnn.training.networks import PRESETS

        argv = [a if a != "ml" else min(PRESETS) for a in argv]

    code, err = _run(entry, _fill(argv, out=out, snapshot=snapshot, files=files), capsys)

    assert code == EXIT_USAGE, err
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    for word in words:
        assert word.format(out=out, file=files / "a_file", dir=files) in message, message
    assert sorted(p.name for p in out.iterdir()) == [], "output or a hidden temporary was left behind"
    assert sorted(p.name for p in files.iterdir()) == before, "an input directory was written to"
