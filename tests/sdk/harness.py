"""The runner both Python clients of the compatibility suite share: the scenario list
(`scenarios.txt`), the environment, one line per scenario, then `N passed, M failed`; exit
status 0 only when every scenario of the list ran and passed. No pytest: the clients run as
they would in a user's program.

Environment (set by tests/api/sdk_compat.rs): RAGWAY_URL (the server root), RAGWAY_TOKEN,
RAGWAY_PROJECT, RAGWAY_KB (a knowledge base holding the three animal facts), RAGWAY_MODEL (a
llama.cpp model), RAGWAY_SLOW_MODEL (the same behind a backend whose first token comes after
> 2 s), RAGWAY_TOOL_MODEL (a backend answering with a `get_weather` tool call).
"""

import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIRED = [
    "RAGWAY_URL",
    "RAGWAY_TOKEN",
    "RAGWAY_PROJECT",
    "RAGWAY_KB",
    "RAGWAY_MODEL",
    "RAGWAY_SLOW_MODEL",
    "RAGWAY_TOOL_MODEL",
]

QUESTION = "How do sea otters sleep? One sentence."
FOLLOW_UP = [
    ("user", "Tell me one fact about sea otters."),
    ("assistant", "Sea otters hold hands while they sleep."),
    ("user", "And what do beavers build?"),
]
DOC_WORDS = ("otters", "Beavers", "Owls")


class CheckFailed(AssertionError):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def env():
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"FAIL environment: {', '.join(missing)} not set")
        print("0 passed, 1 failed")
        sys.exit(2)
    return {name: os.environ[name] for name in REQUIRED}


def scenario_names():
    names = []
    for line in (HERE / "scenarios.txt").read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def run(title, scenarios):
    """Run every scenario of scenarios.txt with its function in `scenarios` (a dict)."""
    print(title, flush=True)
    passed = failed = 0
    for name in scenario_names():
        started = time.monotonic()
        fn = scenarios.get(name)
        try:
            if fn is None:
                raise CheckFailed("not implemented by this client")
            detail = fn()
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e} [{time.monotonic() - started:.1f} s]", flush=True)
        except Exception as e:  # an SDK error where none was expected is a failure too
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e} [{time.monotonic() - started:.1f} s]")
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        else:
            passed += 1
            print(f"ok   {name}: {detail} [{time.monotonic() - started:.1f} s]", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1
