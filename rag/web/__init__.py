"""Web: the chat layer under the Chainlit app (turns, uploads, history), the /demo page, wording and charts."""
