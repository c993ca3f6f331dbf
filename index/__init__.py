"""Storage behind a small protocol (`storage.py`; SQLite + FTS5 + FAISS by default), sentence
segmentation with exact offsets, the two networks (embedder and reader), and reading articles in
(text, files, JSONL, links)."""
