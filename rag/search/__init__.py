"""Search: chunks to a BM25 index, a question to top-k hits with a coverage judgement (follow-ups read earlier turns)."""
