"""``agentgate test``: run policy test files against a policy, like ``opa test``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._errors import ConfigError, PolicyStoreError
from ._common import EXIT_BLOCK, EXIT_OK, EXIT_USAGE, dump_json

__all__ = ["command"]

DEFAULT_PATH = "policy-tests"


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--policy",
    "-p",
    envvar="AGENTGATE_CONFIG",
    show_envvar=True,
    help="The policy to test: a file, a store URL, or <store URL>#<revision> (default: ./agentgate.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print {passed, failed, results: [...]} as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Print every test, not only the failures.")
def command(paths: tuple[str, ...], policy: str | None, as_json: bool, verbose: bool) -> None:
    """Run policy test files (calls and their expected verdicts) against a policy.

    PATHS are files or directories of *.yaml (default ./policy-tests). Each test is a call (tool, arguments; optional agent and scope) and the tier-1 verdict
    (allow, block, escalate) and optionally the rule the policy must give it.
    Exit status: 0 every test passed, 1 a test failed, 2 usage or parse error (file:line).
    """
    from ..policy.preview import candidate_firewall, load_policy_tests, run_policy_tests

    target = policy or "agentgate.yaml"
    try:
        tests = load_policy_tests(list(paths) or [DEFAULT_PATH])
        fw = candidate_firewall(target)
    except (ConfigError, PolicyStoreError) as e:
        click.echo(f"agentgate: error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        results = run_policy_tests(tests, fw)
    finally:
        fw.shutdown(1.0)
    failed = [r for r in results if not r.passed]
    if as_json:
        out = {
            "policy": target,
            "revision": fw.policy_revision,
            "passed": len(results) - len(failed),
            "failed": len(failed),
            "results": [r.to_dict() for r in results],
        }
        click.echo(dump_json(out))
    else:
        for r in results:
            t = r.test
            if r.passed and not verbose:
                continue
            where = f"{Path(t.file).name}:{t.line}"
            if r.passed:
                click.echo(f"PASS {t.name} ({where})")
                continue
            want = t.verdict + (f" by {t.rule}" if t.rule else "")
            got = r.verdict + (f" by {r.rule}" if r.rule else "")
            click.echo(f"FAIL {t.name} ({where})\n     expected {want}, got {got}: {r.reason}")
        total = len(results)
        line = f"{'PASS' if not failed else 'FAIL'}: {total - len(failed)}/{total} passed (policy {target} @ {fw.policy_revision})"
        click.echo("-" * min(len(line), 79) + "\n" + line)
    sys.exit(EXIT_BLOCK if failed else EXIT_OK)
