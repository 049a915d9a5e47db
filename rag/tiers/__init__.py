"""Tiers: the models that answer (OpenAI-compatible servers, the embedded llama.cpp server, the extractive tier)."""
