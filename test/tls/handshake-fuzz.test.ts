/**
 * Fuzzing both handshake sides with random and mutated flights: more than 10,000 inputs per side,
 * each to a fresh session. Inputs are random bytes, random bytes framed as handshake messages of
 * any type, and mutations (bit flips, overwrites, insertions, deletions, truncations, duplicated
 * slices, with or without repaired length headers, delivered whole or in random pieces) of the
 * flights of a real handshake — the first flight, and the later flights after a valid first one.
 *
 * After every input: `receive` did not throw; the session is either still running without an error
 * or `failed` with a typed error — a TlsAlertError (CRYPTO_ERROR 0x100 + alert, never
 * internal_error: peer input must never look like our bug) or the QUIC PROTOCOL_VIOLATION RFC 9001
 * §8.4 / §4.6.1 call for — reported as the last event. Runs are seeded (TLS_FUZZ_SEED).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TlsAlert, TlsAlertError } from '../../src/tls/alerts.js';
import { TrustStore } from '../../src/tls/certificates.js';
import { createClientSession, createServerSession, type TlsSession } from '../../src/tls/session.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import { createChain } from '../support/pki.js';
import { Rng, mutate, repairLengths } from '../support/tls-fuzz.js';
import { CLIENT_TP, runHandshake, SERVER_TP, serverChain, splitFlight } from '../support/tls-handshake.js';

const SEED = Number(process.env.TLS_FUZZ_SEED ?? 0x5eed7157);
const now = Date.now();
const LEVELS: EncryptionLevel[] = ['initial', 'handshake', 'oneRtt', 'zeroRtt'];
const TYPES = [1, 2, 4, 5, 8, 11, 13, 15, 20, 24, 254, 0, 3, 255];

const chain = await serverChain('ecdsa-p256');
const clientPki = await createChain({ leaf: { keyType: 'ed25519' } });
const anchors = new TrustStore(chain.anchors);
const ticketKey = new Uint8Array(32).fill(9);
const clientConfig = {
  serverName: 'localhost',
  alpnProtocols: ['h3'],
  transportParameters: CLIENT_TP,
  trustAnchors: anchors,
  certificate: { certificateChain: clientPki.chain, privateKey: clientPki.leaf.privateKey },
  ticketStore: { add: () => undefined },
};
const serverConfig = {
  certificateChain: chain.chain,
  privateKey: chain.leaf.privateKey,
  alpnProtocols: ['h3'],
  transportParameters: SERVER_TP,
  clientAuthentication: {},
  sessionTickets: { key: ticketKey, count: 1 },
};
const newClient = () => createClientSession(clientConfig);
const newServer = () => createServerSession(serverConfig);

// A reference handshake whose flights are mutated.
const reference = runHandshake(newClient(), newServer(), { now });
assert.is(reference.client.error, undefined);
const flights = {
  clientHello: reference.client.sent.get('initial')![0],
  clientFlight2: reference.client.sent.get('handshake')![0],
  serverHello: reference.server.sent.get('initial')![0],
  serverFlight: reference.server.sent.get('handshake')![0],
  ticket: reference.server.sent.get('oneRtt')![0],
};
const lengthsOf = (flight: Uint8Array) => splitFlight(flight).map((m) => m.length - 4);

let failures = 0;
const alertsSeen = new Map<string, number>();

/** The invariant every input must keep. */
function check(session: TlsSession, input: string): void {
  const events = session.drain();
  const error = session.error;
  if (session.terminated) {
    assert.ok(error instanceof QuicError, `${input}: failed without a QuicError: ${String(error)}`);
    if (error instanceof TlsAlertError) {
      assert.is.not(error.alert, TlsAlert.internal_error, `${input}: peer input reported as internal_error: ${error.message}`);
      assert.is(error.code, 0x100 + error.alert);
      alertsSeen.set(`alert ${error.alert}`, (alertsSeen.get(`alert ${error.alert}`) ?? 0) + 1);
    } else {
      assert.is(error!.code, TransportErrorCode.PROTOCOL_VIOLATION, `${input}: ${error!.message}`);
      alertsSeen.set('PROTOCOL_VIOLATION', (alertsSeen.get('PROTOCOL_VIOLATION') ?? 0) + 1);
    }
    assert.is(session.state, 'failed');
    assert.is(events[events.length - 1]?.type, 'failed', `${input}: the failure is the last event`);
    failures++;
  } else {
    assert.is(error, undefined, `${input}: an error without the failed state`);
  }
}

function deliver(rng: Rng, session: TlsSession, level: EncryptionLevel, data: Uint8Array): void {
  try {
    if (rng.int(3) === 0 && data.length > 1) {
      for (let pos = 0; pos < data.length; ) {
        const n = 1 + rng.int(Math.max(1, data.length - pos));
        session.receive(level, data.subarray(pos, pos + n), now);
        pos += n;
      }
    } else {
      session.receive(level, data, now);
    }
  } catch (e) {
    assert.unreachable(`receive threw: ${String(e)}`);
  }
}

function framedRandom(rng: Rng): Uint8Array {
  const parts: number[] = [];
  for (let i = 0, n = 1 + rng.int(3); i < n; i++) {
    const body = rng.bytes(rng.int(300));
    parts.push(rng.pick(TYPES), body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff, ...body);
  }
  return Uint8Array.from(parts);
}

function mutatedFlight(rng: Rng, flight: Uint8Array): Uint8Array {
  const m = mutate(rng, flight);
  return rng.int(2) === 0 ? repairLengths(m, lengthsOf(flight)) : m;
}

const pickLevel = (rng: Rng, expected: EncryptionLevel) => (rng.int(5) === 0 ? rng.pick(LEVELS) : expected);

test('server: 10,500 random and mutated client flights end in a typed error or keep it running, never an exception', () => {
  const rng = new Rng(SEED);
  let n = 0;
  for (let i = 0; i < 3000; i++, n++) {
    const s = newServer();
    deliver(rng, s, pickLevel(rng, 'initial'), rng.bytes(rng.int(600)));
    check(s, `server random #${i}`);
  }
  for (let i = 0; i < 3000; i++, n++) {
    const s = newServer();
    deliver(rng, s, pickLevel(rng, 'initial'), framedRandom(rng));
    check(s, `server framed #${i}`);
  }
  for (let i = 0; i < 3000; i++, n++) {
    const s = newServer();
    deliver(rng, s, pickLevel(rng, 'initial'), mutatedFlight(rng, flights.clientHello));
    check(s, `server mutated ClientHello #${i}`);
  }
  for (let i = 0; i < 1500; i++, n++) {
    const s = newServer();
    s.receive('initial', flights.clientHello, now);
    assert.is(s.state, 'WAIT_CERT');
    s.drain();
    deliver(rng, s, pickLevel(rng, 'handshake'), rng.int(4) === 0 ? framedRandom(rng) : mutatedFlight(rng, flights.clientFlight2));
    check(s, `server mutated client flight 2 #${i}`);
  }
  assert.ok(n >= 10_000);
  assert.ok(failures > 9000, `most inputs fail (${failures})`);
});

test('client: 10,700 random and mutated server flights end in a typed error or keep it running, never an exception', () => {
  const rng = new Rng(SEED ^ 0xc11e);
  failures = 0;
  let n = 0;
  const started = () => {
    const c = newClient();
    c.start(now);
    c.drain();
    return c;
  };
  for (let i = 0; i < 3000; i++, n++) {
    const c = started();
    deliver(rng, c, pickLevel(rng, 'initial'), rng.bytes(rng.int(600)));
    check(c, `client random #${i}`);
  }
  for (let i = 0; i < 3000; i++, n++) {
    const c = started();
    deliver(rng, c, pickLevel(rng, 'initial'), framedRandom(rng));
    check(c, `client framed #${i}`);
  }
  for (let i = 0; i < 2500; i++, n++) {
    const c = started();
    deliver(rng, c, pickLevel(rng, 'initial'), mutatedFlight(rng, flights.serverHello));
    check(c, `client mutated ServerHello #${i}`);
  }
  for (let i = 0; i < 2000; i++, n++) {
    const c = started();
    c.receive('initial', flights.serverHello, now);
    assert.is(c.state, 'WAIT_EE');
    c.drain();
    deliver(rng, c, pickLevel(rng, 'handshake'), rng.int(4) === 0 ? framedRandom(rng) : mutatedFlight(rng, flights.serverFlight));
    check(c, `client mutated server flight #${i}`);
  }
  // Post-handshake: mutated NewSessionTickets (and anything else) at the 1-RTT level of a connected client.
  for (let i = 0; i < 200; i++, n++) {
    const c = newClient();
    const run = runHandshake(c, newServer(), { now, tamper: (from, level, data) => (from === 'server' && level === 'oneRtt' ? new Uint8Array(0) : data) });
    assert.is(run.client.error, undefined);
    deliver(rng, c, pickLevel(rng, 'oneRtt'), rng.int(4) === 0 ? framedRandom(rng) : mutatedFlight(rng, flights.ticket));
    check(c, `client mutated NewSessionTicket #${i}`);
  }
  assert.ok(n >= 10_000);
  assert.ok(failures > 9000, `most inputs fail (${failures})`);
});

test('the fuzzed inputs reach many different refusals', () => {
  // Not a coverage proof, but a guard against a fuzzer that only ever trips the first check.
  const kinds = [...alertsSeen.keys()];
  for (const expected of [TlsAlert.decode_error, TlsAlert.unexpected_message, TlsAlert.illegal_parameter, TlsAlert.decrypt_error]) {
    assert.ok(kinds.includes(`alert ${expected}`), `alert ${expected} seen (${kinds.join(', ')})`);
  }
  assert.ok(alertsSeen.size >= 6, `distinct refusals: ${kinds.join(', ')}`);
});

test.run();
