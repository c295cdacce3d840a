// Property: AEAD seals that fail anywhere in a batch lose nothing and send nothing half-made.
//
// Short-header packets are sealed with their batch (src/packet/builder.ts, sendBatch), so a seal
// that fails there must give back the failing packet and every packet built after it in the batch,
// hand over the datagrams before it, and never reuse a packet number — whatever the batch size, the
// datagram size, the mix of coalesced Handshake and 1-RTT packets, and where the failures fall.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PacketAssembler } from '../../src/packet/assembler.js';
import { PacketProtectionFailure } from '../../src/packet/builder.js';
import { failingSeals, FakeContext, patternBytes, PeerDecoder, QueueSource, StreamSource } from '../support/test-sources.js';

const arbScenario = fc.record({
  streams: fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: 1, maxLength: 4 }),
  handshakeCrypto: fc.array(fc.integer({ min: 1, max: 900 }), { maxLength: 3 }),
  batchDatagrams: fc.integer({ min: 1, max: 64 }),
  mds: fc.integer({ min: 1200, max: 1500 }),
  failOn: fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 6 }),
});

test('seal failures anywhere in a batch: every byte arrives exactly once, every datagram handed over opens, no packet number is reused', () => {
  fc.assert(
    fc.property(arbScenario, (s) => {
      const ctx = new FakeContext({ role: 'server', levels: ['handshake', 'oneRtt'] });
      ctx.limits.mds = s.mds;
      const counter = { n: 0 };
      const failOn = new Set(s.failOn);
      for (const level of ['handshake', 'oneRtt'] as const) {
        const k = ctx.keys[level];
        if (k !== undefined) ctx.keys[level] = { send: failingSeals(k.send, failOn, counter), peer: k.peer };
      }
      const stream = new StreamSource();
      s.streams.forEach((size, i) => stream.addStream(i * 4, patternBytes(size, i)));
      const crypto = new QueueSource('crypto');
      let cryptoOffset = 0;
      for (const size of s.handshakeCrypto) {
        crypto.push('handshake', { kind: 'crypto', offset: cryptoOffset, data: patternBytes(size, cryptoOffset) });
        cryptoOffset += size;
      }
      const a = new PacketAssembler(ctx, { batchDatagrams: s.batchDatagrams });
      let failures = 0;
      for (let round = 0; round < 500 && (stream.hasPending('oneRtt') || crypto.hasPending('handshake')); round++) {
        const r = a.flush(round, { sources: [crypto, stream], congestionGate: 1 });
        if (r.error !== undefined) {
          assert.instance(r.error, PacketProtectionFailure);
          failures++;
        }
        assert.is(a.builder.state, 'uninitialized');
      }
      assert.not.ok(stream.hasPending('oneRtt') || crypto.hasPending('handshake'), 'everything was sent in the end');
      assert.is(failures, ctx.errors.length);
      // Every datagram handed over was whole: it opens with the peer's keys, within the size limit.
      const dec = new PeerDecoder(ctx.peerKeys(), ctx.dcid.length, false);
      const decoded = ctx.datagrams.map((d, i) => {
        assert.ok(d.length <= s.mds, `datagram ${i} of ${d.length} bytes exceeds ${s.mds}`);
        return dec.decode(d, i);
      });
      // Packet numbers: the reported ones are exactly the decoded ones, increasing per space, and
      // none of them was ever abandoned.
      const bySpace = new Map<string, number[]>();
      for (const p of ctx.sent) {
        const list = bySpace.get(p.space) ?? [];
        list.push(p.packetNumber);
        bySpace.set(p.space, list);
        assert.not.ok(ctx.pns[p.space].isSkipped(p.packetNumber), `packet ${p.space}/${p.packetNumber} was sent after being abandoned`);
      }
      for (const [space, pns] of bySpace) for (let i = 1; i < pns.length; i++) assert.ok(pns[i] > pns[i - 1], `${space} numbers increase`);
      assert.is(decoded.flat().length, ctx.sent.length, 'every packet reported was handed over, and no other');
      // Stream data: every byte exactly once (a byte sent twice would be a frame both lost and sent).
      const frames = decoded.flat().flatMap((p) => p.frames);
      s.streams.forEach((size, i) => {
        const seen = new Uint8Array(size);
        const out = new Uint8Array(size);
        let fin = 0;
        for (const f of frames) {
          if (f.kind !== 'stream' || f.streamId !== i * 4) continue;
          for (let b = f.offset; b < f.offset + f.data.length; b++) {
            assert.is(seen[b], 0, `stream ${i * 4}: byte ${b} delivered twice`);
            seen[b] = 1;
          }
          out.set(f.data, f.offset);
          if (f.fin) fin++;
        }
        assert.ok(seen.every((x) => x === 1), `stream ${i * 4}: every byte delivered`);
        assert.equal(out, patternBytes(size, i));
        assert.is(fin, 1, `stream ${i * 4}: FIN once`);
      });
      // Handshake CRYPTO data: every byte exactly once.
      const seen = new Uint8Array(cryptoOffset);
      for (const f of frames) {
        if (f.kind !== 'crypto') continue;
        for (let b = f.offset; b < f.offset + f.data.length; b++) {
          assert.is(seen[b], 0, `CRYPTO byte ${b} delivered twice`);
          seen[b] = 1;
        }
      }
      assert.ok(seen.every((x) => x === 1), 'every CRYPTO byte delivered');
    }),
    { numRuns: 300 },
  );
});

test.run();
