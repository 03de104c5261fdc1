"""smflow's engine: runs the company's BPMN processes. It knows nothing of the web layer."""

from .clock import Clock, FixedClock
from .engine import DeployResult, Engine
from .errors import (
    Conflict,
    HandlerFailed,
    NotFound,
    NotPermitted,
    Problem,
    ScriptRejected,
    SmflowError,
    StaleAction,
    ValidationFailed,
)
from .handler_api import HandlerContext, HandlerRegistry
from .sandbox import Sandbox

__all__ = [
    "Clock", "Conflict", "DeployResult", "Engine", "FixedClock", "HandlerContext", "HandlerFailed",
    "HandlerRegistry", "NotFound", "NotPermitted", "Problem", "Sandbox", "ScriptRejected", "SmflowError",
    "StaleAction", "ValidationFailed",
]
