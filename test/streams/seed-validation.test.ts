/**
 * The founding document's validation (seeds/000_*, "Criterion 3" and "Criterion 5"): a 1.05 MB
 * stream write at MTU 1200 and 1452 becomes full packets — about 900 at 1200 bytes — over a few
 * flushes of the single outbound path, none above the MTU, and the peer reassembles the stream
 * byte for byte.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualScheduler } from '../../streams/schedulers.js';
import { varintSize } from '../../src/wire/varint.js';
import { OutboundHarness } from '../support/outbound-harness.js';

const BODY = 1_050_000;

function body(): Uint8Array {
  const b = new Uint8Array(BODY);
  for (let i = 0; i < BODY; i++) b[i] = 0x48 ^ (i % 251); // 'H', varied so misplaced bytes show
  return b;
}

for (const mtu of [1200, 1452]) {
  test(`MTU ${mtu}: a 1.05 MB stream write becomes full packets over a few flushes, none oversize, reassembled byte-exact`, () => {
    const h = new OutboundHarness({ mtu });
    const scheduler = new ManualScheduler();
    const path = h.path(scheduler);
    const data = body();
    const stream = h.streams.open(0);
    stream.write(data);
    stream.end();
    const flushes = scheduler.runAll();
    path.stop();

    const datagrams = h.sent;
    const sizes = datagrams.map((d) => d.bytes.length);
    assert.ok(Math.max(...sizes) <= mtu, `largest datagram ${Math.max(...sizes)} > ${mtu}`);
    assert.ok(sizes.slice(0, -1).every((s) => s === mtu), 'every datagram but the last is full');
    assert.is(h.fatalErrors.length, 0);

    // Payload per packet: MTU − short header (1 + 8-byte DCID + 1–4-byte packet number) − AEAD tag
    // − STREAM header (type, stream ID, offset varint); the frame fills the packet, no Length field.
    const most = mtu - 1 - 8 - 1 - 16 - 1 - varintSize(0) - 1;
    const least = mtu - 1 - 8 - 4 - 16 - 1 - varintSize(0) - varintSize(BODY);
    const packets = h.sentPackets().length;
    assert.ok(packets >= Math.ceil(BODY / most) && packets <= Math.ceil(BODY / least), `${packets} packets for ${BODY} bytes at ${least}–${most} bytes each`);
    if (mtu === 1200) assert.ok(packets > 890 && packets < 910, `about 900 packets (${packets})`);
    assert.is(datagrams.length, packets, '1-RTT packets end their datagram');
    assert.ok(flushes >= 2 && flushes <= 4, `a few flushes (${flushes}): the flush limit yields, the path continues`);

    h.deliver();
    const r = h.peer.stream(0);
    assert.is(r.duplicates, 0);
    assert.ok(r.complete());
    assert.is(r.finalSize, BODY);
    assert.equal(r.bytes(), data, 'byte-exact');
    console.log(`  MTU ${mtu}: ${packets} packets in ${datagrams.length} datagrams over ${flushes} flushes (bounds ${Math.ceil(BODY / most)}–${Math.ceil(BODY / least)})`);
  });
}

test.run();
