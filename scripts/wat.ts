// WebAssembly text → binary with wabt (a development dependency), for scripts/build-wasm.ts and its test.
import wabtInit from "wabt";

export async function compileWat(text: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const module = wabt.parseWat("optimizer.wat", text);
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}
