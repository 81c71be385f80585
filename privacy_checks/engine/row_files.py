"""Row files of the layer cache: a .npy streamed to disk batch by batch, and one read row by row.

Neither side maps a whole layer into memory: writes append batch after batch, and reads fetch only
the rows a training batch needs, so memory stays flat however large the corpus (a memory map would
keep every page it ever touched resident)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from privacy_checks import cache_seal


class StreamedArray:
    """A .npy written batch by batch, renamed into place when complete: in row order (`write`), or
    row by row at any index (`write_rows`: batches ordered by clip length)."""

    def __init__(self, path: Path, shape: tuple[int, ...], name: str):
        self.path = path
        self.name = name
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.row_shape = tuple(shape[1:])
        self.rows = 0
        self.file = open(self.tmp, "wb")  # noqa: SIM115 -- open across writes; commit/discard close it
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(self.file, header)
        self.data_offset = self.file.tell()
        self.total = shape[0]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * 4
        self.written: np.ndarray | None = None  # rows placed by write_rows

    def write(self, offset: int, batch: np.ndarray) -> None:
        assert offset == self.rows, "batches arrive in corpus order"
        self.file.write(np.ascontiguousarray(batch, dtype=np.float32).tobytes())
        self.rows += len(batch)

    def write_rows(self, indices: np.ndarray, batch: np.ndarray) -> None:
        """Row k of `batch` at row indices[k] of the array, in any order (each row once)."""
        if self.written is None:
            self.written = np.zeros(self.total, dtype=bool)
        rows = np.ascontiguousarray(batch, dtype=np.float32)
        for index, row in zip(np.asarray(indices, dtype=np.int64), rows):
            assert not self.written[index], f"row {index} written twice"
            self.file.seek(self.data_offset + int(index) * self.row_bytes)
            self.file.write(row.tobytes())
            self.written[index] = True
        self.rows = int(self.written.sum())

    def commit(self) -> None:
        assert self.rows == self.total, f"{self.rows} of {self.total} rows written"
        self.file.close()
        cache_seal.place_sealed(self.tmp, self.path, self.name)

    def discard(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class RowFile:
    """Read-only rows of a C-order .npy file: ``rows[indices]`` reads just those rows from disk."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran:
            raise ValueError(f"{path}: Fortran-order arrays are not supported")
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.row_bytes * self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        rows = np.arange(self.shape[0])[index]
        if np.ndim(rows) == 0:
            return self[np.array([rows])][0]
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        with open(self.path, "rb") as fh:
            start = 0
            while start < len(rows):  # one read per run of consecutive rows
                end = start + 1
                while end < len(rows) and rows[end] == rows[end - 1] + 1:
                    end += 1
                fh.seek(self.offset + int(rows[start]) * self.row_bytes)
                chunk = fh.read((end - start) * self.row_bytes)
                out[start:end] = np.frombuffer(chunk, dtype=self.dtype).reshape(end - start, *self.shape[1:])
                start = end
        return out

    def __array__(self, dtype=None, copy=None):
        array = self[:]
        return array if dtype is None else array.astype(dtype)
