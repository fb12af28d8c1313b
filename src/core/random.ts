/**
 * A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32). Written out here rather
 * than taken from Math.random so that splits and bootstrap resamples are identical on every platform
 * and Node version for the same seed.
 */
export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private scratch = new Uint32Array(0);

  constructor(seed: number) {
    let state = seed >>> 0;
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * An integer in [0, n), exactly uniform, for n up to 2^21 (Lemire's multiply-and-reject: the
   * product x·n is exact in a double, its high 32 bits are the draw, and the rare low parts below
   * 2^32 mod n are rejected).
   */
  nextInt(n: number): number {
    if (!(n > 0 && n <= 2097152)) throw new RangeError("nextInt needs a bound in 1..2^21");
    const threshold = 4294967296 % n;
    for (;;) {
      const product = this.nextUint32() * n;
      const high = Math.floor(product / 4294967296);
      if (product - high * 4294967296 >= threshold) return high;
    }
  }

  /** Fills `out` with draws of nextInt(n), the same sequence, without a call per draw (the bootstrap's hot loop). */
  fillInts(out: Int32Array, n: number): void {
    if (!(n > 0 && n <= 2097152)) throw new RangeError("fillInts needs a bound in 1..2^21");
    const threshold = 4294967296 % n;
    // Raw draws in order, each accepted or rejected as nextInt would; never more raw draws than used.
    let raw = this.scratch.length >= out.length ? this.scratch : (this.scratch = new Uint32Array(out.length));
    for (let i = 0; i < out.length; ) {
      raw = raw.subarray(0, out.length - i);
      this.fillUint32(raw);
      for (let j = 0; j < raw.length; j++) {
        const product = (raw[j] as number) * n;
        const high = Math.floor(product / 4294967296);
        if (product - high * 4294967296 >= threshold) out[i++] = high;
      }
    }
  }

  /** Fills `out` with nextUint32 draws, the same sequence, without a call per draw (dropout masks). */
  fillUint32(out: Uint32Array): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      out[i] = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
