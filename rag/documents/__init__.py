"""Documents: files to canonical text to chunks (normalisation, loading, formats, chunking, token counts)."""
