"""Fine-tuning the research classifier (backbone + pooling + head) on token ids prepared by tandem.

  python -m tandem_torch.train --config run.json          (one process)
  torchrun --nproc_per_node N -m tandem_torch.train --config run.json   (DDP: gloo on CPU, nccl on GPU)

run.json: {"model": DIR (a tandem/HF model folder) or "init": {config}, "train": ids.jsonl, "val": ids.jsonl,
"out": DIR, "labels": [...], and options (see DEFAULTS)}. ids.jsonl lines: {"ids": [...], "label": k}.
Progress goes to stdout as JSON lines: start, step, eval, checkpoint, early_stop, done, error.
Every rank sees the same global batches in the same order (a seeded permutation per epoch, each rank
taking its slice), so N processes compute what one process computes with the same global batch.
"""

import argparse
import json
import math
import os
import random
import sys
import time

import torch
from torch import nn

from . import safetensors_io
from .export import export, normalise_config, read_checkpoint
from .model import TandemClassifier, load_state

DEFAULTS = {
    "epochs": 3, "batch_size": 32, "grad_accumulation": 1, "lr": 5e-5, "head_lr": None, "weight_decay": 0.0,
    "optimizer": "adamw", "scheduler": "linear", "warmup_ratio": 0.0, "step_size": 1, "gamma": 0.9, "milestones": [],
    "t0": 1, "cycle_base_lr": None, "layer_lr_decay": 1.0, "finetune": "all", "finetune_last": 0, "clip": 1.0,
    "seed": 42, "early_stop": "score", "patience": 0, "tolerance": 0.0, "target_score": None, "checkpoint_every": 1,
    "resume": False, "max_length": 512, "mixed_precision": True, "zero": False, "log_every": 10, "dropout_rate": None,
    "group_by_length": False,
}


def emit(rank, **event):
    if rank == 0:
        print(json.dumps(event), flush=True)


def read_ids(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def batches(items, batch_size, seed, epoch, rank, world, shuffle=True, group_by_length=False):
    order = list(range(len(items)))
    rng = random.Random(seed * 1000 + epoch)
    if shuffle:
        rng.shuffle(order)
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    if group_by_length:
        # Within windows of 50 batches, rows of similar length share a batch (far less padding);
        # the batches are then shuffled, so the order stays random at the scale of the epoch.
        window = batch_size * 50
        chunks = []
        for start in range(0, len(order), window):
            part = sorted(order[start:start + window], key=lambda i: len(items[i]["ids"]))
            chunks.extend(part[k:k + batch_size] for k in range(0, len(part), batch_size))
        rng.shuffle(chunks)
    for chunk in chunks:
        per = math.ceil(len(chunk) / world)
        yield chunk[rank * per:(rank + 1) * per], len(chunk)


def collate(items, indices, pad, device, max_length):
    rows = [items[i]["ids"][:max_length] for i in indices]
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
        mask[r, :len(row)] = 1
    labels = torch.tensor([items[i]["label"] for i in indices])
    return ids.to(device), mask.to(device), labels.to(device)


def macro_f1(gold, pred, k):
    total = 0.0
    for c in range(k):
        tp = sum(1 for g, p in zip(gold, pred) if g == c and p == c)
        denominator = sum(1 for g in gold if g == c) + sum(1 for p in pred if p == c)
        total += 2 * tp / denominator if denominator else 0.0
    return total / k


def parameter_groups(model, options):
    """Layer-wise LR decay: the head at head_lr, the top layer at lr, each layer below × decay, embeddings last."""
    base = options["lr"]
    decay = options["layer_lr_decay"]
    layers = model.backbone.layers()
    groups = [{"params": [p for p in model.classifier.parameters() if p.requires_grad], "lr": options["head_lr"] or base}]
    for depth, layer in enumerate(reversed(layers)):
        groups.append({"params": [p for p in layer.parameters() if p.requires_grad], "lr": base * decay ** depth})
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    rest = [p for p in model.backbone.parameters() if id(p) not in in_layers and p.requires_grad]
    groups.append({"params": rest, "lr": base * decay ** len(layers)})
    for group in groups:
        group["initial_lr"] = group["lr"]
    return [g for g in groups if g["params"]]


def freeze(model, options):
    if options["finetune"] == "head":
        for p in model.backbone.parameters():
            p.requires_grad = False
    elif options["finetune"] == "last":
        layers = model.backbone.layers()
        keep = {id(p) for layer in layers[len(layers) - options["finetune_last"]:] for p in layer.parameters()}
        for p in model.backbone.parameters():
            p.requires_grad = id(p) in keep


def make_optimizer(groups, options):
    name = options["optimizer"]
    wd = options["weight_decay"]
    if name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(groups, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r} (adamw, adam, sgd, adagrad, rmsprop)")


def make_scheduler(optimizer, options, steps_per_epoch):
    name = options["scheduler"]
    total = max(1, steps_per_epoch * options["epochs"])
    warmup = int(total * options["warmup_ratio"])
    S = torch.optim.lr_scheduler
    if name == "none":
        return None
    if name == "linear":
        return S.LambdaLR(optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    if name == "cosine":
        return S.LambdaLR(optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup))))
    if name == "step":
        return S.StepLR(optimizer, step_size=options["step_size"] * steps_per_epoch, gamma=options["gamma"])
    if name == "multi_step":
        return S.MultiStepLR(optimizer, milestones=[m * steps_per_epoch for m in options["milestones"]], gamma=options["gamma"])
    if name == "exponential":
        return S.ExponentialLR(optimizer, gamma=options["gamma"])
    if name == "cosine_warm_restarts":
        return S.CosineAnnealingWarmRestarts(optimizer, T_0=max(1, options["t0"] * steps_per_epoch))
    if name == "reduce_on_plateau":
        return S.ReduceLROnPlateau(optimizer, mode="max" if options["early_stop"] == "score" else "min", factor=options["gamma"], patience=max(0, options["patience"] - 1))
    if name == "cyclic":
        return S.CyclicLR(optimizer, base_lr=options["cycle_base_lr"] or options["lr"] / 10, max_lr=options["lr"], step_size_up=max(1, steps_per_epoch // 2), cycle_momentum=options["optimizer"] == "sgd")
    raise ValueError(f"unknown scheduler {name!r}")


def evaluate(model, items, options, device, pad, k):
    model.eval()
    gold, pred, loss_sum = [], [], 0.0
    with torch.no_grad():
        for indices, _ in batches(items, options["batch_size"], 0, 0, 0, 1, shuffle=False):
            ids, mask, labels = collate(items, indices, pad, device, options["max_length"])
            logits = model(ids, mask)
            loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
            gold += labels.tolist()
            pred += logits.argmax(-1).tolist()
    model.train()
    return {"val_loss": loss_sum / max(1, len(items)), "macro_f1": macro_f1(gold, pred, k), "accuracy": sum(g == p for g, p in zip(gold, pred)) / max(1, len(items))}


def run(config):
    options = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu")
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(options["seed"])
    random.seed(options["seed"])
    labels = config["labels"]
    if "init" in config:
        model_config = normalise_config({**config["init"], **config.get("head", {})}, labels)
        model = TandemClassifier(model_config)
    else:
        model_config, tensors = read_checkpoint(config["model"])
        model_config = normalise_config({**model_config, **config.get("head", {})}, labels)
        if options["dropout_rate"] is not None:
            model_config["dropout_rate"] = options["dropout_rate"]
        model = TandemClassifier(model_config)
        # A plain encoder checkpoint loads its backbone; the new head keeps its initial weights.
        load_state(model, tensors, head_optional=True)
    model.to(device)
    freeze(model, options)
    train_items, val_items = read_ids(config["train"]), read_ids(config["val"]) if config.get("val") else []
    pad = int(model_config.get("pad_token_id", 0))
    k = len(labels)
    groups = parameter_groups(model, options)
    wrapped = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if options["zero"] and world > 1:
        from torch.distributed.optim import ZeroRedundancyOptimizer
        optimizer = ZeroRedundancyOptimizer([p for g in groups for p in g["params"]], optimizer_class=torch.optim.AdamW, lr=options["lr"], weight_decay=options["weight_decay"])
    else:
        optimizer = make_optimizer(groups, options)
    global_batch = options["batch_size"] * options["grad_accumulation"]
    steps_per_epoch = math.ceil(len(train_items) / global_batch)
    scheduler = make_scheduler(optimizer, options, steps_per_epoch)
    use_amp = options["mixed_precision"] and device.type == "cuda"
    scaler = torch.cuda.amp.GradScaler(enabled=use_amp)
    out = config["out"]
    os.makedirs(out, exist_ok=True)
    checkpoint_path = os.path.join(out, "checkpoint.pt")
    state = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "bad_epochs": 0, "history": []}
    if options["resume"] and os.path.exists(checkpoint_path):
        saved = torch.load(checkpoint_path, map_location=device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved.get("scheduler"):
            scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        emit(rank, event="resumed", epoch=state["epoch"], step=state["step"])
    params = sum(p.numel() for p in model.parameters())
    emit(rank, event="start", parameters=params, trainable=sum(p.numel() for p in model.parameters() if p.requires_grad), train=len(train_items), val=len(val_items), world_size=world, device=str(device), steps_per_epoch=steps_per_epoch, epochs=options["epochs"])
    model.train()
    stop = False
    for epoch in range(state["epoch"], options["epochs"]):
        started, seen, running = time.time(), 0, 0.0
        optimizer.zero_grad()
        for micro, (indices, size) in enumerate(batches(train_items, options["batch_size"], options["seed"], epoch, rank, world, group_by_length=options["group_by_length"])):
            ids, mask, gold = collate(train_items, indices, pad, device, options["max_length"])
            with torch.autocast(device_type=device.type, enabled=use_amp):
                loss = nn.functional.cross_entropy(wrapped(ids, mask), gold)
            scaler.scale(loss / options["grad_accumulation"]).backward()
            running += loss.item()
            seen += size
            if (micro + 1) % options["grad_accumulation"] == 0:
                scaler.unscale_(optimizer)
                if options["clip"]:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), options["clip"])
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad()
                if scheduler is not None and not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step()
                state["step"] += 1
                if state["step"] % options["log_every"] == 0 or state["step"] == 1:
                    emit(rank, event="step", epoch=epoch + 1, step=state["step"], loss=running / (micro + 1), lr=optimizer.param_groups[0]["lr"], samples_per_s=seen / max(1e-9, time.time() - started))
        train_loss = running / max(1, micro + 1)
        metrics = evaluate(model, val_items, options, device, pad, k) if val_items else {}
        score = metrics.get("macro_f1") if options["early_stop"] == "score" else -metrics.get("val_loss", train_loss)
        if score is None:
            score = -train_loss
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(score if options["early_stop"] == "score" else -score)
        improved = state["best"] is None or score > state["best"] + options["tolerance"]
        if improved:
            state["best"], state["best_epoch"], state["bad_epochs"] = score, epoch + 1, 0
            if rank == 0:
                safetensors_io.save(model.state_dict(), os.path.join(out, "best.safetensors"))
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "train_loss": train_loss, **metrics})
        emit(rank, event="eval", epoch=epoch + 1, train_loss=train_loss, samples_per_s=seen / max(1e-9, time.time() - started), **metrics)
        if (epoch + 1) % options["checkpoint_every"] == 0:
            if options["zero"] and world > 1:
                # ZeRO shards the optimizer state: gathering it onto rank 0 is a collective, so every rank takes part.
                optimizer.consolidate_state_dict(to=0)
        if rank == 0 and (epoch + 1) % options["checkpoint_every"] == 0:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler is not None else None, "state": state}, checkpoint_path)
            emit(rank, event="checkpoint", epoch=epoch + 1, path=checkpoint_path)
        if options["patience"] and state["bad_epochs"] >= options["patience"]:
            emit(rank, event="early_stop", epoch=epoch + 1, reason=f"no improvement for {options['patience']} epochs")
            stop = True
        if options["target_score"] is not None and metrics.get("macro_f1", 0) >= options["target_score"]:
            emit(rank, event="early_stop", epoch=epoch + 1, reason=f"target macro F1 {options['target_score']} reached")
            stop = True
        if config.get("stop_after_epoch") == epoch + 1:
            break
        if stop:
            break
    if world > 1:
        torch.distributed.barrier()
    if rank == 0:
        best = os.path.join(out, "best.safetensors")
        if os.path.exists(best):
            load_state(model, safetensors_io.load(best))
        model.cpu()
        export(model, out, config.get("kind", "classifier"), config.get("tokenizer"))
        with open(os.path.join(out, "training_log.json"), "w") as handle:
            json.dump({"options": options, "history": state["history"], "best_epoch": state["best_epoch"]}, handle, indent=2)
        emit(rank, event="done", out=out, best_epoch=state["best_epoch"], history=state["history"], weights_sum=float(sum(p.detach().double().sum() for p in model.parameters())))
    if world > 1:
        torch.distributed.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tandem_torch.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    try:
        with open(args.config) as handle:
            config = json.load(handle)
        run(config)
    except (ValueError, OSError, KeyError, RuntimeError) as error:
        print(json.dumps({"event": "error", "message": f"{type(error).__name__}: {error}"}), flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
