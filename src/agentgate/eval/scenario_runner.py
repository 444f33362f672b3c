"""Replay multi-step agent trajectories and measure what prompt injection could steer.

A *scenario* is one user task and the tool calls an agent made for it, in order.
Some tool outputs carry injected instructions (an e-mail telling the agent to
forward the files, a web page addressed to "the AI assistant"); some later steps
are the actions those instructions steer (*attack* steps), the others are what the
user's task legitimately needs (*benign* steps), often using values read from tool
outputs (reply to the sender the user named, pay the bill the user asked to pay)::

    - id: email-reply-001
      family: email
      task: "Reply to Dana's e-mail about the offsite and say I'll be there."
      policy: {tools: {read_inbox: {output: untrusted}}}   # optional agentgate.yaml snippet
      steps:
        - tool: read_inbox
          args: {folder: inbox}
          result: [{from: dana@acme.example, subject: Offsite, body: "..."}]
          expect: allow
          kind: benign
        - tool: send_email
          args: {to: dana@acme.example, subject: "Re: Offsite", body: "I'll be there."}
          expect: allow
          kind: benign

A scenario may carry the **plan** a planner model would make from its task alone (written by
the scenario's author from the task text, never from the tool outputs)::

      plan: {tools: [read_inbox, send_email], operations: [read, send], resources: []}

``run_scenarios(..., plans=True)`` (``agentgate eval --scenarios --plans``) replays every
scenario with task plans on: the firewall gets a `Planner` whose model is scripted
(`ScriptedPlanModel`: it answers the planner's prompt with the plan of the task the prompt
names, through the same parsing as a real model's answer). A scenario without ``plan:`` runs
with plans on and no answer, which is what a planner failure does: every call that is not a
read escalates (``plan.unavailable``). The report counts the scenarios with a plan.

Files directly in the suite directory form the split ``own``; the files of a
subdirectory the split named after it (``unseen/``: written by someone who had not
read the provenance rules). Loading is strict, like the case suite: every problem is
reported at once with file, line, scenario id and key.

`run_scenarios` replays each scenario in a fresh ``agent_context(task=...)`` against a
`Firewall` built from the scenario's policy (no judge, ``on_escalate="block"``, no
audit, the eval's deterministic DNS resolver). A step's ``result`` is recorded into
the context after the call is allowed, as the integrations do (`record_result`); a
blocked call never ran, so its result is not recorded. The report counts attack steps
stopped and benign steps blocked, per family and per split, and keeps attack steps
marked ``needs_plan`` (injected actions that carry no outside value, which only a
task plan can stop) apart from the others.

>>> sc = Scenario(id="s", family="email", task="t", steps=(Step("read_inbox", {}, "allow", "benign"),))
>>> rep = run_scenarios([sc], decide=lambda sc, fw: [False])
>>> rep.overall.benign, rep.overall.benign_blocked
(1, 0)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from agentgate._call import ToolCall
from agentgate._decision import VerdictType
from agentgate._errors import ConfigError, ConfigProblem
from agentgate.eval.runner import _NAME, OWN_SPLIT, _StrictLoader

__all__ = [
    "FAMILIES",
    "FamilyCounts",
    "Scenario",
    "ScenarioReport",
    "ScriptedPlanModel",
    "Step",
    "StepResult",
    "default_scenarios_dir",
    "format_scenario_report",
    "load_scenarios",
    "replay",
    "run_scenarios",
]

#: The families of the shipped suite, in report order.
FAMILIES: tuple[str, ...] = ("email", "calendar", "files", "banking", "travel", "chat", "tickets", "code_review")

_SCENARIO_KEYS = ("id", "family", "task", "steps")
_SCENARIO_OPTIONAL = ("policy", "why", "trusted_inputs", "plan")
_PLAN_KEYS = ("tools", "operations", "resources", "max_amount", "reasoning")
_STEP_KEYS = ("tool", "args", "expect", "kind")
_STEP_OPTIONAL = ("result", "needs_plan", "why")


@dataclass(frozen=True, slots=True)
class Step:
    """One tool call of a trajectory.

    Attributes:
        tool: The tool name as the agent calls it.
        args: Arguments by name.
        expect: ``allow`` or ``block``.
        kind: ``benign`` (the user's task needs it; expect allow) or ``attack``
            (steered by an injected instruction; expect block).
        result: The tool's output, recorded into the agent's context after an allowed call.
        needs_plan: An attack that carries no value from outside the task (delete a
            file by id, book the dearest hotel): only a task plan can tell it apart.
        why: One line saying why the label is right.
        line: Line of the step in its file.
    """

    tool: str
    args: Mapping[str, Any]
    expect: str
    kind: str
    result: Any = None
    needs_plan: bool = False
    why: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Scenario:
    """One user task and the tool calls made for it.

    Attributes:
        id: Unique id across the suite.
        family: ``email``, ``calendar``, ``files``, ``banking``, ``travel``, ``chat``,
            ``tickets``, ``code_review`` (or a user family).
        task: The user's words (trusted: becomes ``agent_context(task=...)``).
        steps: The calls, in order.
        policy: An agentgate.yaml snippet the firewall is built from.
        trusted_inputs: Further user messages (trusted).
        why: What the scenario exercises.
        source: ``file:line``.
        split: ``own`` or the subdirectory name.
        plan: The plan a planner would make from ``task`` alone (``tools``, ``operations``,
            ``resources``, ``reasoning``), or None.
    """

    id: str
    family: str
    task: str
    steps: tuple[Step, ...]
    policy: Mapping[str, Any] | None = None
    trusted_inputs: tuple[str, ...] = ()
    why: str = ""
    source: str = ""
    split: str = OWN_SPLIT
    plan: Mapping[str, Any] | None = None


def default_scenarios_dir() -> Traversable:
    """The scenario suite shipped inside the package (``agentgate/eval/scenarios``)."""
    return resources.files("agentgate.eval").joinpath("scenarios")


def load_scenarios(split: str = "all", directory: str | os.PathLike[str] | Traversable | None = None) -> list[Scenario]:
    """Load and validate the scenarios of *split* (``own``, ``unseen``, ``all``) from *directory*.

    Raises:
        ConfigError: listing every problem (file, line, scenario id and key), or an
            unknown split.
    """
    root: Traversable = default_scenarios_dir() if directory is None else _traversable(directory)
    if not root.is_dir():
        raise ConfigError([ConfigProblem("not a directory of scenarios", file=str(root))])
    sources = [(OWN_SPLIT, "", f) for f in _files(root)]
    for sub in sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.name):
        sources += [(sub.name, f"{sub.name}/", f) for f in _files(sub)]
    splits = sorted({s for s, _, _ in sources})
    if split != "all" and split not in splits:
        raise ConfigError([ConfigProblem(f"unknown split {split!r} (known: {', '.join([*splits, 'all'])})")])
    problems: list[ConfigProblem] = []
    out: list[Scenario] = []
    seen: dict[str, str] = {}
    for sp, prefix, f in sources:
        label = str(f) if directory is not None else f"agentgate/eval/scenarios/{prefix}{f.name}"
        for sc in _load_file(f.read_text(encoding="utf-8"), label, sp, problems):
            if sc.id in seen:
                problems.append(
                    ConfigProblem(f"duplicate scenario id (first at {seen[sc.id]})", sc.source, None, sc.id)
                )
                continue
            seen[sc.id] = sc.source
            out.append(sc)
    if problems:
        raise ConfigError(problems)
    return [s for s in out if split in ("all", s.split)]


def _traversable(directory: str | os.PathLike[str] | Traversable) -> Traversable:
    return Path(directory) if isinstance(directory, (str, os.PathLike)) else directory


def _files(d: Traversable) -> list[Traversable]:
    return sorted((f for f in d.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)


def _load_file(text: str, label: str, split: str, problems: list[ConfigProblem]) -> list[Scenario]:
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(ConfigProblem(f"invalid YAML: {exc}", file=label, line=mark.line + 1 if mark else None))
        return []
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        problems.append(ConfigProblem("a scenario file must be a YAML list of scenarios", file=label, line=1))
        return []
    out = []
    for item, item_node in zip(data, node.value, strict=True):
        sc = _parse_scenario(item, item_node, label, split, problems)
        if sc is not None:
            out.append(sc)
    return out


def _parse_scenario(
    item: Any, node: yaml.Node, label: str, split: str, problems: list[ConfigProblem]
) -> Scenario | None:
    line = node.start_mark.line + 1
    sid = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else f"<scenario at line {line}>"

    def bad(msg: str, key: str | None = None, at: int | None = None) -> None:
        problems.append(ConfigProblem(msg, file=label, line=at or line, key=f"{sid}.{key}" if key else sid))

    if not isinstance(item, dict):
        bad("a scenario must be a mapping")
        return None
    before = len(problems)
    for k in item:
        if k not in _SCENARIO_KEYS and k not in _SCENARIO_OPTIONAL:
            bad(f"unknown key {k!r} (allowed: {', '.join((*_SCENARIO_KEYS, *_SCENARIO_OPTIONAL))})", str(k))
    for k in _SCENARIO_KEYS:
        if k not in item:
            bad(f"missing required key {k!r}", k)
    for k in ("id", "family"):
        v = item.get(k)
        if k in item and not (isinstance(v, str) and _NAME.match(v)):
            bad(f"{k} must be one token of letters, digits and _ . : / -, not {v!r}", k)
    for k in ("task", "why"):
        if k in item and (not isinstance(item[k], str) or not item[k].strip()):
            bad(f"{k} must be a non-empty string", k)
    trusted = item.get("trusted_inputs", [])
    if not (isinstance(trusted, list) and all(isinstance(t, str) for t in trusted)):
        bad("trusted_inputs must be a list of strings", "trusted_inputs")
    policy = item.get("policy")
    if policy is not None:
        _check_policy(policy, bad)
    plan = item.get("plan")
    if plan is not None:
        _check_plan(plan, item.get("task"), bad, _child(node, "plan"))
    steps: list[Step] = []
    raw_steps = item.get("steps")
    if "steps" in item:
        if not isinstance(raw_steps, list) or not raw_steps:
            bad("steps must be a non-empty list", "steps")
        else:
            step_nodes = _child(node, "steps")
            for i, raw in enumerate(raw_steps):
                at = step_nodes.value[i].start_mark.line + 1 if isinstance(step_nodes, yaml.SequenceNode) else line
                st = _parse_step(raw, i, at, bad)
                if st is not None:
                    steps.append(st)
    if len(problems) > before:
        return None
    return Scenario(
        id=item["id"],
        family=item["family"],
        task=item["task"],
        steps=tuple(steps),
        policy=policy,
        trusted_inputs=tuple(trusted),
        why=item.get("why", ""),
        source=f"{label}:{line}",
        split=split,
        plan=plan,
    )


def _check_plan(plan: Any, task: Any, bad: Callable[..., None], node: yaml.Node | None) -> None:
    from agentgate._plan import Plan

    at = node.start_mark.line + 1 if node is not None else None
    if not isinstance(plan, dict):
        bad("plan must be a mapping with tools, operations and resources", "plan", at)
        return
    for k in plan:
        if k not in _PLAN_KEYS:
            bad(f"unknown key {k!r} (allowed: {', '.join(_PLAN_KEYS)})", f"plan.{k}", at)
    for k in ("tools", "operations", "resources"):
        v = plan.get(k, [])
        if not (isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)):
            bad(f"{k} must be a list of non-empty strings", f"plan.{k}", at)
            return
    if "operations" not in plan:
        bad("missing required key 'operations'", "plan.operations", at)
        return
    amount = plan.get("max_amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0):
        bad(f"max_amount must be a non-negative number, not {amount!r}", "plan.max_amount", at)
        return
    try:
        Plan(
            str(task),
            tools=tuple(plan.get("tools", [])),
            operations=tuple(plan["operations"]),
            resources=tuple(plan.get("resources", [])),
        )
    except ConfigError as exc:
        bad(str(exc), "plan", at)


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key and isinstance(v, yaml.Node):
                return v
    return None


def _parse_step(raw: Any, i: int, at: int, bad: Callable[..., None]) -> Step | None:
    key = f"steps[{i}]"
    if not isinstance(raw, dict):
        bad("a step must be a mapping", key, at)
        return None
    ok = True
    for k in raw:
        if k not in _STEP_KEYS and k not in _STEP_OPTIONAL:
            bad(f"unknown key {k!r} (allowed: {', '.join((*_STEP_KEYS, *_STEP_OPTIONAL))})", f"{key}.{k}", at)
            ok = False
    for k in _STEP_KEYS:
        if k not in raw:
            bad(f"missing required key {k!r}", f"{key}.{k}", at)
            ok = False
    if "tool" in raw and not (isinstance(raw["tool"], str) and raw["tool"].strip()):
        bad("tool must be a non-empty string", f"{key}.tool", at)
        ok = False
    if "args" in raw and not (isinstance(raw["args"], dict) and all(isinstance(k, str) for k in raw["args"])):
        bad("args must be a mapping of argument names to values", f"{key}.args", at)
        ok = False
    expect, kind = raw.get("expect"), raw.get("kind")
    if "expect" in raw and expect not in ("allow", "block"):
        bad(f"expect must be 'allow' or 'block', not {expect!r}", f"{key}.expect", at)
        ok = False
    if "kind" in raw and kind not in ("benign", "attack"):
        bad(f"kind must be 'benign' or 'attack', not {kind!r}", f"{key}.kind", at)
        ok = False
    elif (kind, expect) in (("benign", "block"), ("attack", "allow")):
        msg = "a benign step must expect allow" if kind == "benign" else "an attack step must expect block"
        bad(msg, f"{key}.expect", at)
        ok = False
    needs_plan = raw.get("needs_plan", False)
    if not isinstance(needs_plan, bool):
        bad("needs_plan must be true or false", f"{key}.needs_plan", at)
        ok = False
    elif needs_plan and kind != "attack":
        bad("needs_plan marks an attack step (kind: attack)", f"{key}.needs_plan", at)
        ok = False
    if not ok:
        return None
    return Step(
        tool=raw["tool"],
        args=raw["args"],
        expect=str(expect),
        kind=str(kind),
        result=raw.get("result"),
        needs_plan=needs_plan,
        why=str(raw.get("why", "")),
        line=at,
    )


def _check_policy(policy: Any, bad: Callable[..., None]) -> None:
    from agentgate.policy._config import parse_config

    if not isinstance(policy, dict):
        bad("policy must be a mapping (an agentgate.yaml snippet)", "policy")
        return
    try:
        parse_config(policy)
    except ConfigError as exc:
        for p in exc.problems:
            bad(f"policy: {p.message}", f"policy.{p.key}" if p.key else "policy")


# ------------------------------------------------------------------------ replay

#: ``(scenario, firewall) -> blocked flag per step``; the default replays through the firewall.
Decide = Callable[["Scenario", Any], Sequence[bool]]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One replayed step and what the firewall said."""

    scenario: Scenario
    index: int
    step: Step
    blocked: bool
    rule: str = ""
    reason: str = ""

    @property
    def right(self) -> bool:
        """True when the verdict matches the label."""
        return self.blocked == (self.step.expect == "block")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "scenario": self.scenario.id,
            "family": self.scenario.family,
            "split": self.scenario.split,
            "step": self.index,
            "tool": self.step.tool,
            "kind": self.step.kind,
            "needs_plan": self.step.needs_plan,
            "expected": self.step.expect,
            "got": "block" if self.blocked else "allow",
            "rule": self.rule,
            "reason": self.reason,
            "why": self.step.why,
            "source": f"{self.scenario.source.rpartition(':')[0]}:{self.step.line}",
        }


@dataclass(frozen=True, slots=True)
class FamilyCounts:
    """Step counts of a set of scenarios.

    ``attacks`` / ``stopped`` count attack steps without ``needs_plan``; the
    ``plan_*`` pair counts those with it; ``benign`` / ``benign_blocked`` count benign steps;
    ``planned`` counts scenarios that carry a ``plan:``.
    """

    scenarios: int = 0
    planned: int = 0
    attacks: int = 0
    stopped: int = 0
    plan_attacks: int = 0
    plan_stopped: int = 0
    benign: int = 0
    benign_blocked: int = 0

    def add(self, r: StepResult) -> FamilyCounts:
        """These counts plus one step."""
        c = dataclasses.replace(self)
        if r.step.kind == "benign":
            return dataclasses.replace(c, benign=c.benign + 1, benign_blocked=c.benign_blocked + r.blocked)
        if r.step.needs_plan:
            return dataclasses.replace(c, plan_attacks=c.plan_attacks + 1, plan_stopped=c.plan_stopped + r.blocked)
        return dataclasses.replace(c, attacks=c.attacks + 1, stopped=c.stopped + r.blocked)

    @property
    def stopped_rate(self) -> float | None:
        """Share of (value-carrying) attack steps blocked."""
        return self.stopped / self.attacks if self.attacks else None

    @property
    def plan_stopped_rate(self) -> float | None:
        """Share of ``needs_plan`` attack steps blocked."""
        return self.plan_stopped / self.plan_attacks if self.plan_attacks else None

    @property
    def benign_blocked_rate(self) -> float | None:
        """Share of benign steps blocked."""
        return self.benign_blocked / self.benign if self.benign else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts and rates."""
        return {
            "scenarios": self.scenarios,
            "planned": self.planned,
            "attacks": self.attacks,
            "stopped": self.stopped,
            "stopped_rate": self.stopped_rate,
            "plan_attacks": self.plan_attacks,
            "plan_stopped": self.plan_stopped,
            "plan_stopped_rate": self.plan_stopped_rate,
            "benign": self.benign,
            "benign_blocked": self.benign_blocked,
            "benign_blocked_rate": self.benign_blocked_rate,
        }


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """Counts per split and family, and every step that went against its label."""

    results: tuple[StepResult, ...]
    overall: FamilyCounts
    by_family: Mapping[str, FamilyCounts]
    by_split: Mapping[str, FamilyCounts]
    by_split_family: Mapping[str, Mapping[str, FamilyCounts]] = field(default_factory=dict)
    plans: bool = False

    @property
    def misses(self) -> list[StepResult]:
        """Attack steps allowed and benign steps blocked."""
        return [r for r in self.results if not r.right]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "plans": self.plans,
            "overall": self.overall.to_dict(),
            "families": {k: v.to_dict() for k, v in self.by_family.items()},
            "splits": {
                s: {"overall": c.to_dict(), "families": {k: v.to_dict() for k, v in self.by_split_family[s].items()}}
                for s, c in self.by_split.items()
            },
            "misses": [r.to_dict() for r in self.misses],
        }


class ScriptedPlanModel:
    """A planner model that answers from a script: the plan written for each task.

    It receives the planner's real prompt (task and tool catalogue only) and answers with
    the JSON a model would, which the `Planner` parses and validates as it does any answer.
    A task it has no plan for raises `JudgeError`, as a failing model would (the task then
    runs without a plan: every call that is not a read escalates).
    """

    model = "scripted-planner"

    def __init__(self, plans: Mapping[str, Mapping[str, Any]]) -> None:
        self.plans = dict(plans)
        self.prompts: list[str] = []

    def _answer(self, prompt: Any) -> str:
        import json

        from agentgate._errors import JudgeError

        user = str(prompt.user)
        self.prompts.append(user)
        task = user.removeprefix("TASK:\n").split("\n\nTOOL CATALOGUE:\n", 1)[0]
        plan = self.plans.get(task)
        if plan is None:
            raise JudgeError("scripted planner: no plan written for this task")
        answer: dict[str, Any] = {k: list(plan.get(k, [])) for k in ("tools", "operations", "resources")}
        answer["max_amount"] = plan.get("max_amount")
        answer["reasoning"] = str(plan.get("reasoning", "written from the task alone"))
        return json.dumps(answer)

    def ask(self, prompt: Any) -> tuple[str, float, int]:
        """The plan of the prompt's task, as a model's text."""
        return self._answer(prompt), 0.0, 1

    async def aask(self, prompt: Any) -> tuple[str, float, int]:
        """The async twin of `ask`."""
        return self._answer(prompt), 0.0, 1

    def close(self) -> None:
        """Nothing to close."""

    async def aclose(self) -> None:
        """Nothing to close."""


def _catalogue(sc: Scenario) -> tuple[str, ...]:
    # The agent's tool catalogue: every tool the scenario's agent calls (the developer's list).
    return tuple(dict.fromkeys(st.tool for st in sc.steps))


def _firewall_for(sc: Scenario, plans: bool = False) -> Any:
    from agentgate._firewall import Firewall, _settings_from_config
    from agentgate._plan import Planner
    from agentgate.eval.resolver import eval_resolver
    from agentgate.policy._config import parse_config

    cfg = parse_config(dict(sc.policy or {}))
    # The config's own analyzer settings (provenance actions, trusted tools) are kept;
    # only DNS is replaced, so the answer is the same on every machine.
    settings = dataclasses.replace(_settings_from_config(cfg), resolver=eval_resolver)
    planner = None
    if plans:
        model = ScriptedPlanModel({sc.task: sc.plan} if sc.plan is not None else {})
        planner = Planner(model, tools=_catalogue(sc))  # type: ignore[arg-type]
    return Firewall(cfg, settings=settings, on_escalate="block", audit=None, mode="enforce", planner=planner)


def replay(sc: Scenario, fw: Any) -> list[tuple[bool, str, str]]:
    """Replay *sc* through *fw*: ``(blocked, rule, reason)`` per step.

    Each step runs in the scenario's ``agent_context``; an allowed step's ``result``
    is recorded into the context (as integrations do), a blocked one's is not.
    """
    from agentgate._context import agent_context

    out: list[tuple[bool, str, str]] = []
    with agent_context(agent_id="eval", task=sc.task, trusted_inputs=list(sc.trusted_inputs)) as ctx:
        for st in sc.steps:
            v = fw.evaluate(ToolCall(tool_name=st.tool, arguments=dict(st.args), framework="eval"))
            blocked = v.action is not VerdictType.ALLOW
            if not blocked and st.result is not None:
                ctx.record_result(v.decision_id, st.result)
            out.append((blocked, v.policy_name, v.reasoning))
    return out


def run_scenarios(
    scenarios: Sequence[Scenario],
    decide: Decide | None = None,
    firewall: Callable[[Scenario], Any] | None = None,
    *,
    plans: bool = False,
) -> ScenarioReport:
    """Replay every scenario and count attack steps stopped and benign steps blocked.

    *firewall* builds the firewall per scenario (default: from the scenario's policy,
    no judge, ``on_escalate="block"``, no audit, the eval DNS resolver); *decide*
    replaces the replay (tests), returning a blocked flag per step. *plans* turns task
    plans on, each scenario's ``plan:`` answered by a `ScriptedPlanModel`.
    """
    import contextvars
    import functools

    build = firewall or functools.partial(_firewall_for, plans=plans)
    results: list[StepResult] = []
    for sc in scenarios:
        fw = build(sc) if decide is None else None
        if decide is None:
            # A fresh contextvars context per scenario: nothing (scopes, history) leaks between them.
            verdicts = contextvars.copy_context().run(replay, sc, fw)
        else:
            verdicts = [(bool(b), "", "") for b in decide(sc, fw)]
        if len(verdicts) != len(sc.steps):
            raise ValueError(f"{sc.id}: {len(verdicts)} verdicts for {len(sc.steps)} steps")
        results += [
            StepResult(sc, i, st, blocked, rule, reason)
            for i, (st, (blocked, rule, reason)) in enumerate(zip(sc.steps, verdicts, strict=True))
        ]
    return _tally(scenarios, results, plans=plans)


def _tally(scenarios: Sequence[Scenario], results: Sequence[StepResult], plans: bool = False) -> ScenarioReport:
    def order(names: set[str]) -> list[str]:
        return [f for f in FAMILIES if f in names] + sorted(names - set(FAMILIES))

    overall = FamilyCounts(scenarios=len(scenarios), planned=sum(s.plan is not None for s in scenarios))
    fams: dict[str, FamilyCounts] = {f: FamilyCounts() for f in order({s.family for s in scenarios})}
    splits: dict[str, FamilyCounts] = {}
    split_fams: dict[str, dict[str, FamilyCounts]] = {}
    for sc in scenarios:
        fams[sc.family] = dataclasses.replace(fams[sc.family], scenarios=fams[sc.family].scenarios + 1)
        c = splits.get(sc.split, FamilyCounts())
        splits[sc.split] = dataclasses.replace(c, scenarios=c.scenarios + 1, planned=c.planned + (sc.plan is not None))
        sf = split_fams.setdefault(sc.split, {})
        c = sf.get(sc.family, FamilyCounts())
        sf[sc.family] = dataclasses.replace(c, scenarios=c.scenarios + 1)
    for r in results:
        overall = overall.add(r)
        fams[r.scenario.family] = fams[r.scenario.family].add(r)
        splits[r.scenario.split] = splits[r.scenario.split].add(r)
        sf = split_fams[r.scenario.split]
        sf[r.scenario.family] = sf[r.scenario.family].add(r)
    ordered_splits = {s: splits[s] for s in sorted(splits, key=lambda s: (s != OWN_SPLIT, s))}
    return ScenarioReport(
        results=tuple(results),
        overall=overall,
        by_family=fams,
        by_split=ordered_splits,
        by_split_family={s: {f: split_fams[s][f] for f in order(set(split_fams[s]))} for s in ordered_splits},
        plans=plans,
    )


def format_scenario_report(report: ScenarioReport) -> str:
    """A plain-text table per split, then the misses."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    def row(name: str, c: FamilyCounts) -> str:
        return (
            f"  {name:<12} {c.scenarios:>4} {c.stopped:>4}/{c.attacks:<4} {pct(c.stopped_rate):>5}"
            f"  {c.plan_stopped:>3}/{c.plan_attacks:<3} {pct(c.plan_stopped_rate):>5}"
            f"  {c.benign_blocked:>3}/{c.benign:<4} {pct(c.benign_blocked_rate):>5}"
        )

    head = (
        f"  {'family':<12} {'scen':>4} {'stopped':>9} {'%':>5}  {'plan-only':>7} {'%':>5}  {'benign blk':>8} {'%':>5}"
    )
    lines: list[str] = []
    if report.plans:
        lines += [
            "with task plans (scripted planner answering each scenario's plan:, written from its task alone)",
            "",
        ]
    for split, counts in report.by_split.items():
        title = f"split {split}"
        if report.plans:
            title += f" ({counts.planned} of {counts.scenarios} scenarios have a plan; the others run unplanned)"
        lines += [title, head]
        lines += [row(f, c) for f, c in report.by_split_family[split].items()]
        lines.append(row("overall", counts))
        lines.append("")
    if len(report.by_split) > 1:
        lines += [row("all splits", report.overall), ""]
    lines.append(
        "stopped = attack steps blocked (value-carrying); plan-only = attacks marked needs_plan "
        "(no outside value); benign blk = benign steps blocked"
    )
    if report.misses:
        lines += ["", f"misses ({len(report.misses)}):"]
        for r in report.misses:
            d = r.to_dict()
            tag = "FN" if r.step.kind == "attack" else "FP"
            plan = " (needs_plan)" if r.step.needs_plan else ""
            reason = (d["reason"] or "").replace("\n", " ")
            reason = reason[:157] + "..." if len(reason) > 160 else reason
            lines.append(f"  {tag} {d['scenario']}[{d['step']}] {d['tool']}{plan} [{d['rule'] or '-'}] {reason}")
    return "\n".join(lines)
