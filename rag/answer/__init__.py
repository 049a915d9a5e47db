"""Answer: one turn, from hits to prompt to a plan of tiers with escalation, as a stream of events."""
