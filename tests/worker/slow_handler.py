"""A test-only handler module for `smflow worker --handlers`: topic "slow" archives like `archive`, but first
says it started (a file named after its process) and, while a `block` file exists, waits (a hung handler)."""

import os
import time
from pathlib import Path

from handlers.archive import archive


def slow(ctx, **params):
    folder = Path(os.environ["SMFLOW_TEST_SLOW_DIR"])
    (folder / f"started-{os.getpid()}").write_text(ctx.job_key or "")
    give_up = time.monotonic() + 120
    while (folder / "block").exists() and time.monotonic() < give_up:
        time.sleep(0.05)
    return archive(ctx, **params)


def register(registry):
    registry.register("slow", slow)
