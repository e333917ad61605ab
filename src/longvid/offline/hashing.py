"""A cheap content hash of a video file, the first half of an index key.

Design decisions:
- Hashing a multi-GB file end to end costs as much as decoding it, so the hash reads the file
  size plus ``CHUNKS`` chunks of ``CHUNK_BYTES`` at evenly spaced offsets (the first at byte 0,
  the last ending at the last byte): blake2b-128 over the size and those bytes. Renaming or
  moving a file keeps its index; re-encoding or editing it changes the size or sampled bytes.
- Not cryptographic protection against a crafted collision (not a threat here): it tells two
  different videos apart and finds the same video again.
"""

from __future__ import annotations

import hashlib
import os

CHUNKS = 16  # sampled chunks per file
CHUNK_BYTES = 64 * 1024  # bytes per chunk: 1 MiB read per file in all


def content_hash(path: str | os.PathLike) -> str:
    size = os.path.getsize(path)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        if size <= CHUNKS * CHUNK_BYTES:
            h.update(f.read())
        else:
            last = size - CHUNK_BYTES
            for i in range(CHUNKS):
                f.seek(last * i // (CHUNKS - 1))
                h.update(f.read(CHUNK_BYTES))
    return h.hexdigest()
