"""Logits of a model folder for token ids, as JSON (used to check exported graphs against PyTorch).

  python -m tandem_torch.predict --model DIR --ids '[[101, 2023, 102], [101, 102]]'
"""

import argparse
import json
import sys

import torch

from .export import read_checkpoint
from .model import TandemClassifier, load_state


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tandem_torch.predict")
    parser.add_argument("--model", required=True)
    parser.add_argument("--ids", required=True, help="JSON list of token id lists")
    args = parser.parse_args(argv)
    config, tensors = read_checkpoint(args.model)
    model = load_state(TandemClassifier(config), tensors).eval()
    rows = json.loads(args.ids)
    length = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (length - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
    with torch.no_grad():
        logits = model(ids, mask)
    print(json.dumps(logits.tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
