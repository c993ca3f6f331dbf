"""Segmentation, embeddings, FAISS vectors and SQLite storage for article collections."""
