#!/usr/bin/env python3
"""Reference embeddings for ragway-ingest's embedder test (ingest/tests/embed.rs).

How the numbers were made: Python onnxruntime (1.32.0) runs the very model.onnx that
scripts/setup installs (all-MiniLM-L6-v2, int8), with the HuggingFace `tokenizers` library
reading its tokenizer.json with truncation and padding turned off. Each sentence is run
on its own (batch of 1, so no padding at all), the int8 model's inputs are `input_ids`,
`attention_mask` and `token_type_ids` (all int64, [batch, sequence]) and its one output
`last_hidden_state` [batch, sequence, 384] is mean-pooled over the attention mask and L2
normalised. Nothing is shared with the Rust code path (fastembed + ort), so agreement
within 1e-4 shows the Rust side loads, tokenises, pools and normalises the same way.

Run once after scripts/setup, in a throwaway venv:
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install onnxruntime==1.32.0 tokenizers numpy
    /tmp/refvenv/bin/python scripts/reference_vectors.py [DATA_DIR]
It writes ingest/tests/fixtures/reference_vectors.json.
"""

import hashlib
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval-augmented generation grounds a language model's answers in documents.",
    "Qdrant stores dense and sparse vectors side by side.",
    "Ünïcödé text, numbers like 3.14159, and punctuation!?",
]

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    data_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "data"
    model_dir = data_dir / "models" / "all-minilm-l6-v2"
    model_path = model_dir / "model.onnx"
    if not model_path.exists():
        sys.exit(f"{model_path} is missing: run scripts/setup first")

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    input_names = {i.name for i in session.get_inputs()}

    vectors = []
    for sentence in SENTENCES:
        enc = tokenizer.encode(sentence)
        feeds = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        feeds = {k: v for k, v in feeds.items() if k in input_names}
        (hidden,) = session.run(["last_hidden_state"], feeds)
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        vec = pooled[0] / np.linalg.norm(pooled[0])
        vectors.append([float(x) for x in vec])

    out = {
        "how": "python onnxruntime %s on model.onnx; tokenizers without truncation/padding; "
        "mean pooling over attention_mask; L2 normalised (scripts/reference_vectors.py)"
        % ort.__version__,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "dim": len(vectors[0]),
        "sentences": SENTENCES,
        "vectors": vectors,
    }
    target = ROOT / "ingest" / "tests" / "fixtures" / "reference_vectors.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, ensure_ascii=False) + "\n")
    print(f"wrote {target} ({len(vectors)} vectors of {len(vectors[0])} dims)")


if __name__ == "__main__":
    main()
