"""A real MCP server (the ``mcp`` SDK's `MCPServer`) whose tools leave a trace of every run.

Run as a script (``python mcp_server.py LOG_PATH``) it serves stdio; `build_server`
gives the same server for in-process clients. Each tool appends ``name:arg`` to
the log file before answering, so a test can prove a blocked call never ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer


def build_server(log_path: str | Path) -> MCPServer:
    """The file-assistant server; side effects go to *log_path*."""
    log = Path(log_path)
    server = MCPServer("scripted-files")

    def trace(entry: str) -> None:
        with log.open("a", encoding="utf-8") as f:
            f.write(entry + "\n")

    @server.tool()
    def read_file(path: str) -> str:
        """Read a file."""
        trace(f"read_file:{path}")
        return f"contents of {path}"

    @server.tool()
    def delete_file(path: str) -> str:
        """Delete a file."""
        trace(f"delete_file:{path}")
        return "deleted"

    @server.tool()
    def send_email(to: str, body: str) -> str:
        """Send an e-mail."""
        trace(f"send_email:{to}")
        return "sent"

    return server


if __name__ == "__main__":
    build_server(sys.argv[1]).run("stdio")
