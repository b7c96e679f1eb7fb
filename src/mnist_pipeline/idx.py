"""Read IDX files (the MNIST format) with their header checked, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_pipeline.errors import DataError

_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Return the uint8 array an IDX file holds; a bad header or size is a `DataError`."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"cannot read {path}: {exc.strerror}; rerun the download stage (`dvc repro download`)"
        ) from None
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != _UBYTE or blob[3] == 0:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); rerun `dvc repro download`")
    ndim = blob[3]
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DataError(f"{path} is truncated inside its header; rerun `dvc repro download`")
    shape = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(blob) != expected:
        raise DataError(
            f"{path} holds {len(blob)} bytes but its header {shape} needs {expected}; rerun `dvc repro download`"
        )
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)
