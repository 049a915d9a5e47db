"""Evaluation: question sets, dialogues, scoring and reports (``rag eval``)."""
