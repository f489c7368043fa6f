"""The allocation log: written, verified, and every one-byte edit detected; the CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial._io import RECORD
from odtrial.cli import main
from odtrial.errors import RandomisationError
from odtrial.randomise import constrained, verify_allocation
from odtrial.randomise.log import ALLOCATION_FILE, LOG_FILE, SPACE_FILE, VALIDITY_FILE


def clusters() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    strata = ["N1"] * 4 + ["N2"] * 4 + ["S1"] * 3 + ["S2"] * 3
    return pd.DataFrame(
        {
            "id": [f"P{i:02d}" for i in range(14)],
            "catchment": strata,
            "list_size": rng.integers(4000, 30000, 14),
            "imd_score": np.round(rng.uniform(5, 50, 14), 2),
        }
    )


@pytest.fixture
def written(tmp_path: Path) -> Path:
    res = constrained(
        clusters(),
        id="id",
        strata="catchment",
        balance=["list_size", "imd_score"],
        seed=3,
        arms=("POD", "TAU"),
    )
    res.write(tmp_path / "alloc")
    return tmp_path / "alloc"


def test_log_records_inputs_parameters_versions_and_allocation(written: Path):
    v = verify_allocation(written)
    entries = [json.loads(line) for line in (written / LOG_FILE).read_text().splitlines()]
    events = [e["event"] for e in entries]
    assert events == ["inputs", "parameters", "environment", "space", "validity", "allocation"]
    assert entries[1]["data"]["seed"] == 3 and entries[1]["data"]["cutoff"] == 0.1
    assert entries[2]["data"]["numpy"] == np.__version__
    assert entries[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert v.head == entries[-1]["hash"]
    alloc = pd.read_csv(written / ALLOCATION_FILE, dtype=str)
    assert [list(p) for p in zip(alloc["id"], alloc["arm"], strict=True)] == entries[-1]["data"][
        "allocation"
    ]
    space = pd.read_parquet(written / SPACE_FILE)
    chosen = space.loc[space["chosen"]]
    assert len(chosen) == 1
    assert [("POD" if chosen[c].iloc[0] == 1 else "TAU") for c in alloc["id"]] == alloc[
        "arm"
    ].tolist()


def test_rewriting_gives_identical_bytes(tmp_path: Path):
    kw = {
        "id": "id",
        "strata": "catchment",
        "balance": ["list_size", "imd_score"],
        "seed": 3,
        "arms": ("POD", "TAU"),
    }
    constrained(clusters(), **kw).write(tmp_path / "a")
    constrained(clusters(), **kw).write(tmp_path / "b")
    for name in (LOG_FILE, ALLOCATION_FILE, SPACE_FILE, VALIDITY_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("name", [LOG_FILE, ALLOCATION_FILE, SPACE_FILE, VALIDITY_FILE])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_one_byte_edit_of_any_file_is_detected(written: Path, name: str, where: float):
    path = written / name
    data = bytearray(path.read_bytes())
    i = int(where * (len(data) - 1))
    # change one character to another printable one (stays valid text where it was)
    data[i] = ord("7") if data[i] != ord("7") else ord("8")
    path.write_bytes(bytes(data))
    with pytest.raises(RandomisationError) as e:
        verify_allocation(written)
    assert "\n" not in str(e.value)


def test_dropped_entry_and_expected_head(written: Path):
    head = verify_allocation(written).head
    verify_allocation(written, expect_head=head)
    with pytest.raises(RandomisationError, match="differs from the expected"):
        verify_allocation(written, expect_head="f" * 64)
    lines = (written / LOG_FILE).read_text().splitlines()
    (written / LOG_FILE).write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    with pytest.raises(RandomisationError, match="line 3: the hash chain is broken"):
        verify_allocation(written)


def test_missing_file_is_reported(written: Path):
    (written / SPACE_FILE).unlink()
    with pytest.raises(
        RandomisationError,
        match=r"constrained_space\.parquet named in the allocation log is missing",
    ):
        verify_allocation(written)


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_cli_randomise_and_verify(tmp_path: Path, capsys):
    csv = tmp_path / "clusters.csv"
    clusters().to_csv(csv, index=False)
    args = [
        "randomise",
        str(csv),
        "--id",
        "id",
        "--strata",
        "catchment",
        "--balance",
        "list_size,imd_score",
        "--weights",
        "2,1",
        "--seed",
        "8",
        "--out",
        str(tmp_path / "out"),
        "--arms",
        "POD,TAU",
    ]
    code, out, err = _cli(args, capsys)
    assert code == 0, err
    assert "chosen rank" in out and "head" in out
    log = [json.loads(x) for x in (tmp_path / "out" / LOG_FILE).read_text().splitlines()]
    assert log[0]["data"]["source"] == "clusters.csv" and log[1]["data"]["weights"] == [2.0, 1.0]
    code, out, _ = _cli(["verify-allocation", str(tmp_path / "out")], capsys)
    assert code == 0 and out.startswith("ok: 6 log entries, 3 files intact")
    (tmp_path / "out" / ALLOCATION_FILE).write_text(
        (tmp_path / "out" / ALLOCATION_FILE).read_text().replace("POD", "TAU", 1)
    )
    code, _, err = _cli(["verify-allocation", str(tmp_path / "out")], capsys)
    assert code == 2 and err.count("\n") == 1 and "allocation.csv does not match" in err


def _randomise_args(csv: Path, out: Path) -> list[str]:
    return ["randomise", str(csv), "--id", "id", "--strata", "catchment",
            "--balance", "list_size,imd_score", "--seed", "3", "--out", str(out)]  # fmt: skip


def test_cli_arms_are_the_trials_own_codes(tmp_path: Path, capsys):
    """No default arms: the record's arms are whatever codes the trial gives."""
    csv = tmp_path / "clusters.csv"
    clusters().to_csv(csv, index=False)
    code, _, err = _cli(_randomise_args(csv, tmp_path / "none"), capsys)
    assert code == 2 and "--arms" in err and not (tmp_path / "none").exists()
    code, _, err = _cli([*_randomise_args(csv, tmp_path / "o"), "--arms", "INT,CTL"], capsys)
    assert code == 0, err
    alloc = pd.read_csv(tmp_path / "o" / ALLOCATION_FILE, dtype=str)
    assert sorted(set(alloc["arm"])) == ["CTL", "INT"]
    assert verify_allocation(tmp_path / "o").arms == ("INT", "CTL")


BAD_CSV = [
    ("in no stratum", lambda d: d.assign(catchment=d["catchment"].where(d["id"] != "P02", "")), []),
    (
        "has only one cluster",
        lambda d: d.assign(catchment=d["catchment"].where(d["id"] != "P13", "X")),
        [],
    ),
    (
        "is not numeric",
        lambda d: d.assign(imd_score=d["imd_score"].astype(object).where(d["id"] != "P01", "high")),
        [],
    ),
    ("leaves a single allocation", lambda d: d, ["--cutoff", "0.0001"]),
    ("--weights must be comma-separated numbers", lambda d: d, ["--weights", "a,b"]),
]


@pytest.mark.parametrize(("message", "edit", "extra"), BAD_CSV)
def test_cli_bad_input_exit_2_one_line(tmp_path: Path, capsys, message, edit, extra):
    csv = tmp_path / "clusters.csv"
    edit(clusters()).to_csv(csv, index=False)
    args = [
        "randomise",
        str(csv),
        "--id",
        "id",
        "--strata",
        "catchment",
        "--balance",
        "list_size,imd_score",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--arms",
        "POD,TAU",
        *extra,
    ]
    code, _, err = _cli(args, capsys)
    assert code == 2
    assert err.startswith("odtrial: error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_cli_subprocess_exit_code(tmp_path: Path):
    csv = tmp_path / "c.csv"
    clusters().assign(catchment=lambda d: d["catchment"].where(d["id"] != "P02", "")).to_csv(
        csv, index=False
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "odtrial",
            "randomise",
            str(csv),
            "--id",
            "id",
            "--strata",
            "catchment",
            "--balance",
            "list_size",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--arms",
            "POD,TAU",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        "odtrial: error: cluster 'P02' is in no stratum (column 'catchment' is empty); give every cluster a stratum"
    )


def test_rerun_from_inputs_detects_a_consistently_rewritten_log(written: Path, tmp_path: Path):
    """Rewrite allocation.csv and every hash consistently: the chain verifies, the re-run does not."""
    from odtrial.randomise.log import _chain, canonical_json, sha256_file

    verify_allocation(written, clusters=clusters())
    entries = [json.loads(x) for x in (written / LOG_FILE).read_text().splitlines()]
    alloc = pd.read_csv(written / ALLOCATION_FILE, dtype=str)
    alloc["arm"] = alloc["arm"].map({"POD": "TAU", "TAU": "POD"})  # the mirror image
    alloc.to_csv(written / ALLOCATION_FILE, index=False, lineterminator="\n")
    data = entries[-1]["data"]
    data["allocation"] = [[c, a] for c, a in zip(alloc["id"], alloc["arm"], strict=True)]
    data["sha256"] = sha256_file(written / ALLOCATION_FILE)
    events = [(e["event"], e["data"]) for e in entries]
    (written / LOG_FILE).write_text("".join(canonical_json(e) + "\n" for e in _chain(events)))
    verify_allocation(written)  # a forger who rewrites everything passes the chain check ...
    with pytest.raises(RandomisationError, match="does not give the allocation"):
        verify_allocation(written, clusters=clusters())  # ... but not the re-run
    other = clusters().assign(imd_score=lambda d: d["imd_score"] + 1)
    with pytest.raises(RandomisationError, match="the cluster table differs"):
        verify_allocation(written, clusters=other)


def _alloc(seed: int):
    return constrained(
        clusters(),
        id="id",
        strata="catchment",
        balance=["list_size", "imd_score"],
        seed=seed,
        arms=("POD", "TAU"),
    )


def test_a_record_is_written_whole_and_replaced_whole(tmp_path: Path):
    out = tmp_path / "alloc"
    out.mkdir()
    source = out / "clusters.csv"
    clusters().to_csv(source, index=False)
    _alloc(3).write(out, source=source)
    # the cluster table randomised, already in the folder, is kept beside the record
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["clusters.csv", ALLOCATION_FILE, LOG_FILE, SPACE_FILE, VALIDITY_FILE, RECORD]
    )
    first = verify_allocation(out, clusters=source)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # an allocation is written once: another seed into the same folder changes no byte
    with pytest.raises(RandomisationError, match="already holds a randomisation record"):
        _alloc(4).write(out, source=source)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert verify_allocation(out, clusters=source).head == first.head
    assert first.parameters["seed"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["alloc"]  # no temporaries left


def test_writing_a_record_refuses_a_folder_that_is_not_one(tmp_path: Path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "minutes.txt").write_text("trial steering committee", encoding="utf-8")
    with pytest.raises(RandomisationError, match="was not written by odtrial"):
        _alloc(3).write(out)
    assert [p.name for p in out.iterdir()] == ["minutes.txt"]
