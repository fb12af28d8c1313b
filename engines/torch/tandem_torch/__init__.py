"""tandem's PyTorch engine: BERT / ELECTRA / DistilBERT encoders with Hugging Face parameter names,
the research's pooling and classifier head, training (one process, or many through torchrun), and
export to model folders the TypeScript engine loads. Needs only torch."""

__version__ = "0.1.0"
