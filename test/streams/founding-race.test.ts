/**
 * The founding race (seeds/000_*), reproduced against the single outbound path.
 *
 * The seed's bug: a send loop and a receive loop both built packets, interleaving frame-queue
 * operations, so packets outgrew the MTU, control frames were added after the budget was
 * computed, and frames drained before encoding failed were lost. Here the same actors run
 * concurrently with real async interleavings — application writers on many streams (with
 * backpressure), a control-frame producer, a datagram producer, our own receive side reading
 * peer streams (window updates), a "receive loop" delivering and dropping datagrams, playing the
 * peer's ACKs (onAcked / onLost) and its credit grants and growing our ACK ranges, and a "send
 * loop" waking the path on its own — all through promises, setImmediate, microtasks and timers
 * with small random delays. Every one of them can only *signal*; one flush at a time builds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { firstValueFrom } from 'rxjs';
import type { SentPacket } from '../../src/packet/types.js';
import type { ControlFrame } from '../../src/transport/control-queue.js';
import type { AckFrame, Frame } from '../../src/wire/frames/types.js';
import { OutboundPath } from '../../streams/outbound.js';
import { setImmediateScheduler } from '../../streams/schedulers.js';
import { OutboundHarness, openLimits, prng } from '../support/outbound-harness.js';

const MTU = 1200;
const STREAMS = 12;
const CONTROL_FRAMES = 150;
const DATAGRAMS = 40;
const PEER_STREAM_WINDOW = 40_000;
const PEER_CONN_WINDOW = 200_000;
const LOSS = 0.05;

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function controlKey(f: ControlFrame | Frame): string {
  switch (f.kind) {
    case 'retireConnectionId':
      return `rcid:${f.sequenceNumber}`;
    case 'newConnectionId':
      return `ncid:${f.sequenceNumber}`;
    case 'newToken':
      return `nt:${f.token[0]}:${f.token[1]}`;
    default:
      return f.kind;
  }
}

for (const seed of [1, 2, 3]) {
  test(`seed ${seed}: concurrent producers, one flush at a time — no datagram over the MTU, every byte and frame delivered exactly once, in order`, async () => {
    const rng = prng(seed);
    const h = new OutboundHarness({
      mtu: MTU,
      seed,
      ackMaxRanges: 32,
      peer: openLimits({ initialMaxData: PEER_CONN_WINDOW, initialMaxStreamDataBidiRemote: PEER_STREAM_WINDOW }),
      local: openLimits({ initialMaxStreamDataBidiRemote: 20_000, initialMaxData: 60_000 }),
    });
    h.datagramQueue.setPeerMaxFrameSize(65535);
    h.datagramQueue.setMaxPacketPayload(MTU - 1 - 8 - 4 - 16);

    // The one outbound path, with a flush that records nesting.
    let depth = 0;
    let maxDepth = 0;
    let clock = 0;
    const path = new OutboundPath({
      signals: h.signals,
      scheduler: setImmediateScheduler,
      clock: () => clock,
      flush: (now) => {
        depth++;
        maxDepth = Math.max(maxDepth, depth);
        try {
          return h.flush(now);
        } finally {
          depth--;
        }
      },
    });

    const delay = (): Promise<void> =>
      new Promise((resolve) => {
        const r = rng.next();
        if (r < 0.3) setImmediate(resolve);
        else if (r < 0.6) queueMicrotask(resolve);
        else if (r < 0.8) setTimeout(resolve, rng.int(3));
        else void Promise.resolve().then(() => Promise.resolve()).then(resolve);
      });

    // --- application writers on many streams, with backpressure ---------------------------------
    const written = new Map<number, Uint8Array>();
    const writer = async (id: number): Promise<void> => {
      const total = 20_000 + rng.int(100_000);
      const all = bytes(total, id + seed * 1000);
      written.set(id, all);
      const s = h.streams.open(id);
      for (let off = 0; off < total; ) {
        const n = Math.min(total - off, 1 + rng.int(9000));
        const below = s.write(all.subarray(off, off + n));
        off += n;
        if (!below && s.isFull) await firstValueFrom(s.drained$);
        await delay();
      }
      s.end();
    };

    // --- control frames -----------------------------------------------------------------------------
    const enqueued: string[] = [];
    const controlProducer = async (): Promise<void> => {
      for (let i = 0; i < CONTROL_FRAMES; i++) {
        let f: ControlFrame;
        if (i % 10 === 3) {
          f = { kind: 'newConnectionId', sequenceNumber: i, retirePriorTo: 0, connectionId: bytes(8, i), statelessResetToken: bytes(16, i + 1) };
        } else if (i % 25 === 7) f = { kind: 'newToken', token: Uint8Array.of(i, i >> 8, 1, 2, 3) };
        else f = { kind: 'retireConnectionId', sequenceNumber: i };
        assert.ok(h.controlQueue.enqueue(f));
        enqueued.push(controlKey(f));
        await delay();
      }
    };

    // --- datagrams ----------------------------------------------------------------------------------
    const datagramIds = new Map<number, Uint8Array>();
    const datagramProducer = async (): Promise<void> => {
      for (let i = 0; i < DATAGRAMS; i++) {
        const d = bytes(1 + rng.int(1100), 50_000 + i);
        datagramIds.set(h.datagramQueue.send(d), d);
        await delay();
      }
    };
    const datagramOutcome = new Map<number, string>();
    h.datagramQueue.events$.subscribe((e) => datagramOutcome.set(e.id, e.outcome));

    // --- our receive side: the application reads the peer's streams (window updates) ---------------
    const peerStreams = [1, 5, 9];
    const readerOfPeerStreams = async (): Promise<void> => {
      for (const id of peerStreams) h.flow.addStream(id);
      const received = new Map(peerStreams.map((id) => [id, 0]));
      for (let step = 0; step < 200; step++) {
        const id = peerStreams[rng.int(peerStreams.length)];
        const limit = h.flow.streamReceiveWindow(id)!.limit;
        const got = received.get(id)!;
        const n = Math.min(limit - got, rng.int(3000));
        if (n > 0) {
          h.flow.checkStreamData(id, got + n);
          h.flow.onStreamData(id, got + n);
          received.set(id, got + n);
          h.flow.onStreamRead(id, n, clock);
        }
        await delay();
      }
    };

    // --- the receive loop: network, the peer's ACKs and credit, our ACK ranges ----------------------
    const peerPnsReceived = new Set<number>();
    let nextPeerPn = 0;
    const heldBack: number[] = [];
    const grantedStream = new Map<number, number>();
    let grantedConn = PEER_CONN_WINDOW;
    let creditViolations = 0;
    let droppedDatagrams = 0;
    let done = false;
    const receiveLoop = async (): Promise<void> => {
      for (let iteration = 0; !done; iteration++) {
        if (iteration > 500_000) throw new Error('the receive loop did not settle');
        clock += 1;
        // Deliver or drop what is on the wire.
        const n = h.inFlight.length;
        for (let i = 0; i < n; i++) {
          if (rng.next() < LOSS) {
            h.drop(0);
            droppedDatagrams++;
          } else h.deliver(1);
        }
        // The peer checks that no STREAM frame exceeded the credit it granted.
        for (const [id, r] of h.peer.streams) if (r.end > (grantedStream.get(id) ?? PEER_STREAM_WINDOW)) creditViolations++;
        let sum = 0;
        for (const r of h.peer.streams.values()) sum += r.end;
        if (sum > grantedConn) creditViolations++;
        if (rng.next() < 0.7) h.settle(); // ACKs arrive (onAcked), losses are declared (onLost)
        // The peer reads and grants credit (MAX_STREAM_DATA / MAX_DATA arriving).
        if (rng.next() < 0.5) {
          let contiguous = 0;
          for (const [id, r] of h.peer.streams) {
            const c = r.contiguous();
            contiguous += c;
            const g = grantedStream.get(id) ?? PEER_STREAM_WINDOW;
            if (g - c < PEER_STREAM_WINDOW / 2) {
              grantedStream.set(id, c + PEER_STREAM_WINDOW);
              h.flow.onMaxStreamData(id, c + PEER_STREAM_WINDOW);
            }
          }
          if (grantedConn - contiguous < PEER_CONN_WINDOW / 2) {
            grantedConn = contiguous + PEER_CONN_WINDOW;
            h.flow.onMaxData(grantedConn);
          }
        }
        // Packets from the peer: our ACK ranges grow, with gaps and reordering.
        if (rng.next() < 0.6) {
          for (let k = rng.int(4); k > 0; k--) {
            const pn = nextPeerPn++;
            if (rng.next() < 0.15) continue; // lost on the way to us: a gap
            if (rng.next() < 0.1) {
              heldBack.push(pn); // reordered: arrives later
              continue;
            }
            if (h.ack.tracker('application').onPacketReceived(pn, true, clock)) peerPnsReceived.add(pn);
          }
          if (heldBack.length > 0 && rng.next() < 0.3) {
            const pn = heldBack.shift()!;
            if (h.ack.tracker('application').onPacketReceived(pn, true, clock)) peerPnsReceived.add(pn);
          }
        }
        if (rng.next() < 0.02) h.ping.request('oneRtt');
        h.ack.onTimeout(clock);
        await delay();
      }
    };

    // --- the send loop of the seed: wakes the path on its own schedule ------------------------------
    const sendLoop = async (): Promise<void> => {
      while (!done) {
        path.wake();
        await delay();
      }
    };

    const ids = Array.from({ length: STREAMS }, (_, i) => i * 4);
    const loops = [receiveLoop(), sendLoop()];
    await Promise.all([...ids.map(writer), controlProducer(), datagramProducer(), readerOfPeerStreams()]);
    // Producers are done: run until everything is acknowledged.
    for (let i = 0; ; i++) {
      const allAcked = ids.every((id) => h.streams.get(id)!.buffer.allAcknowledged);
      const quiet = h.controlQueue.length === 0 && h.controlQueue.inFlightCount === 0 && !h.flow.hasPendingFrames && h.datagramQueue.length === 0;
      // A packet dropped but not yet declared lost still owes its frames (a lost MAX_STREAM_DATA is
      // queued again only when its loss is reported): settled means nothing left to report either.
      if (allAcked && quiet && h.inFlight.length === 0 && h.unsettled === 0 && datagramOutcome.size === DATAGRAMS) break;
      if (i > 200_000) throw new Error('did not settle');
      await new Promise((r) => setImmediate(r));
    }
    done = true;
    await Promise.all(loops);
    h.deliver();
    h.settle();
    path.stop();

    // --- no datagram ever exceeds its limit; one flush at a time; nothing failed -------------------
    const sizes = h.sent.map((d) => d.bytes.length);
    assert.ok(Math.max(...sizes) <= MTU, `largest datagram ${Math.max(...sizes)}`);
    assert.is(maxDepth, 1, 'the flush never ran inside itself');
    assert.is(h.fatalErrors.length, 0);
    assert.ok(path.flushCount > 10, `flushes: ${path.flushCount}`);
    assert.ok(droppedDatagrams > 0, 'losses were injected');
    assert.is(creditViolations, 0, 'no STREAM data beyond the credit the peer granted');

    // --- every stream byte-exact, exactly once ---------------------------------------------------------
    for (const id of ids) {
      const r = h.peer.stream(id);
      assert.is(r.duplicates, 0, `stream ${id}: bytes received twice`);
      assert.is(r.finalSize, written.get(id)!.length, `stream ${id}: final size`);
      assert.ok(r.complete(), `stream ${id}: complete`);
      assert.equal(r.bytes(), written.get(id)!, `stream ${id}: byte-exact`);
    }
    const totalBytes = [...written.values()].reduce((n, b) => n + b.length, 0);
    assert.is(h.flow.connectionSendState.used, totalBytes, 'retransmissions consumed no credit');

    // --- order within each source -------------------------------------------------------------------
    const packets: SentPacket[] = h.sentPackets();
    const newEnd = new Map<number, number>();
    for (const p of packets) {
      for (const f of p.frames) {
        if (f.kind !== 'stream') continue;
        const end = newEnd.get(f.streamId) ?? 0;
        if (f.offset + f.length > end) {
          assert.is(f.offset, end, `stream ${f.streamId}: new data is contiguous`);
          newEnd.set(f.streamId, f.offset + f.length);
        }
      }
    }
    const firstSent: string[] = [];
    const seen = new Set<string>();
    for (const p of packets) {
      for (const f of p.frames) {
        if (f.kind !== 'retireConnectionId' && f.kind !== 'newConnectionId' && f.kind !== 'newToken') continue;
        const key = f.kind === 'newToken' ? `nt:${f.token[0]}:${f.token[1]}` : controlKey(f as Frame);
        if (!seen.has(key)) {
          seen.add(key);
          firstSent.push(key);
        }
      }
    }
    assert.equal(firstSent, enqueued, 'control frames first sent in FIFO order');
    const delivered = h.peer.frames.map((x) => x.frame).filter((f) => f.kind === 'retireConnectionId' || f.kind === 'newConnectionId' || f.kind === 'newToken');
    assert.equal(delivered.map(controlKey).sort(), [...enqueued].sort(), 'every control frame delivered exactly once');
    const order = new Map(enqueued.map((k, i) => [k, i]));
    for (const p of packets) {
      const inPacket = p.frames
        .filter((f) => f.kind === 'retireConnectionId' || f.kind === 'newConnectionId' || f.kind === 'newToken')
        .map((f) => order.get(f.kind === 'newToken' ? `nt:${f.token[0]}:${f.token[1]}` : controlKey(f as Frame))!);
      for (let i = 1; i < inPacket.length; i++) assert.ok(inPacket[i - 1] < inPacket[i], `control frames out of order in packet ${p.packetNumber}: ${inPacket}`);
    }
    const reused = packets.length - new Set(packets.map((p) => `${p.space}:${p.packetNumber}`)).size;
    assert.is(reused, 0, 'packet numbers are never reused');

    // --- ACK frames: ranges of packets we received, bounded ------------------------------------------
    const acks = h.peer.frames.map((x) => x.frame).filter((f): f is AckFrame => f.kind === 'ack');
    assert.ok(acks.length > 0);
    for (const a of acks) {
      assert.ok(a.ranges.length <= 32);
      for (const r of a.ranges) for (let pn = r.smallest; pn <= r.largest; pn++) assert.ok(peerPnsReceived.has(pn), `ACK of ${pn}, never received`);
    }

    // --- window updates: the peer ends with our current limits ----------------------------------------
    for (const id of peerStreams) {
      const updates = h.peer.frames.map((x) => x.frame).filter((f) => f.kind === 'maxStreamData' && f.streamId === id);
      if (updates.length === 0) continue;
      const best = Math.max(...updates.map((f) => (f.kind === 'maxStreamData' ? f.maximum : 0)));
      assert.is(best, h.flow.streamReceiveWindow(id)!.limit, `stream ${id}: the peer knows our limit`);
    }

    // --- datagrams: each acknowledged, lost or dropped, and those acknowledged arrived intact ---------
    const gotDatagrams = h.peer.frames.map((x) => x.frame).filter((f) => f.kind === 'datagram');
    const ackedIds = [...datagramOutcome].filter(([, o]) => o === 'acked').map(([id]) => id);
    assert.is(gotDatagrams.length, ackedIds.length);
    assert.equal(
      gotDatagrams.map((f) => (f.kind === 'datagram' ? f.data : undefined)),
      ackedIds.sort((a, b) => a - b).map((id) => datagramIds.get(id)),
    );
    console.log(
      `  seed ${seed}: ${h.sent.length} datagrams (${droppedDatagrams} dropped) in ${path.flushCount} flushes, ${totalBytes} stream bytes, ${acks.length} ACK frames, ${CONTROL_FRAMES} control frames`,
    );
  });
}

test.run();
