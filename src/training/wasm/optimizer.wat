;; The optimizers' inner loops over float32 arrays in WebAssembly SIMD (four lanes at a time): a
;; 4-million-parameter head spends most of a training step here, and scalar JavaScript needs ~7 ns per
;; parameter for Adam's square root and division. Arrays are byte offsets into the imported memory,
;; `n` floats long, n a multiple of 4. Compiled into optimizer-wasm.ts by `npm run build:wasm`.
(module
  (import "env" "memory" (memory 1))

  ;; Adam (l2 > 0: L2 added to the gradient) and AdamW (decay = 1 − lr·weight_decay), PyTorch's update:
  ;; m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  θ ← θ·decay − stepSize·m / (√v·secondCorrection + ε)
  ;; with stepSize = lr / (1 − β1^t) and secondCorrection = 1 / √(1 − β2^t).
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $stepSize f32) (param $secondCorrection f32) (param $decay f32) (param $l2 f32)
    (param $beta1 f32) (param $beta2 f32) (param $eps f32)
    (local $i i32) (local $end i32)
    (local $theta v128) (local $grad v128) (local $mi v128) (local $vi v128)
    (local $kStep v128) (local $kCorrection v128) (local $kDecay v128) (local $kL2 v128)
    (local $kBeta1 v128) (local $kOneMinusBeta1 v128) (local $kBeta2 v128) (local $kOneMinusBeta2 v128) (local $kEps v128)
    (local.set $kStep (f32x4.splat (local.get $stepSize)))
    (local.set $kCorrection (f32x4.splat (local.get $secondCorrection)))
    (local.set $kDecay (f32x4.splat (local.get $decay)))
    (local.set $kL2 (f32x4.splat (local.get $l2)))
    (local.set $kBeta1 (f32x4.splat (local.get $beta1)))
    (local.set $kOneMinusBeta1 (f32x4.splat (f32.sub (f32.const 1) (local.get $beta1))))
    (local.set $kBeta2 (f32x4.splat (local.get $beta2)))
    (local.set $kOneMinusBeta2 (f32x4.splat (f32.sub (f32.const 1) (local.get $beta2))))
    (local.set $kEps (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $theta (v128.load (i32.add (local.get $p) (local.get $i))))
        (local.set $grad
          (f32x4.add (v128.load (i32.add (local.get $g) (local.get $i))) (f32x4.mul (local.get $kL2) (local.get $theta))))
        (local.set $mi
          (f32x4.add
            (f32x4.mul (local.get $kBeta1) (v128.load (i32.add (local.get $m) (local.get $i))))
            (f32x4.mul (local.get $kOneMinusBeta1) (local.get $grad))))
        (local.set $vi
          (f32x4.add
            (f32x4.mul (local.get $kBeta2) (v128.load (i32.add (local.get $v) (local.get $i))))
            (f32x4.mul (local.get $kOneMinusBeta2) (f32x4.mul (local.get $grad) (local.get $grad)))))
        (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mi))
        (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vi))
        (v128.store (i32.add (local.get $p) (local.get $i))
          (f32x4.sub
            (f32x4.mul (local.get $theta) (local.get $kDecay))
            (f32x4.div
              (f32x4.mul (local.get $kStep) (local.get $mi))
              (f32x4.add (f32x4.mul (f32x4.sqrt (local.get $vi)) (local.get $kCorrection)) (local.get $kEps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; SGD with momentum, PyTorch's update (no dampening): g ← g + wd·θ;  b ← μ·b + g;  θ ← θ − lr·b.
  ;; The first step passes μ = 0, so the buffer starts at the first gradient.
  (func (export "sgd")
    (param $p i32) (param $g i32) (param $b i32) (param $n i32)
    (param $lr f32) (param $wd f32) (param $momentum f32)
    (local $i i32) (local $end i32) (local $theta v128) (local $buffer v128)
    (local $kLr v128) (local $kWd v128) (local $kMomentum v128)
    (local.set $kLr (f32x4.splat (local.get $lr)))
    (local.set $kWd (f32x4.splat (local.get $wd)))
    (local.set $kMomentum (f32x4.splat (local.get $momentum)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $theta (v128.load (i32.add (local.get $p) (local.get $i))))
        (local.set $buffer
          (f32x4.add
            (f32x4.mul (local.get $kMomentum) (v128.load (i32.add (local.get $b) (local.get $i))))
            (f32x4.add (v128.load (i32.add (local.get $g) (local.get $i))) (f32x4.mul (local.get $kWd) (local.get $theta)))))
        (v128.store (i32.add (local.get $b) (local.get $i)) (local.get $buffer))
        (v128.store (i32.add (local.get $p) (local.get $i))
          (f32x4.sub (local.get $theta) (f32x4.mul (local.get $kLr) (local.get $buffer))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))))
