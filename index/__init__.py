"""Storage behind a small protocol (`storage.py`; SQLite + BM25 postings + FAISS by default), sentence
segmentation with exact offsets, the two networks (embedder and reader), and reading articles in
(text, files, JSONL, links)."""
