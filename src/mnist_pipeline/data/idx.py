"""Read IDX files (the MNIST format) with their header checked, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline.plumbing.errors import DataError

_UBYTE = 0x08
# What fixes a bad raw file: the download stage re-fetches any file whose hash is wrong.
REFETCH = "rerun `dvc repro download`"


def read_idx(path: Path) -> np.ndarray:
    """Return the uint8 array an IDX file holds; a bad header or size is a `DataError`."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; {REFETCH}") from None
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != _UBYTE or blob[3] == 0:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); {REFETCH}")
    ndim = blob[3]
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DataError(f"{path} is truncated inside its header; {REFETCH}")
    shape = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(blob) != expected:
        raise DataError(f"{path} holds {len(blob)} bytes but its header {shape} needs {expected}; {REFETCH}")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)
