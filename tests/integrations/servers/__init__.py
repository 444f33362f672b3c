"""Local servers the integration tests talk to: scripted LLM endpoints and an MCP server."""
