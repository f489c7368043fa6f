"""Keyed pseudonyms for NHS numbers (HMAC-SHA256).

The key never lives in the repository. It is taken, in this order, from an
explicit argument, a key file, the environment variable named by the trial
configuration (``[pseudonymisation] key_env``), or, for a synthetic trial
only, the configuration's documented ``test_key``.

``participant_id`` is ``"P"`` followed by the first 16 hex characters of
HMAC-SHA256(key, normalised NHS number): the same NHS number and key always
give the same pseudonym, and without the key it cannot be reversed.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Final

import pandas as pd

from odtrial.data.nhs import valid_nhs_numbers_as_stored
from odtrial.errors import IngestError
from odtrial.trial import Trial

#: Shortest key accepted from an environment variable or key file (bytes).
MIN_KEY_BYTES: Final = 16


def resolve_key(
    trial: Trial,
    *,
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
) -> bytes:
    """Find the pseudonymisation key.

    Parameters
    ----------
    trial
        The trial; names the environment variable and may carry a test key.
    key
        An explicit key (text is used as its UTF-8 bytes).
    key_file
        A file whose content (surrounding whitespace stripped) is the key.

    Raises
    ------
    IngestError
        No key anywhere, an unreadable or empty key file, or a key shorter
        than :data:`MIN_KEY_BYTES` bytes.
    """
    if key is not None:
        k = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        return _checked(k, "the key argument")
    if key_file is not None:
        p = Path(key_file)
        try:
            k = p.read_bytes().strip()
        except OSError as e:
            raise IngestError(
                f"{p}: cannot read pseudonymisation key file ({e.strerror})"
            ) from None
        return _checked(k, f"key file {p}")
    env = trial.pseudonymisation.key_env
    if os.environ.get(env):
        return _checked(os.environ[env].strip().encode("utf-8"), f"environment variable {env}")
    if trial.synthetic and trial.pseudonymisation.test_key:
        return trial.pseudonymisation.test_key.encode("utf-8")
    raise IngestError(
        f"no pseudonymisation key: set environment variable {env} or pass --key-file "
        "(a synthetic trial may set [pseudonymisation] test_key)"
    )


def _checked(k: bytes, where: str) -> bytes:
    if len(k) < MIN_KEY_BYTES:
        raise IngestError(
            f"pseudonymisation key from {where} is {len(k)} bytes; at least {MIN_KEY_BYTES} needed"
        )
    return k


def pseudonym(nhs_number: str, key: bytes) -> str:
    """The pseudonym of one normalised NHS number.

    Examples
    --------
    >>> pseudonym("9434765919", b"0123456789abcdef")[:1]
    'P'
    >>> len(pseudonym("9434765919", b"0123456789abcdef"))
    17
    """
    return "P" + hmac.digest(key, nhs_number.encode("utf-8"), "sha256").hex()[:16]


def pseudonymise(nhs: pd.Series, key: bytes, *, cache: dict[str, str] | None = None) -> pd.Series:
    """Pseudonyms of a column of normalised NHS numbers (NA stays NA).

    HMACs are computed once per distinct number (and, with ``cache``, once
    across calls), so events that repeat a participant's number cost a
    dictionary look-up, not a hash.
    """
    from odtrial.data.masking import map_unique

    memo: dict[str, str] = {} if cache is None else cache

    def one(u: str) -> str:
        v = memo.get(u)
        if v is None:
            v = memo[u] = pseudonym(u, key)
        return v

    return map_unique(nhs, one)


def nhs_valid(nhs: pd.Series) -> pd.Series:
    """Boolean mask: 10 digits passing the Modulus 11 check (vectorised).

    Examples
    --------
    >>> nhs_valid(pd.Series(["9434765919", "9434765918", "123", None])).tolist()
    [True, False, False, False]
    """
    out = valid_nhs_numbers_as_stored(nhs)
    return pd.Series(out, index=nhs.index)
