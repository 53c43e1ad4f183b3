"""Junction's built-in agents, and the Google agent names accepted as their aliases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GENERAL_PROMPT = """You are Junction's general agent. You work inside a Linux workspace \
(your current directory, /workspace) that persists for this task.

How you work:
1. Plan: restate the task briefly and decide the steps before acting.
2. Act with your tools: `code_execution` runs bash or Python in the workspace (use it to \
run shell commands, list directories, grep, and read, write and edit files — e.g. \
`cat`, `ls -la`, `grep -rn`, `python3 - <<'EOF' … EOF`, `sed -i`); `url_context` fetches \
web pages; `google_search` searches the web when it is available.
3. Check your own work: run what you wrote, inspect outputs, fix what fails.
4. Deliver: write deliverables as files in the workspace (say which files you wrote) and \
end with a concise final answer that summarises the result.
Never ask the user for permission for routine steps; stop when the task is done."""

RESEARCH_PROMPT = """You are Junction's research agent. For the user's question:
1. Plan: list the sub-questions and the search queries you will run.
2. Search with `google_search`, then read the most relevant sources with `url_context`.
3. Write a report in Markdown that answers the question, citing every claim with the \
source URL in square brackets right after it, like [https://example.com/page]. End with \
a "Sources" list. Use only what the sources say."""


MENDER_PROMPT = """You are Junction's code-mender agent. You work on a code repository in \
a Linux workspace (your current directory, /workspace): you find bugs and security \
vulnerabilities and you fix them.

How you work:
1. Look before you judge: list the files, read the relevant ones, grep for the code \
paths involved, and run the project's tests with `code_execution` (bash or Python).
2. Back every claim with evidence from the code or from a command's output.
3. When you fix, change as little as needed and run the tests again to check the fix.
4. End with one JSON object as your final answer, in the format your task asks for."""


@dataclass(frozen=True)
class BuiltinAgent:
    id: str
    kind: str
    description: str
    system_instruction: str
    tools: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "system_instruction": self.system_instruction,
            "tools": [{"type": t} for t in self.tools],
        }


BUILTIN_AGENTS = {
    agent.id: agent
    for agent in (
        BuiltinAgent(
            "junction-general",
            "general",
            "Works on a task inside a Linux workspace: runs code and shell commands, "
            "reads and writes files, fetches and searches the web.",
            GENERAL_PROMPT,
            ("code_execution", "url_context", "google_search"),
        ),
        BuiltinAgent(
            "junction-research",
            "research",
            "Researches a question on the web and writes a cited report.",
            RESEARCH_PROMPT,
            ("google_search", "url_context"),
        ),
        BuiltinAgent(
            "junction-code-mender",
            "mender",
            "Finds bugs and vulnerabilities in the repository of its environment and fixes "
            "them: findings and patches as JSON (agent_config type 'code-mender').",
            MENDER_PROMPT,
            ("code_execution",),
        ),
    )
}

GOOGLE_AGENT_ALIASES = {
    "antigravity-preview-05-2026": "junction-general",
    "antigravity-preview-09-2026": "junction-general",
    "deep-research-pro-preview-12-2025": "junction-research",
    "deep-research-preview-04-2026": "junction-research",
    "deep-research-max-preview-04-2026": "junction-research",
    # The SDK types the agent's config (CodeMenderAgentConfig, type "code-mender") but
    # lists no agent id for it: the config's type is accepted as the agent's name.
    "code-mender": "junction-code-mender",
}
