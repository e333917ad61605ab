"""Index many videos: in this process, or on a Ray cluster (``longvid[ray]``).

Both write the same index format and cache layout as ``longvid index`` (the offline engine's
``Indexer``), skip what is already indexed, and report each video's outcome.
"""

from longvid.batch.report import BatchReport, VideoOutcome
from longvid.batch.run import index_locally, index_outcome

__all__ = ["BatchReport", "VideoOutcome", "index_locally", "index_outcome"]
