"""The OpenAPI 3.1 description of the ``/v1`` API, served at ``GET /v1/openapi.json``.

Written by hand next to the routes (a test checks that every ``/v1`` route of the app
is described and nothing else), so it says what the handlers actually accept.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

__all__ = ["document"]

_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_AUTH = {"401": {**_ERR, "description": "no or unknown token"}, "403": {**_ERR, "description": "role too low, or CSRF"}}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

_ANSWER = {
    "requestBody": {"required": True, **_json("Answer")},
    "responses": {
        "200": {"description": "the answered approval", **_json("Approval")},
        "400": {**_ERR, "description": "no reason given"},
        "404": {**_ERR, "description": "no such approval"},
        "409": {**_ERR, "description": "already answered, or expired"},
        **_AUTH,
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
    "DecideRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["tool"],
        "properties": {
            "tool": {"type": "string", "minLength": 1},
            "arguments": {"type": "object", "default": {}},
            "agent_id": {"type": "string", "description": "selects the agent policy; keys rate limits and history"},
            "task_id": {"type": "string", "description": "keys history rules (shared through Redis)"},
            "user_id": {"type": "string"},
            "task": {"type": "string", "description": "the user's task in words (the judge reads it)"},
            "trusted_inputs": {"type": "array", "items": {"type": "string"}},
            "scope": {
                "type": "object",
                "additionalProperties": False,
                "description": "narrows the policy for this call, like agentgate.scope()",
                "properties": {
                    "task": {"type": "string"},
                    "allowed_resources": {"type": "array", "items": {"type": "string"}},
                    "allowed_operations": {"type": "array", "items": {"type": "string"}},
                    "deny_operations": {"type": "array", "items": {"type": "string"}},
                    "denied_resources": {"type": "array", "items": {"type": "string"}},
                    "max_rate": {"type": "integer", "minimum": 1},
                    "tools": {"type": "object"},
                    "arguments": {"type": "object"},
                    "history": {"type": "array", "items": {"type": "object"}},
                },
            },
            "history": {
                "type": "array",
                "maxItems": 50,
                "description": "the agent's recent calls, oldest first (provenance rules and the judge read them)",
                "items": {
                    "type": "object",
                    "required": ["tool"],
                    "properties": {
                        "tool": {"type": "string"},
                        "arguments": {"type": "object"},
                        "verdict": {"enum": ["allow", "block"], "default": "allow"},
                        "result": {"description": "what the tool returned"},
                    },
                },
            },
        },
    },
    "Finding": {
        "type": "object",
        "properties": {
            "rule_id": {"type": "string"},
            "severity": {"type": "string"},
            "effect": {"type": "string"},
            "message": {"type": "string"},
            "evidence": {},
            "argument": {"type": ["string", "null"]},
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["action", "policy_name", "reasoning", "decision_id", "policy_revision"],
        "properties": {
            "action": {"enum": ["allow", "block"]},
            "tier_used": {"type": "integer"},
            "policy_name": {"type": "string"},
            "severity": {"type": "string"},
            "reasoning": {"type": "string"},
            "confidence": {"type": "number"},
            "reversible": {"type": "boolean"},
            "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}},
            "decision_id": {"type": "string"},
            "latency_us": {"type": "number"},
            "policy_revision": {"type": "string"},
            "mode": {"enum": ["enforce", "monitor"]},
            "would_block": {"type": "boolean"},
            "judge_model": {"type": ["string", "null"]},
            "judge_latency_ms": {"type": ["number", "null"]},
        },
    },
    "Approval": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": ["pending", "approved", "denied", "expired"]},
            "tool": {"type": "string"},
            "agent_id": {"type": "string"},
            "task_id": {"type": "string"},
            "created_at": {"type": "number", "description": "epoch seconds"},
            "expires_at": {"type": "number"},
            "decided_at": {"type": ["number", "null"]},
            "decided_by": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"]},
            "request": {"type": "object", "description": "the call as the approver sees it (secrets masked)"},
        },
    },
    "Answer": {
        "type": "object",
        "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1}},
    },
    "Session": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": ["viewer", "approver", "editor", "admin", "agent"]},
            "via": {"enum": ["token", "session", "local"]},
            "csrf": {
                "type": ["string", "null"],
                "description": "send as X-CSRF-Token with cookie-authenticated writes",
            },
        },
    },
}

_PATHS: dict[str, Any] = {
    "/v1/decide": {
        "post": {
            "summary": "Decide a tool call under the loaded policy and record it in the audit trail",
            "description": "Role: agent (or admin). Waits for a human when the policy asks the approval queue.",
            "requestBody": {"required": True, **_json("DecideRequest")},
            "responses": {
                "200": {"description": "the verdict", **_json("Verdict")},
                "400": {**_ERR, "description": "invalid request (the reason says which field)"},
                **_AUTH,
            },
        }
    },
    "/v1/approvals": {
        "get": {
            "summary": "Queued calls, newest first",
            "description": "Role: viewer.",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"enum": ["pending", "approved", "denied", "expired", "all"], "default": "pending"},
                },
                {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100, "maximum": 1000}},
            ],
            "responses": {
                "200": {
                    "description": "the approvals",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "approvals": {"type": "array", "items": {"$ref": "#/components/schemas/Approval"}},
                                    "count": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                **_AUTH,
            },
        }
    },
    "/v1/approvals/{id}": {
        "get": {
            "summary": "One approval",
            "description": "Role: viewer.",
            "parameters": [_ID],
            "responses": {"200": {"description": "the approval", **_json("Approval")}, "404": _ERR, **_AUTH},
        }
    },
    "/v1/approvals/{id}/approve": {
        "post": {"summary": "Let the queued call run", "description": "Role: approver.", "parameters": [_ID], **_ANSWER}
    },
    "/v1/approvals/{id}/deny": {
        "post": {"summary": "Block the queued call", "description": "Role: approver.", "parameters": [_ID], **_ANSWER}
    },
    "/v1/session": {
        "get": {
            "summary": "Who is calling, and the CSRF token of a browser session",
            "description": "Any role.",
            "responses": {"200": {"description": "the caller", **_json("Session")}, **_AUTH},
        }
    },
    "/v1/openapi.json": {
        "get": {
            "summary": "This description",
            "description": "No authentication.",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }
    },
}


def document(extra_paths: dict[str, Any] | None = None, extra_schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI document (route modules added later pass their paths and schemas)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AgentGate decision and management API",
            "version": __version__,
            "description": "Roles: viewer < approver < editor < admin; agent may only decide. See docs/api.md.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "agentgate_session"},
            },
            "schemas": {**_SCHEMAS, **(extra_schemas or {})},
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": {**_PATHS, **(extra_paths or {})},
    }
