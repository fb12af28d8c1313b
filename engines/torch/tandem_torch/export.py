"""Model folders for the TypeScript engine: config.json, the tokenizer files, model.safetensors (every
weight, for further training), and onnx/model.onnx — either the whole classifier (logits and last_hidden_state out) or the
backbone alone (last_hidden_state out) with the head in head.safetensors. Also converts existing
Hugging Face checkpoints, including the published ElectraClassifier layout.

  python -m tandem_torch.export --checkpoint DIR --out DIR [--kind classifier|backbone] [--tokenizer DIR]
  python -m tandem_torch.export --init CONFIG.json --out DIR [--seed N]   (a randomly initialised model)
"""

import argparse
import json
import os
import shutil
import sys

import torch

from . import safetensors_io
from .model import BackboneOnly, ClassifierWithHidden, TandemClassifier, head_tensors, load_state

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def read_checkpoint(directory):
    with open(os.path.join(directory, "config.json")) as handle:
        config = json.load(handle)
    for name in ("model.safetensors", "pytorch_model.bin"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            # weights_only: a pickle checkpoint may hold tensors only, never code.
            tensors = safetensors_io.load(path) if name.endswith(".safetensors") else torch.load(path, map_location="cpu", weights_only=True)
            return config, tensors
    raise SystemExit(f"{directory}: no model.safetensors or pytorch_model.bin")


def normalise_config(config, labels=None):
    config = dict(config)
    if labels:
        config["id2label"] = {str(i): label for i, label in enumerate(labels)}
    if "id2label" in config:
        config["id2label"] = {str(k): v for k, v in config["id2label"].items()}
        config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
        config["num_labels"] = len(config["id2label"])
    config.setdefault("pooling", "mean")
    config.setdefault("num_layers", 1)
    if config.get("model_type") == "distilbert":
        config.setdefault("head_hidden_dim", config.get("dim"))
    else:
        config.setdefault("hidden_dim", config.get("hidden_size"))
    config.setdefault("hidden_activation", "relu")
    config.setdefault("dropout_rate", 0.0)
    return config


HEAD_KEYS = ("num_layers", "hidden_dim", "head_hidden_dim", "hidden_activation", "dropout_rate", "id2label", "label2id", "num_labels")


def export(model, out, kind="classifier", tokenizer=None, max_length=128, with_head=True):
    """with_head=False (a backbone from a bare encoder checkpoint): no head is written — its weights
    would be random — so the folder is an embedding model whose pooled vectors `train head` uses."""
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    model = model.eval()
    config = dict(model.config)
    state = model.state_dict()
    if not with_head:
        config = {k: v for k, v in config.items() if k not in HEAD_KEYS}
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    with open(os.path.join(out, "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)
    safetensors_io.save(state, os.path.join(out, "model.safetensors"), {"format": "pt", "producer": "tandem"})
    if tokenizer:
        for name in TOKENIZER_FILES:
            source = os.path.join(tokenizer, name)
            if os.path.exists(source):
                shutil.copyfile(source, os.path.join(out, name))
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    graph = ClassifierWithHidden(model) if kind == "classifier" else BackboneOnly(model)
    outputs = ["logits", "last_hidden_state"] if kind == "classifier" else ["last_hidden_state"]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}}
    axes = {name: axes[name] for name in ["input_ids", "attention_mask", *outputs]}
    with torch.no_grad():
        torch.onnx.export(graph, (ids, mask), os.path.join(out, "onnx", "model.onnx"), input_names=["input_ids", "attention_mask"], output_names=outputs, dynamic_axes=axes, opset_version=14, do_constant_folding=True)
    if kind == "backbone" and with_head:
        safetensors_io.save(head_tensors(model), os.path.join(out, "head.safetensors"))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tandem_torch.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="Hugging Face checkpoint folder (config.json + model.safetensors or pytorch_model.bin)")
    source.add_argument("--init", help="config JSON for a randomly initialised model")
    parser.add_argument("--out", required=True)
    parser.add_argument("--kind", choices=["classifier", "backbone"], default="classifier")
    parser.add_argument("--tokenizer", help="folder with tokenizer files to copy (default: the checkpoint's)")
    parser.add_argument("--labels", help="comma-separated labels when the config has no id2label")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    labels = args.labels.split(",") if args.labels else None
    try:
        if args.init:
            with open(args.init) as handle:
                config = normalise_config(json.load(handle), labels)
            torch.manual_seed(args.seed)
            model = TandemClassifier(config)
        else:
            config, tensors = read_checkpoint(args.checkpoint)
            config = normalise_config(config, labels)
            # A backbone export needs no head: a bare encoder checkpoint (no classifier) is enough.
            model = load_state(TandemClassifier(config), tensors, head_optional=args.kind == "backbone")
        has_head = args.init is not None or any("classifier." in name for name in tensors)
        export(model, args.out, args.kind, args.tokenizer or args.checkpoint, with_head=has_head or labels is not None)
    except (ValueError, OSError, KeyError) as error:
        print(json.dumps({"event": "error", "message": str(error)}), flush=True)
        return 2
    print(json.dumps({"event": "exported", "out": args.out, "kind": args.kind}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
