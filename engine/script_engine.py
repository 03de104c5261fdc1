"""SpiffWorkflow's script engine, with every expression and script sent through the sandbox."""

from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .clock import Clock
from .sandbox import Sandbox, compile_script


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self, sandbox: Sandbox):
        super().__init__()
        self.sandbox = sandbox

    def evaluate(self, expression, context, external_context=None):
        return self.sandbox.evaluate(expression, context, external_context)

    def execute(self, script, context, external_context=None):
        self.sandbox.execute(script, context, external_context)
        return True

    def call_service(self, context, **kwargs):
        # Service tasks are dispatched by the engine (Runtime.advance with the handler registry), never from here.
        raise NotImplementedError("service tasks are run by smflow's engine")


class SandboxScriptEngine(PythonScriptEngine):
    """Attach one of these to every workflow, including after each deserialization."""

    def __init__(self, sandbox: Sandbox, clock: Clock):
        super().__init__(environment=SandboxEnvironment(sandbox))
        self.clock = clock

    def validate(self, expression):
        compile_script(expression)

    def now(self) -> datetime:
        return self.clock.now()
