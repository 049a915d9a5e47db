"""What the tests and the benchmarks share: the scripted OpenAI-compatible server, the app runner, document makers."""
