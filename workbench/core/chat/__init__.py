"""Chat with a model: locally through its chat template, or over HTTP with an OpenAI-compatible
server. Both backends share one call shape, `backend.reply(messages, settings, emit, cancel)`,
so the GUI drives them alike."""
