"""The optimizer LLM: chat backends (backends.py), the embedded llama.cpp server (server.py, models.py),
the scripted fake model (scripted.py), reply parsing (parsing.py), proposals with retries and re-asks
(proposer.py), call records (records.py) and prices (pricing.py). See docs/llm-backends.md."""
