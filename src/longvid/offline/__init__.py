"""The offline default engine: answers questions about long videos on a CPU, citing moments.

Pipeline (each stage a registered, replaceable part; defaults in ``longvid.offline.config``):

1. ingest at 1 fps (``longvid.io``: streaming, bounded memory), 16 kHz mono audio, subtitles;
2. visual: per-frame EfficientNet-Lite0 features -> LongVU temporal reduction -> scenes, ImageNet
   tags per scene (``visual``); on-screen text by OCR on the kept frames only (``ocr``);
3. speech: voice activity + Whisper tiny.en (``speech``);
4. a timeline of segments embedded with MiniLM (``embed``), stored in SQLite/FTS5 + ``.npy``
   keyed by content hash and settings (``store``), built resumably (``indexer``);
5. hybrid retrieval (``retrieval``) and a grounded short answer by a small LLM (``answer``).

``OfflineEngine`` in ``longvid.offline.engine`` ties it together; importing this package is light.
"""
