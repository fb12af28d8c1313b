"""Encoders with Hugging Face parameter names (so their checkpoints load as they are), and the research's
classifier: pooling over last_hidden_state (cls, mean, or max with padded positions as zeros), then
Linear → activation → dropout, (num_layers − 1) × [Linear → activation → dropout], Linear → classes.
As in the research code, one activation module instance is appended after every hidden layer, so a
SwishGLU's weights are shared by all hidden layers."""

import math

import torch
from torch import nn


def _get(config, *names, default=None):
    for name in names:
        if name in config and config[name] is not None:
            return config[name]
    return default


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, bias):
        b, s, h = x.shape
        d = h // self.heads
        split = lambda t: t.view(b, s, self.heads, d).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias
        probs = self.dropout(torch.softmax(scores, dim=-1))
        return torch.matmul(probs, v).transpose(1, 2).reshape(b, s, h)


class DenseNorm(nn.Module):
    def __init__(self, inner, hidden, eps, dropout):
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, hidden, heads, eps, dropout, attention_dropout):
        super().__init__()
        self.self = SelfAttention(hidden, heads, attention_dropout)
        self.output = DenseNorm(hidden, hidden, eps, dropout)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.dense = nn.Linear(hidden, inner)

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c["hidden"], c["heads"], c["eps"], c["dropout"], c["attention_dropout"])
        self.intermediate = Intermediate(c["hidden"], c["inner"])
        self.output = DenseNorm(c["inner"], c["hidden"], c["eps"], c["dropout"])

    def forward(self, x, bias):
        x = self.attention(x, bias)
        return self.output(self.intermediate(x), x)


class Embeddings(nn.Module):
    def __init__(self, c, width):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab"], width, padding_idx=c["pad"])
        self.position_embeddings = nn.Embedding(c["positions"], width)
        if c["type_vocab"]:
            self.token_type_embeddings = nn.Embedding(c["type_vocab"], width)
        self.LayerNorm = nn.LayerNorm(width, eps=c["eps"])
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(positions)
        if hasattr(self, "token_type_embeddings"):
            x = x + self.token_type_embeddings(torch.zeros_like(ids))
        return self.dropout(self.LayerNorm(x))


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["layers"])])


def _shape(config):
    """The architecture's sizes under the names BERT, ELECTRA and DistilBERT configs use."""
    return {
        "vocab": _get(config, "vocab_size"),
        "hidden": _get(config, "hidden_size", "dim"),
        "embedding": _get(config, "embedding_size", "hidden_size", "dim"),
        "layers": _get(config, "num_hidden_layers", "n_layers"),
        "heads": _get(config, "num_attention_heads", "n_heads"),
        "inner": _get(config, "intermediate_size", "hidden_dim" if config.get("model_type") == "distilbert" else "intermediate_size"),
        "positions": _get(config, "max_position_embeddings", default=512),
        "type_vocab": 0 if config.get("model_type") == "distilbert" else _get(config, "type_vocab_size", default=2),
        "eps": _get(config, "layer_norm_eps", default=1e-12),
        "dropout": _get(config, "hidden_dropout_prob", "dropout", default=0.1),
        "attention_dropout": _get(config, "attention_probs_dropout_prob", "attention_dropout", default=0.1),
        "pad": _get(config, "pad_token_id", default=0),
    }


class BertBackbone(nn.Module):
    """BERT and ELECTRA discriminators (ELECTRA projects smaller embeddings up to the hidden size)."""

    def __init__(self, config):
        super().__init__()
        c = _shape(config)
        self.embeddings = Embeddings(c, c["embedding"])
        if c["embedding"] != c["hidden"]:
            self.embeddings_project = nn.Linear(c["embedding"], c["hidden"])
        self.encoder = BertEncoder(c)

    def layers(self):
        return list(self.encoder.layer)

    def forward(self, input_ids, attention_mask):
        x = self.embeddings(input_ids)
        if hasattr(self, "embeddings_project"):
            x = self.embeddings_project(x)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x


class DistilAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["heads"]
        self.q_lin = nn.Linear(c["hidden"], c["hidden"])
        self.k_lin = nn.Linear(c["hidden"], c["hidden"])
        self.v_lin = nn.Linear(c["hidden"], c["hidden"])
        self.out_lin = nn.Linear(c["hidden"], c["hidden"])
        self.dropout = nn.Dropout(c["attention_dropout"])

    def forward(self, x, bias):
        b, s, h = x.shape
        d = h // self.heads
        split = lambda t: t.view(b, s, self.heads, d).transpose(1, 2)
        q, k, v = split(self.q_lin(x)), split(self.k_lin(x)), split(self.v_lin(x))
        probs = self.dropout(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias, dim=-1))
        return self.out_lin(torch.matmul(probs, v).transpose(1, 2).reshape(b, s, h))


class DistilFFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin1 = nn.Linear(c["hidden"], c["inner"])
        self.lin2 = nn.Linear(c["inner"], c["hidden"])
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x):
        return self.dropout(self.lin2(nn.functional.gelu(self.lin1(x))))


class DistilLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = DistilAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c["hidden"], eps=c["eps"])
        self.ffn = DistilFFN(c)
        self.output_layer_norm = nn.LayerNorm(c["hidden"], eps=c["eps"])

    def forward(self, x, bias):
        x = self.sa_layer_norm(self.attention(x, bias) + x)
        return self.output_layer_norm(self.ffn(x) + x)


class DistilTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([DistilLayer(c) for _ in range(c["layers"])])


class DistilBackbone(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = _shape(config)
        self.embeddings = Embeddings(c, c["hidden"])
        self.transformer = DistilTransformer(c)

    def layers(self):
        return list(self.transformer.layer)

    def forward(self, input_ids, attention_mask):
        x = self.embeddings(input_ids)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.transformer.layer:
            x = layer(x, bias)
        return x


BACKBONES = {"bert": BertBackbone, "electra": BertBackbone, "distilbert": DistilBackbone}


class SwishGLU(nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.projection = nn.Linear(input_dim, 2 * output_dim)

    def forward(self, x):
        a, g = self.projection(x).chunk(2, dim=-1)
        return a * nn.functional.silu(g)


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU, "leakyrelu": nn.LeakyReLU, "gelu": nn.GELU, "swish": nn.SiLU, "silu": nn.SiLU}


def make_activation(name, hidden_dim):
    key = name.lower()
    if key in ("swishglu", "swish_glu"):
        return SwishGLU(hidden_dim, hidden_dim)
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (use {', '.join(sorted(set(ACTIVATIONS) | {'swishglu'}))})")
    return ACTIVATIONS[key]()


class Classifier(nn.Module):
    def __init__(self, input_dim, hidden_dim, activation, num_layers, n_classes, dropout_rate):
        super().__init__()
        shared = make_activation(activation, hidden_dim)
        layers = [nn.Linear(input_dim, hidden_dim), shared]
        if dropout_rate > 0:
            layers.append(nn.Dropout(dropout_rate))
        for _ in range(num_layers - 1):
            layers += [nn.Linear(hidden_dim, hidden_dim), shared]
            if dropout_rate > 0:
                layers.append(nn.Dropout(dropout_rate))
        layers.append(nn.Linear(hidden_dim, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def pool(hidden, mask, pooling):
    if pooling == "cls":
        return hidden[:, 0]
    weighted = hidden * mask.unsqueeze(-1).to(hidden.dtype)
    if pooling == "mean":
        return weighted.sum(1) / mask.sum(-1, keepdim=True).to(hidden.dtype)
    if pooling == "max":
        # Padded positions count as zeros (h · mask), as in the research code.
        return weighted.max(dim=1).values
    raise ValueError(f"unknown pooling {pooling!r} (use cls, mean or max)")


class TandemClassifier(nn.Module):
    """backbone (under its Hugging Face prefix: bert, electra or distilbert) + pooling + classifier."""

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        kind = config.get("model_type", "bert")
        if kind not in BACKBONES:
            raise ValueError(f"model_type {kind!r} is not supported (bert, electra, distilbert)")
        self.prefix = kind
        setattr(self, kind, BACKBONES[kind](config))
        self.pooling = config.get("pooling", "mean")
        hidden = _shape(config)["hidden"]
        labels = int(config.get("num_labels") or len(config.get("id2label") or {}) or 2)
        # DistilBERT's config uses hidden_dim for its FFN width, so its head width is head_hidden_dim.
        width = config.get("head_hidden_dim") or (None if kind == "distilbert" else config.get("hidden_dim")) or hidden
        self.classifier = Classifier(hidden, int(width), str(config.get("hidden_activation", "relu")), int(config.get("num_layers", 1)), labels, float(config.get("dropout_rate", 0.0)))

    @property
    def backbone(self):
        return getattr(self, self.prefix)

    def forward(self, input_ids, attention_mask):
        hidden = self.backbone(input_ids, attention_mask)
        return self.classifier(pool(hidden, attention_mask, self.pooling))


class ClassifierWithHidden(nn.Module):
    """The classifier as a graph with logits and last_hidden_state out, for export: the hidden states let
    tandem train new heads (tandem train head) on a classifier's backbone."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        hidden = self.model.backbone(input_ids, attention_mask)
        return self.model.classifier(pool(hidden, attention_mask, self.model.pooling)), hidden


class BackboneOnly(nn.Module):
    """The backbone as a graph with last_hidden_state out, for export."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model.backbone(input_ids, attention_mask)


def load_state(model, tensors, head_optional=False):
    """Loads a checkpoint's tensors: research layout (SwishGLU stored once or per layer) and HF prefixes."""
    state = model.state_dict()
    remapped = {}
    # A bare encoder checkpoint (Hugging Face's BertModel, as sentence-transformers ships) names its
    # tensors without the backbone's prefix ("embeddings....", not "bert.embeddings....").
    backbones = {k.split(".")[0] + "." for k in state if not k.startswith("classifier.")}
    for name, tensor in tensors.items():
        key = name
        for prefix in ("model.",):
            if key.startswith(prefix) and key[len(prefix):] in state:
                key = key[len(prefix):]
        if key not in state:
            key = next((b + key for b in backbones if b + key in state), key)
        if key in state:
            remapped[key] = tensor
    # One shared SwishGLU: copy the stored instance to every key the state dict lists for it.
    glu = [k for k in state if k.startswith("classifier.layers.") and ".projection." in k]
    for key in glu:
        if key not in remapped:
            suffix = key.split(".projection.")[1]
            source = next((v for k, v in remapped.items() if ".projection." + suffix in k and k.startswith("classifier.layers.")), None)
            if source is not None:
                remapped[key] = source
    missing = [k for k in state if k not in remapped and not (head_optional and k.startswith("classifier."))]
    if missing:
        raise ValueError(f"the checkpoint lacks {len(missing)} tensors, e.g. {missing[:3]}")
    model.load_state_dict(remapped, strict=not head_optional)
    return model


def head_tensors(model):
    """The classifier's tensors in the research layout, SwishGLU stored once."""
    seen = set()
    out = {}
    for name, tensor in model.classifier.state_dict().items():
        if ".projection." in name:
            suffix = name.split(".projection.")[1]
            if suffix in seen:
                continue
            seen.add(suffix)
        out["classifier." + name] = tensor
    return out
