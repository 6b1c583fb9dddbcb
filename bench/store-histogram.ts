/**
 * LatencyHistogram: an HDR-style log-linear histogram of latencies in microseconds, for the
 * store benchmark. Below 128 µs every microsecond has its own bucket; above, each power of two
 * is split into 128 linear buckets, so a percentile is within 0.8% of the true value. Memory is
 * fixed (about 3,300 counters) whatever the number of samples, unlike a sorted sample list.
 */

const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** VALUE_US_MAX is the largest value kept; larger ones are clamped to it (~35 minutes). */
const VALUE_US_MAX = 2 ** 31 - 1;
const BUCKET_COUNT = (31 - SUB_BUCKET_BITS + 1) * SUB_BUCKETS;

/** bucketOf maps a value (integer µs, 0..VALUE_US_MAX) to its bucket index. */
function bucketOf(valueUs: number): number {
  if (valueUs < SUB_BUCKETS) return valueUs;
  const shift = 31 - Math.clz32(valueUs) - SUB_BUCKET_BITS;
  return (shift + 1) * SUB_BUCKETS + ((valueUs >>> shift) - SUB_BUCKETS);
}

/** bucketMiddleUs is the middle of the values that map to `index`. */
function bucketMiddleUs(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const low = ((index % SUB_BUCKETS) + SUB_BUCKETS) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

/** LatencyHistogram counts latencies; record() is O(1), percentile() O(buckets). */
export class LatencyHistogram {
  /** Invariant: the sum of `counts` equals `count`. */
  private readonly counts = new Float64Array(BUCKET_COUNT);
  count = 0;
  sumUs = 0;
  minUs = Infinity;
  maxUs = 0;

  /** record adds one latency given in milliseconds (performance.now() differences). */
  record(latencyMs: number): void {
    const valueUs = Math.min(VALUE_US_MAX, Math.max(0, Math.round(latencyMs * 1_000)));
    this.counts[bucketOf(valueUs)]++;
    this.count++;
    this.sumUs += valueUs;
    if (valueUs < this.minUs) this.minUs = valueUs;
    if (valueUs > this.maxUs) this.maxUs = valueUs;
  }

  /** percentileUs returns the latency below which `percent` of the samples fall (0 if none). */
  percentileUs(percent: number): number {
    if (!(percent >= 0 && percent <= 100)) {
      throw new RangeError(`percentile ${percent} is not in [0, 100]`);
    }
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((percent / 100) * this.count));
    let seen = 0;
    for (let index = 0; index < BUCKET_COUNT; index++) {
      seen += this.counts[index];
      if (seen >= rank) return Math.min(this.maxUs, Math.max(this.minUs, bucketMiddleUs(index)));
    }
    throw new Error(`histogram invariant broken: rank ${rank} beyond ${seen} counted samples`);
  }

  /** merge adds every sample of `other` to this histogram (to chart several runs as one). */
  merge(other: LatencyHistogram): void {
    for (let index = 0; index < BUCKET_COUNT; index++) this.counts[index] += other.counts[index];
    this.count += other.count;
    this.sumUs += other.sumUs;
    this.minUs = Math.min(this.minUs, other.minUs);
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** meanUs is the mean latency (0 if there are no samples). */
  meanUs(): number {
    return this.count === 0 ? 0 : this.sumUs / this.count;
  }
}
