"""The ctranslate2 Whisper encoder in a process of its own.

ctranslate2 ships its own copy of the GNU OpenMP runtime. Loaded into the process that also
renders with torch (whose wheel has another copy), the two thread pools compete for the
cores for the rest of the process: on 2 CPU cores the lower-face render of a dub went from
0.174 to 0.23-0.28 s per frame after the encoder was loaded (docs/audio2exp.md). So
:class:`~audio2exp.whisper_features.WhisperEncoder` runs ctranslate2 here, in a worker
process, and the dub's own process never loads it.

Run as a script (``python whisper_worker.py FOLDER DEVICE INDEX COMPUTE THREADS``), it imports
only NumPy and ctranslate2. Protocol on its stdin / stdout, NumPy ``.npy`` arrays only (no
pickle): the worker first writes ``[n_mels]`` (int32); then, for each (B, n_mels, frames)
float32 log-mel array it reads, it writes the (B, frames / 2, dim) float32 encoder states. It
stops at the end of its input. When the model does not load it writes the reason as one line
to stderr and exits with 2.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def write_array(stream, array: np.ndarray) -> None:
    """One array to a pipe in the ``.npy`` format (magic string and header, then the raw bytes)."""
    array = np.ascontiguousarray(array)
    np.lib.format.write_array_header_2_0(stream, np.lib.format.header_data_from_array_1_0(array))
    stream.write(array.tobytes())
    stream.flush()


def read_array(stream) -> np.ndarray:
    """One ``.npy`` array from a pipe (plain dtypes only: an object array is refused)."""
    version = np.lib.format.read_magic(stream)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(stream)
    if dtype.hasobject or fortran:
        raise ValueError("only C-ordered arrays of plain numbers are exchanged")
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError(f"the array ended after {size - left} of {size} bytes")
        chunks.append(chunk)
        left -= len(chunk)
    return np.frombuffer(bytearray().join(chunks), dtype).reshape(shape)  # writable


class EncoderWorker:
    """The parent's end: starts the worker on ``folder`` and encodes log-mel arrays through it."""

    def __init__(self, folder: str | Path, device: str, index: int, compute_type: str, threads: int):
        self._errors = tempfile.TemporaryFile()
        args = [sys.executable, str(Path(__file__).resolve()), str(folder), device, str(index), compute_type, str(threads)]
        self._process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors)
        try:
            self.n_mels = int(read_array(self._process.stdout)[0])
        except (ValueError, EOFError):
            raise RuntimeError(self._failure()) from None

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """(B, n_mels, F) log-mel -> (B, F // 2, dim) float32 states (F = 3000 for a 30 s window)."""
        try:
            write_array(self._process.stdin, np.asarray(mel, np.float32))
            return read_array(self._process.stdout)
        except (BrokenPipeError, ValueError, EOFError):
            raise RuntimeError(self._failure()) from None

    def _failure(self) -> str:
        """The worker's own account of why it stopped (its last stderr line)."""
        self._process.wait(timeout=30)
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"the Whisper worker stopped (exit status {self._process.returncode})"

    def close(self) -> None:
        """End the worker (it stops at the end of its input)."""
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._errors.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _serve(folder: str, device: str, index: int, compute_type: str, threads: int) -> int:
    import ctranslate2

    try:
        model = ctranslate2.models.Whisper(folder, device=device, device_index=index, compute_type=compute_type, intra_threads=threads)
    except (RuntimeError, ValueError) as exc:
        print(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, file=sys.stderr)
        return 2
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    write_array(out, np.array([model.n_mels], np.int32))
    while inp.peek(1):
        mel = np.ascontiguousarray(read_array(inp), np.float32)
        write_array(out, np.asarray(model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True), np.float32))
    return 0


if __name__ == "__main__":
    folder, device, index, compute_type, threads = sys.argv[1:6]
    sys.exit(_serve(folder, device, int(index), compute_type, int(threads)))
