"""LLM usage and spend from the providers' own APIs (OpenAI, Anthropic admin APIs)."""
