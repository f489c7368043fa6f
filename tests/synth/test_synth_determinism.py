from __future__ import annotations

import hashlib
import shutil

import pytest


def _digest(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    from odtrial.synth import generate

    root = tmp_path_factory.mktemp("det")
    return tuple(
        generate(root / name, seed=seed, participants=120)
        for name, seed in (("a", 3), ("b", 3), ("c", 4))
    )


def test_same_seed_same_bytes_for_every_file(three):
    a, b, _ = three
    da, db = _digest(a), _digest(b)
    assert da == db
    # 6 trusts x 7 tables + trial.toml + truth.json + 5 randomisation + 2 records of odtrial's
    # files + the unit costs and price index of the economic evaluation
    assert len(da) == 53


def test_different_seeds_different_data(three):
    a, _, c = three
    da, dc = _digest(a), _digest(c)
    assert da.keys() == dc.keys()
    fixed = {"unit_costs.toml", "price_index.toml"}  # configuration, not data
    assert all(da[k] != dc[k] for k in da if k not in fixed)
    assert all(da[k] == dc[k] for k in fixed)


def test_regenerating_replaces_odtrials_files_and_keeps_the_users(three, tmp_path):
    from odtrial.synth import generate

    shutil.copytree(three[0], tmp_path / "x")
    mine = tmp_path / "x" / "nelft" / "participants_2020-01-01.csv"
    mine.write_text("my own extract\n")
    generate(tmp_path / "x", seed=4, participants=120)
    got = _digest(tmp_path / "x")
    assert got.pop("nelft/participants_2020-01-01.csv") and mine.read_text() == "my own extract\n"
    assert got == _digest(three[2])


def test_generating_into_a_folder_odtrial_did_not_write_is_refused(tmp_path):
    from odtrial.errors import ConfigError
    from odtrial.synth import generate

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="was not written by odtrial"):
        generate(tmp_path / "x", seed=3, participants=120)
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["notes.txt"]
