"""The code behind service tasks, one module per concern, registered by topic (`camunda:topic`)."""

from engine.handler_api import HandlerRegistry

from .archive import archive
from .budget_variance import budget_variance
from .consolidate import consolidate
from .credit_rating import credit_rating
from .customer_register import customer_register
from .notify import notify


def default_registry() -> HandlerRegistry:
    """Every handler smflow ships, by topic."""
    return HandlerRegistry({
        "archive": archive,
        "notify": notify,
        "customer_register": customer_register,
        "consolidate": consolidate,
        "budget_variance": budget_variance,
        "credit_rating": credit_rating,
    })


__all__ = ["default_registry"]
