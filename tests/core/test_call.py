"""ToolCall binding and classification."""

from __future__ import annotations

from agentgate._call import ToolCall, bind_arguments
from agentgate.analyzers.classify import classify
from agentgate.policy import EffectivePolicy, canonical, make_scope, match_resource


def test_binding_positional_keyword_defaults_varargs() -> None:
    """Positional and keyword calls bind identically; defaults apply; **kwargs flatten; *args kept."""

    def f(a: str, b: int = 2, *rest: str, c: str = "x", **kw: str) -> None: ...

    assert bind_arguments(f, ("q",), {}) == {"a": "q", "b": 2, "c": "x"}
    assert bind_arguments(f, (), {"a": "q"}) == bind_arguments(f, ("q",), {})
    assert bind_arguments(f, ("q", 3, "r1"), {"z": "v"}) == {"a": "q", "b": 3, "rest": ["r1"], "c": "x", "z": "v"}


def test_binding_of_calls_that_do_not_fit_keeps_every_value() -> None:
    """A call the function would reject still exposes every value to the analyzers."""

    def f(a: str) -> None: ...

    bound = bind_arguments(f, ("x", "rm -rf /"), {})
    assert "rm -rf /" in bound.values()


def test_string_arguments_walks_nested_structures() -> None:
    """Strings nested in dicts and lists are found with a dotted path."""
    call = ToolCall("t", {"body": {"links": ["a", {"url": "http://x"}]}, "n": 1})
    assert ("body.links[1].url", "http://x") in call.string_arguments()


def test_classification_name_conventions() -> None:
    """Tool and argument names give kind, operation and resources."""
    c = classify(ToolCall("transfer_funds", {"iban": "DE89", "amount": 5}))
    assert (c.kind, c.operation) == ("payment", "transfer")
    assert [(r.argument, r.kind) for r in c.resources] == [("iban", "account")]
    c = classify(ToolCall("update_config", {"key": "max_conn", "value": "5"}))
    assert c.operation == "configure"
    c = classify(ToolCall("send_email", {"to": "a@x.com, b@y.com"}))
    assert [r.value for r in c.resources] == ["a@x.com", "b@y.com"]


def test_operation_from_argument_content() -> None:
    """When the name says nothing, an operation argument decides; SQL text decides for SQL tools."""
    assert classify(ToolCall("files", {"operation": "delete", "path": "x"})).operation == "delete"
    assert classify(ToolCall("run_query", {"query": "SELECT 1"})).operation == "read"
    assert classify(ToolCall("run_query", {"query": "/* x */ DELETE FROM t"})).operation == "delete"


def test_sniffing_routes_values_wherever_they_sit() -> None:
    """A URL in an unrelated argument is an HTTP target; prose is not."""
    c = classify(ToolCall("summarize", {"notes": "http://169.254.169.254/", "text": "please update the report"}))
    assert [t.argument for t in c.targets.get("http", ())] == ["notes"]
    assert "sql" not in c.targets


def test_synonyms_and_matching_case_rules() -> None:
    """Synonyms canonicalize tool words; no operation implies another; hosts/emails/tables are case-insensitive; paths are not."""
    assert canonical("config") == "configure" and canonical("Pay") == "transfer"
    assert match_resource("*@acme.com", "Bob@ACME.com", "email")
    assert not match_resource("*@acme.com", "bob@acme.com.evil.io", "email")
    assert match_resource("reports/**", "reports/2026/q3.csv", "path")
    assert not match_resource("reports/**", "Reports/q3.csv", "path")
    assert not match_resource("reports", "reports-old/x", "path")
    pol = EffectivePolicy((make_scope(allowed_operations=["write"]),))
    assert pol.allows_operation("write") and not pol.allows_operation("delete") and not pol.allows_operation("send")


def test_account_matching_ignores_print_grouping() -> None:
    """An IBAN printed in groups of four, or in lower case, is the same account; another IBAN is not."""
    assert match_resource("DE44500105175407324931", "de44 5001 0517 5407 3249 31", "account")
    assert not match_resource("DE44500105175407324931", "DE44 5001 0517 5407 3249 32", "account")


def test_operation_is_the_first_verb_unless_a_later_one_destroys_or_pays() -> None:
    """Nouns that look like verbs do not change a read; a later delete or transfer verb does."""
    assert classify(ToolCall("get_release_notes", {})).operation == "read"
    assert classify(ToolCall("get_run_status", {})).operation == "read"
    assert classify(ToolCall("backup_and_delete", {})).operation == "delete"
    assert classify(ToolCall("send_payment", {})).operation == "transfer"
    assert classify(ToolCall("generate_invoice_pdf", {})).operation == "write"


def test_attachments_are_path_resources_and_path_commands_are_sniffed() -> None:
    """E-mail attachments are paths checked by the file analyzer; /bin/rm and fork bombs sniff as shell."""
    c = classify(ToolCall("send_email", {"to": "a@acme.com", "attachments": ["reports/q3.csv"]}))
    assert [(r.argument, r.kind) for r in c.resources if r.kind == "path"] == [("attachments", "path")]
    assert [t.argument for t in c.targets["file"]] == ["attachments[0]"]
    assert "shell" in classify(ToolCall("save_note", {"note": "/bin/rm -rf /"})).targets
    assert "shell" in classify(ToolCall("save_note", {"note": ":(){ :|:& };:"})).targets
