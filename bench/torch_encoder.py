"""PyTorch eager on the same model folder and the same token-sorted batches, for bench/encoder.ts.

  python3 bench/torch_encoder.py MODEL_DIR IDS_JSON BATCH_SIZE THREADS  ->  {"seconds": best of 1 run}
IDS_JSON: a JSON list of token id lists, already sorted by length.
"""
import json
import sys
import time

import torch

sys.path.insert(0, sys.argv[5] if len(sys.argv) > 5 else "engines/torch")
from tandem_torch.export import read_checkpoint  # noqa: E402
from tandem_torch.model import TandemClassifier, load_state  # noqa: E402


def main():
    model_dir, ids_file, batch_size, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    config, tensors = read_checkpoint(model_dir)
    model = load_state(TandemClassifier(config), tensors).eval()
    with open(ids_file) as handle:
        rows = json.load(handle)
    batches = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        length = max(len(r) for r in chunk)
        ids = torch.tensor([r + [0] * (length - len(r)) for r in chunk])
        mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in chunk])
        batches.append((ids, mask))
    with torch.inference_mode():
        model(*batches[0])  # warm-up
        started = time.perf_counter()
        for ids, mask in batches:
            model(ids, mask)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
