"""Policies: whatever decides the assistant's next message (scripted, an OpenAI endpoint, a local model)."""
