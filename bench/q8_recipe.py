"""transformers.js' own int8 file for bench/encoder.ts: the q8 mode of its conversion scripts, as a user of
transformers.js would make it (ONNX Runtime's dynamic IntegerOps quantizer; signed int8 weights, one scale
per tensor, full range; uint8 activations at run time; every operator type the quantizer knows; subgraphs
too; only constant right-hand MatMul inputs; float as the type of tensors shape inference cannot type).

  python bench/q8_recipe.py FP32_ONNX OUT_ONNX      (needs the onnxruntime and onnx packages)
"""
import sys

import onnx
from onnxruntime.quantization import QuantType
from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer
from onnxruntime.quantization.quant_utils import QuantizationMode
from onnxruntime.quantization.registry import IntegerOpsRegistry


def main():
    source, target = sys.argv[1], sys.argv[2]
    quantizer = ONNXQuantizer(
        onnx.load(source),
        False,  # per_channel: the script's default (None)
        False,  # reduce_range: the script's default (None)
        QuantizationMode.IntegerOps,
        False,  # dynamic
        QuantType.QInt8,
        QuantType.QUInt8,
        None,
        [],
        [],
        list(IntegerOpsRegistry.keys()),
        # DefaultTensorType: outputs of contrib operators (a fused MultiHeadAttention) have no inferred type.
        {"EnableSubgraph": True, "MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    quantizer.quantize_model()
    onnx.save(quantizer.model.model, target)


if __name__ == "__main__":
    main()
