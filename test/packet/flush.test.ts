// The flush: datagram assembly, padding, limits, the congestion gate, probes, packet numbers, key
// phase rollover, CONNECTION_CLOSE at every level, and what happens when a packet fails to seal.
// Everything the builder emits is unprotected and decoded with the peer's independently derived
// keys.
import v8 from 'node:v8';
import vm from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HeaderProtection } from '../../src/crypto/provider.js';
import { PacketAssembler, type FlushOptions, type FlushResult } from '../../src/packet/assembler.js';
import { DatagramArena, MIN_INITIAL_DATAGRAM_SIZE, PacketBuilder, PacketProtectionFailure, STATELESS_RESET_PADDING } from '../../src/packet/builder.js';
import { notifyLost } from '../../src/packet/dispatch.js';
import type { FrameSource, PacketWriter, SentPacket } from '../../src/packet/types.js';
import { PacketNumberState } from '../../src/packet/packet-numbers.js';
import { Recovery } from '../../src/recovery/recovery.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import type { Frame } from '../../src/wire/frames/index.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import {
  AckSource,
  CloseSource,
  CryptoSource,
  FakeContext,
  failingSeals,
  patternBytes,
  PeerDecoder,
  QueueSource,
  StreamSource,
  type DecodedPacket,
  type FakeContextOptions,
} from '../support/test-sources.js';

const ORDER: Record<EncryptionLevel, number> = { initial: 0, zeroRtt: 1, handshake: 2, oneRtt: 3 };

function decodeAll(ctx: FakeContext, allowFixedBitZero = false): DecodedPacket[][] {
  const dec = new PeerDecoder(ctx.peerKeys(), ctx.dcid.length, allowFixedBitZero);
  return ctx.datagrams.map((d, i) => dec.decode(d, i));
}

function flush(a: PacketAssembler, sources: FrameSource[], gate: number, options?: FlushOptions, now = 0): FlushResult {
  return a.flush(now, { sources, congestionGate: gate }, options);
}

/** Reassembles the STREAM data of `streamId` from decoded packets. */
function streamData(packets: DecodedPacket[][], streamId: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const seen = new Uint8Array(length);
  for (const dg of packets)
    for (const p of dg)
      for (const f of p.frames)
        if (f.kind === 'stream' && f.streamId === streamId) {
          out.set(f.data, f.offset);
          seen.fill(1, f.offset, f.offset + f.data.length);
        }
  assert.ok(seen.every((x) => x === 1), `stream ${streamId}: every byte delivered`);
  return out;
}

function kinds(p: DecodedPacket): string[] {
  return p.frames.map((f) => f.kind);
}

function newContext(o: FakeContextOptions = {}): FakeContext {
  return new FakeContext(o);
}

// ------------------------------------------------------------------------------------------------
// Padding (RFC 9000 §14.1, RFC 9001 §5.4.2)
// ------------------------------------------------------------------------------------------------

test('client: a datagram carrying only an ACK-only Initial is padded to 1200 bytes, inside the Initial packet', () => {
  const ctx = newContext({ role: 'client', levels: ['initial'] });
  const a = new PacketAssembler(ctx);
  flush(a, [new AckSource().set('initial', [{ smallest: 0, largest: 0 }])], 1);
  assert.is(ctx.datagrams.length, 1);
  assert.is(ctx.datagrams[0].length, MIN_INITIAL_DATAGRAM_SIZE);
  const [[p]] = decodeAll(ctx);
  assert.equal(kinds(p), ['padding', 'ack'], 'PADDING frames inserted before the frames');
  assert.is(ctx.sent[0].inFlight, true, 'a packet with PADDING counts in flight (RFC 9002 §2)');
  assert.is(ctx.sent[0].ackEliciting, false);
});

test('client: padding goes into the last packet of the datagram, so the coalesced packets all parse', () => {
  const ctx = newContext({ role: 'client', levels: ['initial', 'handshake'] });
  const a = new PacketAssembler(ctx);
  const crypto = new CryptoSource().add('initial', patternBytes(100)).add('handshake', patternBytes(50));
  flush(a, [crypto], 1);
  assert.is(ctx.datagrams.length, 1);
  assert.is(ctx.datagrams[0].length, 1200);
  const [dg] = decodeAll(ctx);
  assert.equal(dg.map((p) => p.level), ['initial', 'handshake']);
  assert.equal(kinds(dg[0]), ['crypto'], 'no padding in the Initial packet');
  assert.equal(kinds(dg[1]), ['padding', 'crypto'], 'the Handshake packet carries the padding');
  assert.is(ctx.sent[0].size + ctx.sent[1].size, 1200, 'packet sizes add up to the datagram');
});

test('client: when the look-ahead expects a next packet that writes nothing, an empty last packet carries the padding', () => {
  const ctx = newContext({ role: 'client', levels: ['initial', 'handshake'] });
  const a = new PacketAssembler(ctx);
  // Announces Handshake work but never writes anything.
  const liar: FrameSource = { name: 'liar', hasPending: (l) => l === 'handshake', write: () => 0 };
  flush(a, [new CryptoSource().add('initial', patternBytes(80)), liar], 2);
  assert.is(ctx.datagrams.length, 1);
  assert.is(ctx.datagrams[0].length, 1200);
  const [dg] = decodeAll(ctx);
  assert.equal(dg.map((p) => p.level), ['initial', 'handshake']);
  assert.equal(kinds(dg[1]), ['padding'], 'a padding-only Handshake packet');
  assert.is(ctx.errors.length, 0);
});

test('server: ack-eliciting Initials are padded to 1200 bytes, ACK-only Initials are not', () => {
  const ctx = newContext({ role: 'server', levels: ['initial'] });
  const a = new PacketAssembler(ctx);
  flush(a, [new AckSource().set('initial', [{ smallest: 0, largest: 0 }])], 1);
  assert.ok(ctx.datagrams[0].length < 100, 'ACK-only Initial from a server is not padded');
  flush(a, [new CryptoSource().add('initial', patternBytes(90))], 1);
  assert.is(ctx.datagrams[1].length, 1200);
});

test('server: padding stays within the amplification budget (RFC 9000 §8.1)', () => {
  const ctx = newContext({ role: 'server', levels: ['initial'] });
  ctx.limits.amplification = 700;
  const a = new PacketAssembler(ctx);
  const r = flush(a, [new CryptoSource().add('initial', patternBytes(90))], 1);
  assert.is(ctx.datagrams.length, 1);
  assert.is(ctx.datagrams[0].length, 700, 'padded up to the budget, not beyond');
  assert.is(r.bytes, 700);
});

test('packet number + payload reaches 4 bytes for the header-protection sample (RFC 9001 §5.4.2)', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx);
  flush(a, [new QueueSource('ping').push('oneRtt', { kind: 'ping' })], 1);
  const [[p]] = decodeAll(ctx);
  assert.is(p.pnLength, 1);
  assert.equal(kinds(p), ['padding', 'ping']);
  assert.is(p.pnLength + 1 + 2, 4, 'one PING byte and two PADDING bytes after a 1-byte packet number');
  assert.is(ctx.sent[0].inFlight, true);
});

test('PADDING goes before the frames, so a last frame without a Length field still runs to the end of its packet', () => {
  // Client: an Initial packet, then a 1-RTT packet ending with a DATAGRAM frame of type 0x30
  // (no Length field); the 1-RTT packet ends the datagram and takes its padding.
  const ctx = newContext({ role: 'client', levels: ['initial', 'oneRtt'] });
  const b = new PacketBuilder(ctx);
  b.initialize(0);
  b.prepareForControlFrames('initial');
  b.buffer[b.offset] = 0x01;
  b.commitFrame(1, { kind: 'ping' }, true);
  b.finalize(false);
  b.prepareForStreamFrames();
  const payload = patternBytes(100);
  b.buffer[b.offset] = 0x30;
  b.buffer.set(payload, b.offset + 1);
  b.commitFrame(1 + payload.length, { kind: 'datagram', id: 1 }, true);
  b.finalize(true);
  b.cleanup();
  assert.is(ctx.datagrams[0].length, 1200);
  const [dg] = decodeAll(ctx);
  assert.equal(kinds(dg[1]), ['padding', 'datagram']);
  const d = dg[1].frames[1] as Extract<Frame, { kind: 'datagram' }>;
  assert.is(d.explicitLength, false);
  assert.equal(d.data, payload, 'the DATAGRAM payload is exactly what was written');
});

test('congestion-controlled frames never ride in a datagram whose padding would exceed the allowance', () => {
  const ctx = newContext({ role: 'client', levels: ['initial', 'oneRtt'] });
  ctx.limits.congestion = 600;
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(4, patternBytes(5000));
  const r = flush(a, [new AckSource().set('initial', [{ smallest: 0, largest: 0 }]), stream], 1);
  assert.is(ctx.datagrams.length, 1);
  assert.is(ctx.datagrams[0].length, 1200, 'the Initial datagram is still padded');
  assert.not.ok(decodeAll(ctx).flat().some((p) => kinds(p).includes('stream')), 'no STREAM frame in it');
  assert.is(r.blockedBy, 'congestion');
});

test('1-RTT packet numbers beyond 2^32 are written as the low bytes of the full number and decode exactly (RFC 9000 §17.1)', () => {
  for (const first of [2 ** 32 - 2, 2 ** 32 + 7, 2 ** 40 + 123_456, 2 ** 53 - 100]) {
    const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
    const pns = new PacketNumberState('application', { random: ctx.random, first, skip: false });
    pns.onAcknowledged(first - 1);
    ctx.pns.application = pns;
    const a = new PacketAssembler(ctx);
    flush(a, [new StreamSource().addStream(1, patternBytes(3000))], 0);
    const expected = ctx.sent.map((_, i) => first + i);
    assert.ok(expected.length >= 3, 'several packets');
    assert.equal(ctx.sent.map((p) => p.packetNumber), expected);
    const dec = new PeerDecoder(ctx.peerKeys(), ctx.dcid.length, false, { application: first - 1 });
    assert.equal(ctx.datagrams.flatMap((d, i) => dec.decode(d, i).map((p) => p.packetNumber)), expected, `from ${first}`);
  }
});

// ------------------------------------------------------------------------------------------------
// Coalescing and datagram limits
// ------------------------------------------------------------------------------------------------

test('Initial, Handshake and 1-RTT packets coalesce in order; a 1-RTT packet ends its datagram; every datagram fits its size', () => {
  const ctx = newContext({ role: 'server' });
  ctx.limits.mds = 1350;
  const a = new PacketAssembler(ctx);
  const crypto = new CryptoSource().add('initial', patternBytes(120)).add('handshake', patternBytes(3000));
  const stream = new StreamSource().addStream(1, patternBytes(4000));
  const r = flush(a, [new AckSource().set('initial', [{ smallest: 0, largest: 0 }]), crypto, stream], 2);
  const all = decodeAll(ctx);
  for (const d of ctx.datagrams) assert.ok(d.length <= 1350);
  for (const dg of all) {
    for (let i = 1; i < dg.length; i++) assert.ok(ORDER[dg[i - 1].level] <= ORDER[dg[i].level], 'coalescing order');
    const oneRtt = dg.findIndex((p) => p.level === 'oneRtt');
    if (oneRtt >= 0) assert.is(oneRtt, dg.length - 1, '1-RTT packet last');
  }
  assert.equal(all[0].map((p) => p.level), ['initial', 'handshake']);
  assert.equal(streamData(all, 1, 4000), patternBytes(4000));
  assert.is(r.datagrams, ctx.datagrams.length);
  assert.is(r.packets, ctx.sent.length);
  // Several packets per level per flush.
  assert.ok(ctx.sent.filter((p) => p.level === 'handshake').length >= 3);
});

test('every packet is reported once, after it is sealed and before its datagram; sizes match the bytes', () => {
  const ctx = newContext({ role: 'server' });
  const a = new PacketAssembler(ctx);
  const crypto = new CryptoSource().add('initial', patternBytes(100)).add('handshake', patternBytes(2000));
  flush(a, [crypto, new StreamSource().addStream(1, patternBytes(6000))], 1);
  const all = decodeAll(ctx);
  let k = 0;
  let log = '';
  all.forEach((dg, i) => {
    let sum = 0;
    for (const p of dg) {
      const s = ctx.sent[k++];
      assert.is(s.level, p.level);
      assert.is(s.packetNumber, p.packetNumber);
      assert.is(s.size, p.size);
      sum += s.size;
      log += 'p';
    }
    assert.is(sum, ctx.datagrams[i].length);
    log += 'd';
  });
  assert.is(k, ctx.sent.length);
  assert.is(ctx.sinkLog.join(''), log);
});

test('server amplification: the bytes of a flush never exceed the budget; the flush reports being blocked', () => {
  const ctx = newContext({ role: 'server' });
  ctx.limits.amplification = 3 * 1250;
  const a = new PacketAssembler(ctx);
  const crypto = new CryptoSource().add('initial', patternBytes(150)).add('handshake', patternBytes(8000));
  const r = flush(a, [new AckSource().set('initial', [{ smallest: 0, largest: 0 }]), crypto], 2);
  const total = ctx.datagrams.reduce((s, d) => s + d.length, 0);
  assert.ok(total <= 3 * 1250, `${total} bytes`);
  assert.ok(total > 3 * 1250 - 100, 'the budget is used');
  assert.is(r.blockedBy, 'amplification');
  decodeAll(ctx);
});

test('the frame cap: no packet holds more than maxFramesPerPacket frames; capped packets coalesce with more of the same level', () => {
  const ctx = newContext({ role: 'server', levels: ['handshake', 'oneRtt'], maxFramesPerPacket: 3 });
  const a = new PacketAssembler(ctx);
  const q = new QueueSource('control');
  for (let i = 0; i < 10; i++) q.push('handshake', { kind: 'crypto', offset: i * 10, data: patternBytes(10, i) });
  const fullReports: boolean[] = [];
  const spy: FrameSource = {
    name: 'spy',
    hasPending: (l) => q.hasPending(l),
    write(w: PacketWriter): number {
      const original = w.commitFrame.bind(w);
      const n = q.write({
        get level() {
          return w.level;
        },
        get buffer() {
          return w.buffer;
        },
        get offset() {
          return w.offset;
        },
        get room() {
          return w.room;
        },
        get full() {
          return w.full;
        },
        get now() {
          return w.now;
        },
        commitFrame(length, sent, ackEliciting) {
          const full = original(length, sent, ackEliciting);
          fullReports.push(full);
          assert.is(full, w.full);
          return full;
        },
      });
      return n;
    },
  };
  flush(a, [spy], 1);
  const [dg] = decodeAll(ctx);
  assert.is(ctx.datagrams.length, 1, 'all in one datagram');
  assert.equal(dg.map((p) => p.frames.length), [3, 3, 3, 1]);
  assert.equal(fullReports, [false, false, true, false, false, true, false, false, true, false]);
  for (const p of ctx.sent) assert.ok(p.frames.length <= 3);
});

test('a source writing beyond its room is refused with INTERNAL_ERROR and its packet is given back', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx);
  const good = new QueueSource('good').push('oneRtt', { kind: 'maxData', maximum: 1000 });
  const greedy: FrameSource = { name: 'greedy', hasPending: () => true, write: (w) => (w.commitFrame(w.room + 1, { kind: 'ping' }, true), 1) };
  const r = flush(a, [good, greedy], 2);
  assert.instance(r.error, QuicError);
  assert.is((r.error as QuicError).code, TransportErrorCode.INTERNAL_ERROR);
  assert.is(ctx.errors.length, 1);
  assert.equal(good.lost, [{ kind: 'maxData', maximum: 1000 }], 'the frame already written went back');
  assert.is(ctx.datagrams.length, 0);
  assert.is(a.builder.state, 'uninitialized', 'the builder is reusable');
  assert.is(ctx.pns.application.next, 0, 'the unsealed packet number was given back');
});

// ------------------------------------------------------------------------------------------------
// Congestion gate and pacing (RFC 9002 §7, §7.7)
// ------------------------------------------------------------------------------------------------

test('congestion gate: with no congestion window, ACK, CRYPTO and CONNECTION_CLOSE still go out, the others do not', () => {
  const ctx = newContext({ role: 'server' });
  ctx.limits.congestion = 0;
  const a = new PacketAssembler(ctx);
  const ack = new AckSource().set('oneRtt', [{ smallest: 0, largest: 5 }]);
  const crypto = new CryptoSource().add('handshake', patternBytes(300));
  const close = new CloseSource(['oneRtt'], false, 0n);
  const control = new QueueSource('control').push('oneRtt', { kind: 'maxData', maximum: 100_000 });
  const stream = new StreamSource().addStream(1, patternBytes(1000));
  const r = flush(a, [ack, crypto, close, control, stream], 3);
  const frames = decodeAll(ctx).flat().flatMap((p) => kinds(p));
  assert.ok(frames.includes('ack'));
  assert.ok(frames.includes('crypto'));
  assert.ok(frames.includes('connectionClose'));
  assert.not.ok(frames.includes('maxData'));
  assert.not.ok(frames.includes('stream'));
  assert.ok(control.hasPending('oneRtt') && stream.hasPending('oneRtt'), 'gated work waits');
  assert.is(r.blockedBy, 'congestion');
});

test('congestion allowance: in-flight bytes up to each packet with gated frames stay within the window', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  ctx.limits.congestion = 4000;
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(1, patternBytes(20_000));
  const r = flush(a, [stream], 0);
  let inFlight = 0;
  for (const p of ctx.sent) {
    inFlight += p.inFlight ? p.size : 0;
    assert.ok(inFlight <= 4000, `${inFlight} bytes in flight`);
  }
  assert.ok(inFlight > 4000 - 100, 'the window is used');
  assert.is(r.blockedBy, 'congestion');
});

test('pacing: the pacer is asked at the flush time and limits congestion-controlled bytes', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  ctx.limits.pacing = 2500;
  const a = new PacketAssembler(ctx);
  const r = flush(a, [new StreamSource().addStream(1, patternBytes(20_000))], 0, {}, 42);
  assert.equal(ctx.limits.pacingAsked, [42]);
  const bytes = ctx.sent.reduce((s, p) => s + p.size, 0);
  assert.ok(bytes <= 2500 && bytes > 2400, `${bytes} bytes`);
  assert.is(r.blockedBy, 'pacing');
  assert.ok(ctx.sent.every((p) => p.timeSent === 42));
});

test('a datagram limit per flush stops the flush and says so', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx, { maxDatagramsPerFlush: 2 });
  const r = flush(a, [new StreamSource().addStream(1, patternBytes(20_000))], 0);
  assert.is(r.datagrams, 2);
  assert.is(r.blockedBy, 'flush-limit');
});

// ------------------------------------------------------------------------------------------------
// Probes (RFC 9002 §6.2.4, RFC 9000 §14.4)
// ------------------------------------------------------------------------------------------------

test('PTO probes: a PING when nothing else is pending, bypassing the window; long header padded to the datagram, short header to the stateless-reset length', () => {
  const ctx = newContext({ role: 'client', levels: ['handshake', 'oneRtt'] });
  ctx.limits.congestion = 0;
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(0, patternBytes(30));
  const r = flush(a, [stream], 0, { probes: { handshake: 1, application: 2 } });
  assert.is(r.probesSent, 3);
  const all = decodeAll(ctx);
  const hs = all.flat().filter((p) => p.level === 'handshake');
  assert.is(hs.length, 1);
  assert.equal(kinds(hs[0]).filter((k) => k !== 'padding'), ['ping']);
  const oneRtt = all.flat().filter((p) => p.level === 'oneRtt');
  assert.is(oneRtt.length, 2);
  assert.ok(oneRtt.every((p) => p.size >= ctx.scid!.length + STATELESS_RESET_PADDING));
  assert.ok(kinds(oneRtt[0]).includes('stream'), 'a probe carries new data when there is some');
  assert.ok(kinds(oneRtt[1]).includes('ping'));
  const hsDatagram = ctx.datagrams[all.findIndex((dg) => dg.some((p) => p.level === 'handshake'))];
  assert.is(hsDatagram.length, 1200, 'the datagram with the Handshake probe is padded to the MTU');
  assert.ok(ctx.sent.every((p) => p.ackEliciting));
});

test('a PMTU probe is a PING padded to the probe size in a datagram of its own, marked as an MTU probe', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx);
  const r = flush(a, [new AckSource().set('oneRtt', [{ smallest: 0, largest: 0 }])], 1, { mtuProbeSize: 1452 });
  assert.ok(r.mtuProbeSent);
  assert.is(ctx.datagrams[0].length, 1452, 'beyond the current maximum datagram size');
  const [probe, ack] = decodeAll(ctx);
  assert.equal(kinds(probe[0]), ['padding', 'ping']);
  assert.ok(ctx.sent[0].isMtuProbe);
  assert.equal(kinds(ack[0]), ['ack']);
  assert.not.ok(ctx.sent[1].isMtuProbe);
});

test('no PMTU probe before the address is validated, without 1-RTT keys, or without congestion allowance', () => {
  const c1 = newContext({ role: 'server', levels: ['oneRtt'] });
  c1.limits.amplification = 100_000;
  assert.not.ok(flush(new PacketAssembler(c1), [], 0, { mtuProbeSize: 1400 }).mtuProbeSent);
  const c2 = newContext({ role: 'server', levels: ['handshake'] });
  assert.not.ok(flush(new PacketAssembler(c2), [], 0, { mtuProbeSize: 1400 }).mtuProbeSent);
  const c3 = newContext({ role: 'server', levels: ['oneRtt'] });
  c3.limits.congestion = 0;
  assert.not.ok(flush(new PacketAssembler(c3), [], 0, { mtuProbeSize: 1400 }).mtuProbeSent);
  assert.is(c1.datagrams.length + c2.datagrams.length + c3.datagrams.length, 0);
});

// ------------------------------------------------------------------------------------------------
// Packet numbers
// ------------------------------------------------------------------------------------------------

test('packet numbers skip now and then; the skipped ones are never sent and an ACK of one is refused here and by recovery', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'], skip: { application: { minInterval: 2, maxInterval: 6 } } });
  const a = new PacketAssembler(ctx);
  flush(a, [new StreamSource().addStream(1, patternBytes(40_000))], 0);
  const pns = decodeAll(ctx).flat().map((p) => p.packetNumber);
  assert.equal(pns, ctx.sent.map((p) => p.packetNumber));
  const skipped = ctx.pns.application.skipped();
  assert.ok(skipped.length >= 4, `${skipped.length} skipped`);
  const recovery = new Recovery({ isServer: true, pacing: false });
  for (const p of ctx.sent) recovery.onPacketSent(p);
  for (let pn = 0; pn <= pns[pns.length - 1]; pn++) {
    const sent = pns.includes(pn);
    assert.is(ctx.pns.application.isSkipped(pn), !sent, `pn ${pn}`);
    if (!sent) {
      assert.throws(() => recovery.onAckReceived('application', { ranges: [{ smallest: pn, largest: pn }], ackDelay: 0 }, 1), /never sent/);
      assert.throws(() => ctx.pns.application.checkAcknowledged([{ smallest: pn, largest: pn }]), /never sent/);
    }
  }
});

test('Finalize of an empty packet reverts its packet number and removes its header (contract)', () => {
  const ctx = newContext({ role: 'server', levels: ['handshake', 'oneRtt'] });
  const b = new PacketBuilder(ctx);
  b.initialize(0);
  b.prepareForControlFrames('handshake');
  assert.is(ctx.pns.handshake.next, 1);
  assert.is(b.finalize(false), 'empty');
  assert.is(ctx.pns.handshake.next, 0, 'number given back');
  assert.is(b.state, 'initialized', 'nothing batched');
  assert.not.ok(b.isDatagramOpen, 'header removed with its datagram');
  b.prepareForStreamFrames();
  b.buffer[b.offset] = 0x01;
  b.commitFrame(1, { kind: 'ping' }, true);
  b.finalize(true);
  b.cleanup();
  const [[p]] = decodeAll(ctx);
  assert.is(p.level, 'oneRtt');
  assert.is(ctx.datagrams[0].length, p.size, 'no trace of the removed Handshake header');
  // Through the flush: a source that announces work and writes nothing consumes no number.
  const a = new PacketAssembler(ctx);
  const mute: FrameSource = { name: 'mute', hasPending: () => true, write: () => 0 };
  const r = flush(a, [mute], 1);
  assert.is(r.packets, 0);
  assert.is(ctx.pns.handshake.next, 0);
  assert.is(ctx.pns.application.next, 1);
});

// ------------------------------------------------------------------------------------------------
// Key phase (RFC 9001 §6)
// ------------------------------------------------------------------------------------------------

test('key phase: after the packet budget on a key, the next 1-RTT packets use the next keys and flip the Key Phase bit', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'], keyUpdateBudget: { packets: 3 } });
  const a = new PacketAssembler(ctx);
  flush(a, [new StreamSource().addStream(1, patternBytes(9000))], 0);
  const packets = decodeAll(ctx).flat();
  assert.equal(packets.map((p) => p.generation), [0, 0, 0, 1, 1, 1, 2, 2]);
  assert.equal(packets.map((p) => p.keyPhase), [0, 0, 0, 1, 1, 1, 0, 0]);
  assert.equal(ctx.sent.map((p) => p.keyPhase), [0, 0, 0, 1, 1, 1, 0, 0]);
  assert.is(ctx.keyUpdatesStarted, 2);
  assert.is(a.builder.keyUpdateCount, 2);
});

test('key phase: no update while the connection cannot update (handshake unconfirmed or update pending); the budget also counts bytes', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'], keyUpdateBudget: { packets: 2 } });
  ctx.updatesAllowed = false;
  const a = new PacketAssembler(ctx);
  flush(a, [new StreamSource().addStream(1, patternBytes(5000))], 0);
  assert.is(ctx.keyUpdatesStarted, 0);
  assert.ok(decodeAll(ctx).flat().every((p) => p.generation === 0));
  ctx.updatesAllowed = true;
  flush(a, [new StreamSource().addStream(5, patternBytes(100))], 0);
  assert.is(ctx.keyUpdatesStarted, 1, 'the update starts once allowed');
  const bytes = newContext({ role: 'server', levels: ['oneRtt'], keyUpdateBudget: { bytes: 2500 } });
  const b = new PacketAssembler(bytes);
  flush(b, [new StreamSource().addStream(1, patternBytes(6000))], 0);
  assert.equal(decodeAll(bytes).flat().map((p) => p.generation), [0, 0, 0, 1, 1, 1].slice(0, bytes.datagrams.length));
});

test('without a possible key update, no 1-RTT packet goes beyond the AEAD confidentiality limit (RFC 9001 §6.6)', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  ctx.updatesAllowed = false;
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(1, patternBytes(3000));
  flush(a, [stream], 0);
  const sentBefore = ctx.sent.length;
  // Fast-forward the count of packets on the current key to the AES-GCM limit, 2^23.
  (a.builder as unknown as { packetsOnKey: number }).packetsOnKey = 2 ** 23;
  const r = flush(a, [new StreamSource().addStream(5, patternBytes(100))], 0);
  assert.instance(r.error, QuicError);
  assert.is((r.error as QuicError).code, TransportErrorCode.AEAD_LIMIT_REACHED);
  assert.is(ctx.sent.length, sentBefore, 'nothing more sent');
  assert.is(a.builder.state, 'uninitialized');
});

// ------------------------------------------------------------------------------------------------
// CONNECTION_CLOSE (RFC 9000 §10.2.3)
// ------------------------------------------------------------------------------------------------

test('CONNECTION_CLOSE at every level the peer may use; an application close becomes APPLICATION_ERROR in Initial and Handshake', () => {
  const ctx = newContext({ role: 'server' });
  const a = new PacketAssembler(ctx);
  const close = new CloseSource(['initial', 'handshake', 'oneRtt'], true, 0x42n, new TextEncoder().encode('bye'));
  flush(a, [close], 1);
  assert.is(ctx.datagrams.length, 1, 'coalesced in one datagram');
  const [dg] = decodeAll(ctx);
  assert.equal(dg.map((p) => p.level), ['initial', 'handshake', 'oneRtt']);
  const closes = dg.map((p) => p.frames.find((f) => f.kind === 'connectionClose') as Extract<Frame, { kind: 'connectionClose' }>);
  assert.equal(closes.map((c) => c.application), [false, false, true]);
  assert.equal(closes.map((c) => c.errorCode), [BigInt(TransportErrorCode.APPLICATION_ERROR), BigInt(TransportErrorCode.APPLICATION_ERROR), 0x42n]);
  assert.equal(closes[2].reason, new TextEncoder().encode('bye'));
  assert.ok(ctx.sent.every((p) => !p.ackEliciting));
});

// ------------------------------------------------------------------------------------------------
// Seal failure: frames go back, nothing is emitted for the packet, the error is reported
// ------------------------------------------------------------------------------------------------

test('a packet that fails to seal: the packets before it are sent; it and the packets built after it give their frames back in order; the next flush sends them', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const k = ctx.keys.oneRtt!;
  ctx.keys.oneRtt = { send: failingSeals(k.send, new Set([2])), peer: k.peer };
  const a = new PacketAssembler(ctx);
  const control = new QueueSource('control').push('oneRtt', { kind: 'maxData', maximum: 1 }, { kind: 'maxData', maximum: 2 }, { kind: 'maxData', maximum: 3 });
  const stream = new StreamSource().addStream(1, patternBytes(5000));
  const r = flush(a, [control, stream], 1);
  assert.instance(r.error, PacketProtectionFailure);
  assert.is(ctx.errors.length, 1);
  assert.is(ctx.errors[0], r.error);
  assert.is(ctx.datagrams.length, 2, 'the two packets sealed before are sent');
  assert.is(ctx.sent.length, 2);
  // Short-header packets are sealed with their batch: those of the batch built after the failing
  // one were not sealed either, and go back with it.
  assert.ok(stream.written.length > 3, 'the batch held packets after the failing one');
  assert.equal(stream.lost, stream.written.slice(2), "the STREAM frames of the failed packet and of the later ones went back, in order");
  assert.is(control.lost.length, 0, 'the control frames went out in the first packet');
  assert.is(a.builder.state, 'uninitialized');
  const failedPn = 2;
  assert.ok(ctx.pns.application.isSkipped(failedPn), 'the number that reached the AEAD is never reused');
  for (let pn = 3; pn < stream.written.length; pn++) assert.ok(ctx.pns.application.isSkipped(pn), `the number ${pn} of a packet given back is not reused`);
  // Next flush: the seal works again and the data goes out.
  const r2 = flush(a, [control, stream], 1);
  assert.is(r2.error, undefined);
  const all = decodeAll(ctx);
  assert.not.ok(all.flat().some((p) => p.packetNumber === failedPn));
  assert.equal(streamData(all, 1, 5000), patternBytes(5000));
});

test('a seal failure in a coalesced datagram gives back the frames of the whole datagram, in packet then frame order', () => {
  const ctx = newContext({ role: 'server', levels: ['initial', 'handshake'] });
  const hs = ctx.keys.handshake!;
  ctx.keys.handshake = { send: failingSeals(hs.send, new Set([0])), peer: hs.peer };
  const a = new PacketAssembler(ctx);
  const q = new QueueSource('q')
    .push('initial', { kind: 'crypto', offset: 0, data: patternBytes(40) }, { kind: 'crypto', offset: 40, data: patternBytes(40, 40) })
    .push('handshake', { kind: 'crypto', offset: 0, data: patternBytes(30) });
  const r = flush(a, [q], 1);
  assert.instance(r.error, PacketProtectionFailure);
  assert.is((r.error as PacketProtectionFailure).level, 'handshake');
  assert.is(ctx.datagrams.length, 0);
  assert.is(ctx.sent.length, 0);
  assert.equal(
    q.lost.map((f) => (f as { offset: number }).offset),
    [0, 40, 0],
    'Initial frames first, then the Handshake frame',
  );
  assert.ok(ctx.pns.initial.isSkipped(0) && ctx.pns.handshake.isSkipped(0));
  const r2 = flush(a, [q], 1);
  assert.is(r2.error, undefined);
  const [dg] = decodeAll(ctx);
  assert.equal(dg.map((p) => [p.level, p.packetNumber]), [['initial', 1], ['handshake', 1]]);
  assert.equal(dg[0].frames.filter((f) => f.kind === 'crypto').map((f) => (f as { offset: number }).offset), [0, 40]);
});

test('a seal failure in a later batch: the earlier batches were handed over whole, the failing batch from its failing packet on goes back', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const k = ctx.keys.oneRtt!;
  // Batches of 2 datagrams; the 4th seal (the second packet of the second batch) fails.
  ctx.keys.oneRtt = { send: failingSeals(k.send, new Set([3])), peer: k.peer };
  const a = new PacketAssembler(ctx, { batchDatagrams: 2 });
  const stream = new StreamSource().addStream(1, patternBytes(8000));
  const r = flush(a, [stream], 0);
  assert.instance(r.error, PacketProtectionFailure);
  assert.match((r.error as Error).message, /sealing the oneRtt packet 3 failed: injected AEAD failure/);
  assert.is(ctx.datagrams.length, 3, 'the first batch (2) and the packet sealed before the failure (1)');
  assert.equal(ctx.sent.map((p) => p.packetNumber), [0, 1, 2]);
  assert.equal(stream.lost, stream.written.slice(3), 'the failed packet frame went back; the batch ended there');
  assert.ok(ctx.pns.application.isSkipped(3));
  const r2 = flush(a, [stream], 0);
  assert.is(r2.error, undefined);
  assert.equal(streamData(decodeAll(ctx), 1, 8000), patternBytes(8000));
});

test('a failing 1-RTT seal in a datagram coalesced behind a Handshake packet gives back the Handshake frames too', () => {
  const ctx = newContext({ role: 'server', levels: ['handshake', 'oneRtt'] });
  const k = ctx.keys.oneRtt!;
  ctx.keys.oneRtt = { send: failingSeals(k.send, new Set([0])), peer: k.peer };
  const a = new PacketAssembler(ctx);
  const q = new QueueSource('q').push('handshake', { kind: 'crypto', offset: 0, data: patternBytes(30) }).push('oneRtt', { kind: 'maxData', maximum: 7 });
  const r = flush(a, [q], 1);
  assert.instance(r.error, PacketProtectionFailure);
  assert.is((r.error as PacketProtectionFailure).level, 'oneRtt');
  assert.is(ctx.datagrams.length, 0, 'the datagram of the failing packet is not sent, its sealed Handshake packet included');
  assert.is(ctx.sent.length, 0);
  assert.equal(q.lost, [{ kind: 'crypto', offset: 0, data: patternBytes(30) }, { kind: 'maxData', maximum: 7 }], 'Handshake frame first, then the 1-RTT one');
  assert.ok(ctx.pns.handshake.isSkipped(0) && ctx.pns.application.isSkipped(0));
  const r2 = flush(a, [q], 1);
  assert.is(r2.error, undefined);
  const [dg] = decodeAll(ctx);
  assert.equal(dg.map((p) => [p.level, p.packetNumber]), [['handshake', 1], ['oneRtt', 1]]);
});

test('a header-protection failure gives back every packet of the batch and reports the error', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const k = ctx.keys.oneRtt!;
  const broken: HeaderProtection = {
    algorithm: k.send.hp.algorithm,
    mask: () => {
      throw new Error('injected HP failure');
    },
    maskBatch: () => {
      throw new Error('injected HP failure');
    },
  };
  ctx.keys.oneRtt = { send: { ...k.send, hp: broken }, peer: k.peer };
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(1, patternBytes(3000));
  const r = flush(a, [stream], 0);
  assert.instance(r.error, PacketProtectionFailure);
  assert.is(ctx.datagrams.length, 0);
  assert.is(ctx.sent.length, 0);
  assert.is(stream.lost.length, stream.written.length, 'every frame went back');
  assert.equal(ctx.pns.application.skipped(), [0, 1, 2]);
});

test('acknowledgement and loss reach the source that wrote each frame (SentPacket.sources)', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx);
  const q = new QueueSource('control').push('oneRtt', { kind: 'maxData', maximum: 9 });
  const stream = new StreamSource().addStream(1, patternBytes(100));
  flush(a, [q, stream], 1);
  const p: SentPacket = ctx.sent[0];
  assert.equal(p.sources, [q, stream]);
  notifyLost(p);
  assert.equal(q.lost, [{ kind: 'maxData', maximum: 9 }]);
  assert.is(stream.lost.length, 1);
});

// ------------------------------------------------------------------------------------------------
// Header protection batching, 0-RTT, greasing, misc
// ------------------------------------------------------------------------------------------------

test('short headers get header protection in batches: one mask call per batch of datagrams', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const k = ctx.keys.oneRtt!;
  let single = 0;
  let batches = 0;
  let masked = 0;
  const hp = k.send.hp;
  const counting: HeaderProtection = {
    algorithm: hp.algorithm,
    mask: (s, so, o, oo) => (single++, hp.mask(s, so, o, oo)),
    maskBatch: (samples, count, out) => (batches++, (masked += count), hp.maskBatch(samples, count, out)),
  };
  ctx.keys.oneRtt = { send: { ...k.send, hp: counting }, peer: k.peer };
  const a = new PacketAssembler(ctx, { batchDatagrams: 8 });
  flush(a, [new StreamSource().addStream(1, patternBytes(40 * 1150))], 0);
  const n = ctx.datagrams.length;
  assert.ok(n >= 40);
  assert.is(batches + single, Math.ceil(n / 8), 'one mask computation per batch of 8 datagrams');
  assert.is(masked + single, n, 'every packet protected once');
  decodeAll(ctx);
});

test('client 0-RTT: Initial and 0-RTT coalesce, the 0-RTT packet carries the padding and the stream data', () => {
  const ctx = newContext({ role: 'client', levels: ['initial', 'zeroRtt'] });
  const a = new PacketAssembler(ctx);
  flush(a, [new CryptoSource().add('initial', patternBytes(300)), new StreamSource().addStream(0, patternBytes(200))], 1);
  assert.is(ctx.datagrams.length, 1);
  assert.is(ctx.datagrams[0].length, 1200);
  const [dg] = decodeAll(ctx);
  assert.equal(dg.map((p) => p.level), ['initial', 'zeroRtt']);
  assert.equal(kinds(dg[1]), ['padding', 'stream']);
});

test('with grease_quic_bit, the Fixed Bit is set at random outside Initial packets (RFC 9287 §3)', () => {
  const ctx = newContext({ role: 'server', levels: ['initial', 'oneRtt'], greaseFixedBit: true });
  const a = new PacketAssembler(ctx);
  flush(a, [new CryptoSource().add('initial', patternBytes(40)), new StreamSource().addStream(1, patternBytes(30_000))], 1);
  const packets = decodeAll(ctx, true).flat();
  const fixed = packets.filter((p) => p.level === 'oneRtt').map((p) => (p.firstByte & 0x40) !== 0);
  assert.ok(fixed.includes(true) && fixed.includes(false), 'both values seen');
  assert.ok(packets.filter((p) => p.level === 'initial').every((p) => (p.firstByte & 0x40) !== 0));
});

test('without a source connection ID nothing is sent (contract §A.1)', () => {
  const ctx = newContext({ role: 'server' });
  ctx.scid = undefined;
  const r = flush(new PacketAssembler(ctx), [new CryptoSource().add('initial', patternBytes(10))], 1);
  assert.is(r.blockedBy, 'no-source-cid');
  assert.is(ctx.datagrams.length, 0);
});

test('a maximum datagram size below 1200 bytes is a fatal configuration error (RFC 9000 §14)', () => {
  const ctx = newContext({ role: 'server' });
  ctx.limits.mds = 1000;
  const r = flush(new PacketAssembler(ctx), [new CryptoSource().add('initial', patternBytes(10))], 1);
  assert.instance(r.error, QuicError);
  assert.is(ctx.errors.length, 1);
  assert.is(ctx.datagrams.length, 0);
});

test('a source that throws: the open packet goes back, earlier datagrams are still sent, the builder is reusable', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(1, patternBytes(3000));
  let calls = 0;
  const bomb: FrameSource = {
    name: 'bomb',
    hasPending: () => true,
    write: () => {
      // Called first in the third packet, after the stream's last 600 bytes.
      if (++calls === 1) throw new Error('boom');
      return 0;
    },
  };
  const r = flush(a, [stream, bomb], 0);
  assert.match(String(r.error), /boom/);
  assert.is(ctx.datagrams.length, 2, 'the datagrams completed before are sent');
  assert.is(stream.lost.length, 1, "the third packet's frame went back");
  assert.equal(stream.lost[0], stream.written[2]);
  assert.is(a.builder.state, 'uninitialized');
  flush(a, [stream], 0);
  assert.equal(streamData(decodeAll(ctx), 1, 3000), patternBytes(3000));
});

test('a sink that throws in the middle of a batch: later datagrams give their frames back, nothing stays pending, the next flush is whole', () => {
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const a = new PacketAssembler(ctx);
  const stream = new StreamSource().addStream(1, patternBytes(5000));
  const accept = ctx.onDatagram.bind(ctx);
  let handed = 0;
  ctx.onDatagram = (d: Uint8Array): void => {
    // The second datagram of the batch is reported, then its hand-over fails.
    if (++handed === 2) throw new Error('sink down');
    accept(d);
  };
  const r = flush(a, [stream], 0);
  assert.match(String(r.error), /sink down/);
  assert.is(ctx.datagrams.length, 1, 'the first datagram was handed over');
  assert.is(ctx.sent.length, 2, 'the packets of the first two datagrams were reported before their hand-over');
  const later = stream.written.slice(2);
  assert.ok(later.length >= 2, 'the batch held datagrams after the failing one');
  assert.equal(stream.lost, later, 'the frames of every datagram after the failing one went back, in order');
  assert.is(a.builder.pendingDatagrams, 0);
  assert.is(a.builder.state, 'uninitialized');
  // The second datagram was lost with the sink: its data is re-sent like a loss.
  stream.onLost(stream.written[1]);
  ctx.onDatagram = accept;
  flush(a, [stream], 0);
  assert.equal(streamData(decodeAll(ctx), 1, 5000), patternBytes(5000));
});

test('stream data scheduled over many flushes and datagram sizes up to 9000 arrives whole', () => {
  for (const mds of [1200, 1452, 1500, 9000]) {
    const ctx = newContext({ role: 'client', levels: ['oneRtt'], dcid: patternBytes(20), scid: new Uint8Array(0) });
    ctx.limits.mds = mds;
    ctx.limits.congestion = 3 * mds;
    const a = new PacketAssembler(ctx);
    const stream = new StreamSource().addStream(0, patternBytes(50_000)).addStream(4, patternBytes(20_000, 3));
    for (let i = 0; i < 100 && stream.hasPending('oneRtt'); i++) flush(a, [stream], 0, {}, i);
    const all = decodeAll(ctx);
    for (const d of ctx.datagrams) assert.ok(d.length <= mds);
    assert.equal(streamData(all, 0, 50_000), patternBytes(50_000));
    assert.equal(streamData(all, 4, 20_000), patternBytes(20_000, 3));
  }
});

test('between flushes the builder keeps no packet record and no datagram buffer alive (its pooled records are emptied)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const ctx = newContext({ role: 'server', levels: ['oneRtt'] });
  const arena = new DatagramArena();
  const a = new PacketAssembler(ctx, { batchDatagrams: 8, arena });
  const stream = new StreamSource().addStream(1, patternBytes(30_000));
  const r = flush(a, [stream], 0);
  assert.is(r.error, undefined);
  assert.ok(ctx.sent.length > 16, 'several batches');
  const records = ctx.sent.map((p) => new WeakRef(p));
  const buffer = new WeakRef(arena.buffer.buffer);
  ctx.sent.length = 0;
  ctx.datagrams.length = 0;
  ctx.sinkLog.length = 0;
  // The arena moves on to a new buffer, as it does when one is used up.
  arena.reserve(arena.buffer.length + 1);
  await new Promise((resolve) => setTimeout(resolve, 0)); // WeakRef targets live to the end of the job
  gc();
  assert.ok(records.every((w) => w.deref() === undefined), 'no packet record is held after the flush');
  assert.is(buffer.deref(), undefined, 'the old datagram buffer is held by nothing');
  // And the builder still works with its pools.
  flush(a, [new StreamSource().addStream(5, patternBytes(5000))], 0);
  assert.equal(streamData(decodeAll(ctx), 5, 5000), patternBytes(5000));
});

test.run();
