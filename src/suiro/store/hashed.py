"""Binary files that hash what passes through them: how the store streams an object.

The artifact store writes a task's output through ``HashingWriter`` (the digest is known once the
serializer is done, without the bytes ever held in memory) and reads a streamed format back
through ``HashingReader``. Knows nothing of digests' meaning, paths or serializers.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO


class HashingReader(io.RawIOBase):
    """A read-only view of ``file`` that hashes everything read through it."""

    def __init__(self, file: BinaryIO):
        super().__init__()
        self._file = file
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._file.readinto(buffer)  # type: ignore[attr-defined]
        self._hash.update(memoryview(buffer)[:n])
        return n

    def drain(self) -> None:
        """Read (and hash) whatever the decoder left unread, up to the end."""
        while chunk := self._file.read(1 << 20):
            self._hash.update(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class HashingWriter(io.BufferedIOBase):
    """A write-only file that hashes and counts what passes through to ``file``.

    Rewinding to the start and truncating (what ``serializers.dump`` does before it falls back
    to pickle) starts the hash and the count again.
    """

    def __init__(self, file: BinaryIO):
        super().__init__()
        self._file = file
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # bytes, memoryview or a pickle.PickleBuffer
        view = memoryview(data).cast("B")
        self._file.write(view)
        self._hash.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (offset, whence) not in ((0, io.SEEK_SET), (0, io.SEEK_CUR), (0, io.SEEK_END)):
            raise io.UnsupportedOperation("an artifact is written front to back")
        if whence == io.SEEK_SET and self.size:
            self._file.seek(0)
            self._hash, self.size = hashlib.sha256(), 0
        return self.size

    def truncate(self, size: int | None = None) -> int:
        if size not in (None, self.size):
            raise io.UnsupportedOperation("an artifact is truncated only where it is written up to")
        self._file.truncate(self.size)
        return self.size

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
