// Property tests of the flush over random frame mixes, datagram sizes 1200–9000, connection ID
// lengths 0–20, every encryption level, QUIC v1 and v2, both roles, random limits and frame caps:
// what the builder emits always fits its limits, pads Initial datagrams, unprotects with the peer's
// keys, decodes, keeps coalescing order and source priority, and accounts for every frame.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nobleCrypto } from '../../src/crypto/noble.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { PacketAssembler } from '../../src/packet/assembler.js';
import type { FrameSource, SentPacket } from '../../src/packet/types.js';
import { encodeFrame, frameAllowedIn, frameSize, frameTypeOf, type Frame } from '../../src/wire/frames/index.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import { QUIC_V1, QUIC_V2, type QuicVersion } from '../../src/wire/version.js';
import { arbSelfDelimitedFrame } from '../support/frame-arbitraries.js';
import { FakeContext, patternBytes, PeerDecoder, QueueSource, StreamSource, SUITES, type DecodedPacket } from '../support/test-sources.js';

const LEVELS: readonly EncryptionLevel[] = ['initial', 'zeroRtt', 'handshake', 'oneRtt'];
const ORDER: Record<EncryptionLevel, number> = { initial: 0, zeroRtt: 1, handshake: 2, oneRtt: 3 };

interface Scenario {
  role: 'client' | 'server';
  version: QuicVersion;
  mds: number;
  dcidLength: number;
  scidLength: number;
  tokenLength: number;
  suite: number;
  levels: EncryptionLevel[];
  maxFrames: number | undefined;
  amplification: number;
  congestion: number;
  pacing: number;
  skip: boolean;
  queued: { source: number; level: EncryptionLevel; frame: Frame }[];
  streams: number[];
  flushes: number;
}

/** A frame a queue source may write at `level`: mostly small enough to fit a packet, now and then not. */
function arbFrameAt(level: EncryptionLevel): fc.Arbitrary<Frame> {
  const allowed = arbSelfDelimitedFrame.filter((f) => f.kind !== 'padding' && frameAllowedIn(frameTypeOf(f), level));
  return fc.oneof({ weight: 20, arbitrary: allowed.filter((f) => frameSize(f) <= 1100) }, { weight: 1, arbitrary: allowed });
}

const arbScenario: fc.Arbitrary<Scenario> = fc
  .record({
    role: fc.constantFrom<'client' | 'server'>('client', 'server'),
    version: fc.constantFrom<QuicVersion>(QUIC_V1, QUIC_V2),
    mds: fc.oneof(fc.integer({ min: 1200, max: 1500 }), fc.integer({ min: 1501, max: 9000 })),
    dcidLength: fc.integer({ min: 0, max: 20 }),
    scidLength: fc.integer({ min: 0, max: 20 }),
    tokenLength: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 90 })),
    suite: fc.integer({ min: 0, max: SUITES.length - 1 }),
    levels: fc.subarray([...LEVELS], { minLength: 1 }),
    maxFrames: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
    amplification: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 0, max: 20_000 })),
    congestion: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 0, max: 30_000 })),
    pacing: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 0, max: 30_000 })),
    skip: fc.boolean(),
    streams: fc.array(fc.integer({ min: 0, max: 6000 }), { maxLength: 3 }),
    flushes: fc.integer({ min: 1, max: 3 }),
  })
  .map((s) => ({
    ...s,
    // A server never sends 0-RTT; a client's Initial datagrams are limited by nothing but their size.
    levels: s.role === 'server' ? s.levels.filter((l) => l !== 'zeroRtt') : s.levels,
    amplification: s.role === 'server' ? s.amplification : Number.POSITIVE_INFINITY,
    tokenLength: s.role === 'client' ? s.tokenLength : 0,
  }))
  .filter((s) => s.levels.length > 0)
  .chain((s) =>
    fc
      .array(
        fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(...s.levels)).chain(([source, level]) => arbFrameAt(level).map((frame) => ({ source, level, frame }))),
        { maxLength: 30 },
      )
      .map((queued): Scenario => ({ ...s, queued })),
  );

function reencode(f: Frame): Uint8Array {
  const b = new Uint8Array(frameSize(f));
  encodeFrame(b, 0, f);
  return b;
}

function check(provider: CryptoProvider, s: Scenario): void {
  const suite = SUITES[s.suite];
  const ctx = new FakeContext({
    role: s.role,
    version: s.version,
    dcid: patternBytes(s.dcidLength, 1),
    scid: patternBytes(s.scidLength, 2),
    token: patternBytes(s.tokenLength, 3),
    provider,
    levels: s.levels,
    algorithm: suite.algorithm,
    hash: suite.hash,
    maxFramesPerPacket: s.maxFrames,
    skip: s.skip ? { application: { minInterval: 1, maxInterval: 4 } } : {},
  });
  ctx.limits.mds = s.mds;
  ctx.limits.amplification = s.amplification;
  ctx.limits.congestion = s.congestion;
  ctx.limits.pacing = s.pacing;
  // Priority order: two exempt queue sources, the gate, a gated queue source, then stream data.
  const queues = [new QueueSource('q0'), new QueueSource('q1'), new QueueSource('q2')];
  for (const q of s.queued) queues[q.source].push(q.level, q.frame);
  const stream = new StreamSource();
  s.streams.forEach((n, i) => stream.addStream(i * 4, patternBytes(n, i), true));
  const sources: FrameSource[] = [queues[0], queues[1], queues[2], stream];
  const gate = 2;
  const decoder = new PeerDecoder(ctx.peerKeys(), s.dcidLength);
  const a = new PacketAssembler(ctx);
  let sentBefore = 0;
  let datagramsBefore = 0;
  for (let f = 0; f < s.flushes; f++) {
    const amp = ctx.limits.amplification;
    const gatedBudget = Math.min(ctx.limits.congestion, ctx.limits.pacing);
    const r = a.flush(f, { sources, congestionGate: gate });
    assert.is(r.error, undefined, String(r.error));
    assert.is(ctx.errors.length, 0);
    assert.is(a.builder.state, 'uninitialized');
    const datagrams = ctx.datagrams.slice(datagramsBefore);
    const sent = ctx.sent.slice(sentBefore);
    let total = 0;
    let inFlight = 0;
    let k = 0;
    for (let d = 0; d < datagrams.length; d++) {
      const dg = datagrams[d];
      // Every datagram ≤ min(max datagram size, amplification budget left) (RFC 9000 §8.1, §14).
      assert.ok(dg.length <= s.mds, `datagram of ${dg.length} > ${s.mds}`);
      const ampLeft = amp - total;
      assert.ok(dg.length <= ampLeft, `datagram of ${dg.length} beyond the amplification budget ${ampLeft}`);
      total += dg.length;
      // Unprotects with the peer's keys and decodes at the right level.
      const packets: DecodedPacket[] = decoder.decode(dg, d);
      assert.ok(packets.length >= 1);
      let sum = 0;
      for (let i = 0; i < packets.length; i++) {
        const p = packets[i];
        if (i > 0) assert.ok(ORDER[packets[i - 1].level] <= ORDER[p.level], 'coalescing order (RFC 9000 §12.2)');
        if (p.level === 'oneRtt') assert.is(i, packets.length - 1, 'a 1-RTT packet ends its datagram');
        const rec: SentPacket = sent[k++];
        assert.is(rec.level, p.level);
        assert.is(rec.packetNumber, p.packetNumber);
        assert.is(rec.size, p.size, 'SentPacket.size is the packet on the wire');
        sum += rec.size;
        if (rec.inFlight) inFlight += rec.size;
        // Frames: the committed frames, in the sources' priority order, padding aside.
        const decoded = p.frames.filter((x) => x.kind !== 'padding');
        assert.is(decoded.length, rec.frames.length, 'one decoded frame per recorded frame');
        const owners = rec.sources ?? [];
        let lastIndex = -1;
        rec.frames.forEach((sf, j) => {
          const owner = owners[j];
          const index = owner === null || owner === undefined ? sources.length : sources.indexOf(owner);
          assert.ok(index >= lastIndex, 'frames come out in priority order');
          lastIndex = index;
          if (owner === stream) {
            const df = decoded[j];
            assert.is(df.kind, 'stream');
            if (df.kind === 'stream' && sf.kind === 'stream') {
              assert.is(df.streamId, sf.streamId);
              assert.is(df.offset, sf.offset);
              assert.is(df.data.length, sf.length);
              assert.is(df.fin, sf.fin);
              assert.equal(df.data, patternBytes(s.streams[sf.streamId / 4], sf.streamId / 4).subarray(sf.offset, sf.offset + sf.length));
            }
          } else if (owner instanceof QueueSource) {
            const original = owner.frameOf.get(sf);
            assert.ok(original !== undefined);
            assert.equal(reencode(decoded[j]), reencode(original as Frame), 'frame decodes to what was written');
          }
          // Congestion-controlled frames only within the allowance (RFC 9002 §7).
          if (index >= gate && index < sources.length) assert.ok(inFlight <= gatedBudget, `${inFlight} in flight > ${gatedBudget}`);
        });
        assert.ok(rec.frames.length <= (s.maxFrames ?? 32), 'frame cap');
      }
      assert.is(sum, dg.length, 'packet sizes add up to the datagram');
      // RFC 9000 §14.1: a client pads every datagram with an Initial; a server those with an
      // ack-eliciting Initial, within its amplification budget.
      const initial = packets.filter((p) => p.level === 'initial');
      if (initial.length > 0) {
        const ackEliciting = sent.slice(k - packets.length, k).some((rec) => rec.level === 'initial' && rec.ackEliciting);
        if (s.role === 'client') assert.ok(dg.length >= 1200, `client Initial datagram of ${dg.length}`);
        else if (ackEliciting) assert.ok(dg.length >= Math.min(1200, ampLeft), `server Initial datagram of ${dg.length}`);
      }
    }
    assert.is(k, sent.length, 'every reported packet was in a datagram');
    assert.ok(total <= amp);
    // The connection's own accounting between flushes.
    ctx.limits.amplification -= total;
    ctx.limits.congestion -= inFlight;
    sentBefore = ctx.sent.length;
    datagramsBefore = ctx.datagrams.length;
  }
  // Every queued frame was sent exactly once or is still queued; none lost, none duplicated.
  for (const q of queues) {
    const inPackets = ctx.sent.flatMap((p) => p.frames.filter((_, j) => p.sources?.[j] === q));
    assert.is(inPackets.length, q.committed.length);
    const left = LEVELS.reduce((n, l) => n + (q.queues[l]?.length ?? 0), 0);
    assert.is(q.committed.length + left, s.queued.filter((x) => queues[x.source] === q).length);
  }
  // Skipped packet numbers were never sent.
  for (const p of ctx.sent) assert.not.ok(ctx.pns[p.space].isSkipped(p.packetNumber));
}

test('random frame mixes, sizes, CIDs, levels, versions and limits (node provider)', () => {
  fc.assert(
    fc.property(arbScenario, (s) => check(nodeCrypto, s)),
    { numRuns: 1000 },
  );
});

test('random frame mixes, sizes, CIDs, levels, versions and limits (noble provider)', () => {
  fc.assert(
    fc.property(arbScenario, (s) => check(nobleCrypto, s)),
    { numRuns: 150 },
  );
});

test.run();
