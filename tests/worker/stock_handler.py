"""A test-only handler module for `smflow worker --handlers`: topic "stock_level" answers the stock level
written in the file SMFLOW_TEST_STOCK names (text: a gateway after it compares the level with a number,
so a level that is not a number breaks the condition)."""

import os
from pathlib import Path


def stock_level(ctx):
    text = Path(os.environ["SMFLOW_TEST_STOCK"]).read_text(encoding="utf-8").strip()
    return {"level": int(text) if text.isdigit() else text}


def register(registry):
    registry.register("stock_level", stock_level)
