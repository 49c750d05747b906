"""The layer check knows every module: a new module of ``bot`` must be placed in a layer."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = {"bot.__init__", "bot.__main__"}  # and the package bot.app
CHANNEL_PLUMBING = {"bot.direct"}


def test_every_module_of_bot_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    core = next(
        set(contract["source_modules"])
        for contract in config["contracts"]
        if contract["name"].startswith("the core")
    )
    modules = {f"bot.{path.stem}" for path in (ROOT / "bot").glob("*.py")}
    unplaced = modules - core - COMPOSITION_ROOT - CHANNEL_PLUMBING
    assert not unplaced, f"place these in a layer in pyproject.toml: {sorted(unplaced)}"
    assert not core & (COMPOSITION_ROOT | CHANNEL_PLUMBING)
