"""Pseudonymisation keys and pseudonyms; identifier masking."""

from __future__ import annotations

import hashlib
import hmac
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data.masking import mask_dob, mask_dob_message, mask_free_text, mask_nhs
from odtrial.data.pseudonym import nhs_valid, pseudonym, pseudonymise, resolve_key
from odtrial.errors import IngestError
from odtrial.trial import parse_trial

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import KEY, trial_toml

ENV = "ODTRIAL_TEST_INGEST_KEY"


def _trial(test_key=KEY):
    return parse_trial(tomllib.loads(trial_toml({"T": "csv8"}, test_key=test_key)))


def test_key_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    trial = _trial()
    assert resolve_key(trial) == KEY.encode()  # synthetic trial: documented test key
    monkeypatch.setenv(ENV, "  key-from-the-environment \n")
    assert resolve_key(trial) == b"key-from-the-environment"
    kf = tmp_path / "key"
    kf.write_text("key-from-a-file-0001\n")
    assert resolve_key(trial, key_file=kf) == b"key-from-a-file-0001"
    assert resolve_key(trial, key="explicit-key-123456", key_file=kf) == b"explicit-key-123456"


def test_no_key_bad_key_file_and_short_key(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    trial = _trial(test_key=None)
    with pytest.raises(
        IngestError, match=rf"^no pseudonymisation key: set environment variable {ENV}"
    ):
        resolve_key(trial)
    with pytest.raises(IngestError, match=r"missing: cannot read pseudonymisation key file"):
        resolve_key(trial, key_file=tmp_path / "missing")
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(IngestError, match=r"is 3 bytes; at least 16 needed"):
        resolve_key(trial, key_file=short)


def test_pseudonym_is_hmac_sha256_prefix():
    key = b"0123456789abcdef"
    expected = "P" + hmac.new(key, b"9434765919", hashlib.sha256).hexdigest()[:16]
    assert pseudonym("9434765919", key) == expected
    s = pseudonymise(pd.Series(["9434765919", None, "9434765919"]), key)
    assert s.tolist() == [expected, pd.NA, expected]
    assert pseudonym("9434765919", b"another-key-0000") != expected


def test_modulus_11():
    # 943 476 591 -> weights sum 299, 299 % 11 = 2, check 9; check 10 is never issued
    s = pd.Series(["9434765919", "9434765910", "401023213", "4010232137x", "0000000000", None])
    assert nhs_valid(s).tolist() == [True, False, False, False, True, False]


def test_masks():
    assert mask_nhs(pd.Series(["9434765919", None])).tolist() == ["*** *** 5919", pd.NA]
    assert mask_dob(pd.Series(["1990-05-12", "12/05/1990", "??"])).tolist() == [
        "1990",
        "1990",
        "****",
    ]
    assert mask_dob_message("dob '1981-02-30x20' is bad", "1981-02-30x20") == "dob '1981' is bad"
    assert mask_free_text("x;943 476 5919;y;943-476-5919;9434765919") == (
        "x;*** *** 5919;y;*** *** 5919;*** *** 5919"
    )
    assert mask_free_text("dose 12345678 mg") == "dose 12345678 mg"  # 8 digits: not an NHS number
