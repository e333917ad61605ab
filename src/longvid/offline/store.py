"""The on-disk index of one video: SQLite (segments + FTS5) and an embedding ``.npy``.

Design decisions:
- Location: ``<cache>/index/<content hash>/<settings key>/`` (see ``hashing`` and
  ``IndexSettings.key``); the key includes ``INDEX_FORMAT_VERSION``, so an index made by another
  version or with other settings is never opened for this one. ``manifest.json`` repeats the
  version and settings, and an index whose manifest disagrees is rebuilt, never misread.
- Written atomically: everything is assembled in a sibling temp folder and renamed into place,
  so a crash leaves either the old index or none.
- Integrity: the manifest records the sha256 of the database and the embedding file and the
  segment count; ``open`` checks them and raises ``IndexCorruptError`` saying what to do. The
  files are small (about 1-3 MB per hour of video), so hashing them costs milliseconds.
- Keyword search is SQLite FTS5 with bm25 over three columns (transcript, on-screen text, tags),
  plus a trigram FTS5 table over on-screen text for substring matches (OCR drops spaces).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from longvid.errors import IndexCorruptError
from longvid.offline.config import INDEX_FORMAT_VERSION

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DB = "index.sqlite"
EMB = "embeddings.npy"


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    transcript: str = ""
    on_screen: str = ""
    tags: tuple[str, ...] = ()
    keyframe: str | None = None  # file name inside the index's keyframes/ folder
    lines: tuple[dict, ...] = ()  # timed lines: {"start_s", "end_s", "text", "source"}

    def document(self) -> str:
        """The text embedded for retrieval."""
        parts = []
        if self.transcript:
            parts.append(f"Said: {self.transcript}")
        if self.on_screen:
            parts.append(f"On screen: {self.on_screen}")
        if self.tags:
            parts.append(f"Looks like: {', '.join(self.tags)}")
        return " ".join(parts) or "(nothing said or written)"


@dataclass
class VideoIndex:
    """A loaded index: segments, their embeddings, and the database for keyword search."""

    folder: Path
    manifest: dict
    segments: list[Segment]
    embeddings: np.ndarray  # (N, D) float32, unit rows
    _db: sqlite3.Connection | None = field(default=None, repr=False)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.folder / DB}?mode=ro", uri=True, check_same_thread=False)
        return self._db

    def keyframe_path(self, seg: Segment) -> str | None:
        return str(self.folder / "keyframes" / seg.keyframe) if seg.keyframe else None

    def keyword_search(self, words: list[str], limit: int) -> list[tuple[int, float]]:
        """(segment position, bm25; lower is better): FTS5 matches of any of ``words``."""
        words = [w for w in words if re.fullmatch(r"[a-z0-9]+", w)]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        rows = self.db.execute(
            "SELECT rowid, bm25(segments_fts) AS r FROM segments_fts WHERE segments_fts MATCH ? ORDER BY r LIMIT ?",
            (match, limit),
        ).fetchall()
        return [(int(r[0]) - 1, float(r[1])) for r in rows]

    def screen_substring_search(self, words: list[str], limit: int) -> list[tuple[int, float]]:
        """Trigram matches in on-screen text: OCR often drops spaces ("MountEverest"), so words
        are matched as substrings there."""
        words = [w for w in words if len(w) >= 3 and re.fullmatch(r"[a-z0-9]+", w)]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
        rows = self.db.execute(
            "SELECT rowid, bm25(screen_tri) AS r FROM screen_tri WHERE screen_tri MATCH ? ORDER BY r LIMIT ?",
            (match, limit),
        ).fetchall()
        return [(int(r[0]) - 1, float(r[1])) for r in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def index_folder(cache: Path, content_hash: str, settings_key: str) -> Path:
    return cache / "index" / content_hash / settings_key


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_index(
    folder: Path, manifest: dict, segments: list[Segment], embeddings: np.ndarray, keyframes_dir: Path | None
) -> None:
    """Write a complete index at ``folder`` atomically (temp folder + rename)."""
    assert embeddings.shape[0] == len(segments), (embeddings.shape, len(segments))
    tmp = folder.with_name(f".{folder.name}.writing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    db = sqlite3.connect(tmp / DB)
    try:
        db.executescript(
            """
            CREATE TABLE segments(id INTEGER PRIMARY KEY, start_s REAL, end_s REAL, transcript TEXT,
                                  on_screen TEXT, tags TEXT, keyframe TEXT, lines TEXT);
            CREATE VIRTUAL TABLE segments_fts USING fts5(transcript, on_screen, tags, tokenize='porter unicode61');
            CREATE VIRTUAL TABLE screen_tri USING fts5(on_screen, tokenize='trigram');
            """
        )
        rows = [
            (i + 1, s.start_s, s.end_s, s.transcript, s.on_screen, json.dumps(list(s.tags)), s.keyframe, json.dumps(list(s.lines)))
            for i, s in enumerate(segments)
        ]
        db.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?)", rows)
        db.executemany(
            "INSERT INTO segments_fts(rowid, transcript, on_screen, tags) VALUES (?,?,?,?)",
            [(i + 1, s.transcript, s.on_screen, " ".join(s.tags)) for i, s in enumerate(segments)],
        )
        db.executemany(
            "INSERT INTO screen_tri(rowid, on_screen) VALUES (?,?)",
            [(i + 1, s.on_screen.lower()) for i, s in enumerate(segments) if s.on_screen],
        )
        db.commit()
    finally:
        db.close()
    np.save(tmp / EMB, embeddings.astype(np.float32))
    if keyframes_dir is not None and keyframes_dir.exists():
        shutil.move(str(keyframes_dir), tmp / "keyframes")
    manifest = dict(manifest)
    manifest.update(
        format_version=INDEX_FORMAT_VERSION,
        num_segments=len(segments),
        sha256={DB: _sha256(tmp / DB), EMB: _sha256(tmp / EMB)},
    )
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def read_manifest(folder: Path) -> dict | None:
    """The manifest, or None when there is no index here. A damaged one raises IndexCorruptError."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _corrupt(folder, f"its manifest is unreadable ({exc})") from exc


def _corrupt(folder: Path, why: str) -> IndexCorruptError:
    return IndexCorruptError(
        f"the index at {folder} is damaged: {why}. Delete that folder, or rebuild it with "
        "`longvid index --rebuild VIDEO` (or OfflineEngine(rebuild=True))"
    )


def open_index(folder: Path, manifest: dict) -> VideoIndex:
    """Load and verify an index whose manifest was already read and matched."""
    for name in (DB, EMB):
        if not (folder / name).is_file():
            raise _corrupt(folder, f"{name} is missing")
        expected = manifest.get("sha256", {}).get(name)
        if expected != _sha256(folder / name):
            raise _corrupt(folder, f"{name} does not match its recorded checksum")
    try:
        emb = np.load(folder / EMB)
        db = sqlite3.connect(f"file:{folder / DB}?mode=ro", uri=True, check_same_thread=False)
        rows = db.execute(
            "SELECT start_s, end_s, transcript, on_screen, tags, keyframe, lines FROM segments ORDER BY id"
        ).fetchall()
    except (sqlite3.DatabaseError, ValueError, OSError) as exc:
        raise _corrupt(folder, f"it cannot be read ({exc})") from exc
    segments = [
        Segment(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), r[5], tuple(json.loads(r[6]))) for r in rows
    ]
    if len(segments) != manifest.get("num_segments") or emb.shape[0] != len(segments):
        db.close()
        raise _corrupt(folder, f"{len(segments)} segments but {emb.shape[0]} embeddings")
    return VideoIndex(folder, manifest, segments, emb, db)
