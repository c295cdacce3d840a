import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  LocalConnectionIds,
  PeerConnectionIds,
  connectionIdKey,
  type ConnectionIdEntry,
  type LocalConnectionIdsOptions,
} from '../../src/transport/connection-ids.js';
import { StatelessResetTokenGenerator } from '../../src/transport/stateless-reset.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { QuicError, TransportErrorCode } from '../../src/wire/errors.js';
import { FrameType, type NewConnectionIdFrame } from '../../src/wire/frames/types.js';

const resetTokens = new StatelessResetTokenGenerator(nodeCrypto, new Uint8Array(32).fill(9));

function expectError(fn: () => unknown, code: number, frameType?: number): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, QuicError);
    assert.is((e as QuicError).code, code, (e as QuicError).message);
    if (frameType !== undefined) assert.is((e as QuicError).frameType, frameType);
    return;
  }
  assert.unreachable('expected a QuicError');
}

function local(options: Partial<LocalConnectionIdsOptions> = {}) {
  const added: ConnectionIdEntry[] = [];
  const removed: ConnectionIdEntry[] = [];
  const ids = new LocalConnectionIds({
    provider: nodeCrypto,
    connectionIdLength: 8,
    resetTokens,
    listener: { added: (e) => added.push(e), removed: (e) => removed.push(e) },
    ...options,
  });
  return { ids, added, removed };
}

/** Writes every pending NEW_CONNECTION_ID, as the outbound path would. */
function sendAll(ids: LocalConnectionIds): NewConnectionIdFrame[] {
  const frames = ids.pendingNewConnectionIds();
  for (const f of frames) ids.onNewConnectionIdSent(f.sequenceNumber);
  return frames;
}

/** A NEW_CONNECTION_ID whose connection ID and token are derived from the sequence number. */
function ncid(seq: number, retirePriorTo = 0, variant = 0): NewConnectionIdFrame {
  return {
    kind: 'newConnectionId',
    sequenceNumber: seq,
    retirePriorTo,
    connectionId: Uint8Array.of(0xc0, seq & 0xff, seq >> 8, variant, 1, 2, 3, 4),
    statelessResetToken: new Uint8Array(16).fill(seq & 0xff).fill(variant, 0, 1),
  };
}

function peer(limit = 4, initial = Uint8Array.of(1, 1, 1, 1), token?: Uint8Array, maxPendingRetirements?: number): PeerConnectionIds {
  return new PeerConnectionIds({ activeConnectionIdLimit: limit, initialConnectionId: initial, initialStatelessResetToken: token, maxPendingRetirements });
}

// ---- Local connection IDs ----------------------------------------------------------------------

test('sequence 0 is issued at construction: a random ID of the configured length with its HMAC token, announced to routing', () => {
  const { ids, added } = local();
  assert.is(ids.initial.sequenceNumber, 0);
  assert.is(ids.initial.connectionId.length, 8);
  assert.equal([...(ids.initial.statelessResetToken as Uint8Array)], [...resetTokens.token(ids.initial.connectionId)]);
  assert.equal(added, [ids.initial]);
  assert.is(ids.activeCount, 1);
  assert.is(ids.lookup(ids.initial.connectionId), ids.initial);
  const chosen = local({ initialConnectionId: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }).ids;
  assert.equal([...chosen.initial.connectionId], [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('connection ID lengths outside 0..20, or an initial ID of another length, are refused', () => {
  assert.throws(() => local({ connectionIdLength: 21 }), RangeError);
  assert.throws(() => local({ connectionIdLength: -1 }), RangeError);
  assert.throws(() => local({ initialConnectionId: new Uint8Array(4) }), RangeError);
});

test('nothing is issued before the peer’s active_connection_id_limit is known; then up to that limit', () => {
  const { ids, added } = local();
  assert.is(ids.replenish(), 0);
  ids.setPeerActiveConnectionIdLimit(4);
  assert.is(ids.replenish(), 3);
  assert.is(ids.activeCount, 4);
  const frames = ids.pendingNewConnectionIds();
  assert.equal(frames.map((f) => f.sequenceNumber), [1, 2, 3]);
  for (const f of frames) {
    assert.is(f.retirePriorTo, 0);
    assert.is(f.connectionId.length, 8);
    assert.equal([...f.statelessResetToken], [...resetTokens.token(f.connectionId)]);
  }
  assert.is(added.length, 4);
  assert.is(new Set(added.map((e) => connectionIdKey(e.connectionId))).size, 4, 'distinct IDs');
  assert.is(ids.replenish(), 0);
});

test('maxActive caps what we issue below a generous peer limit', () => {
  const { ids } = local({ maxActive: 3 });
  ids.setPeerActiveConnectionIdLimit(100);
  assert.is(ids.replenish(), 2);
  assert.is(ids.activeCount, 3);
});

test('the preferred address ID is sequence 1 and counts toward the peer’s limit', () => {
  const { ids } = local();
  const pa = ids.issuePreferredAddressConnectionId();
  assert.is(pa.sequenceNumber, 1);
  ids.setPeerActiveConnectionIdLimit(2);
  assert.is(ids.replenish(), 0);
  assert.throws(() => ids.issuePreferredAddressConnectionId(), RangeError);
  assert.throws(() => local({ connectionIdLength: 0 }).ids.issuePreferredAddressConnectionId(), RangeError);
});

test('a written NEW_CONNECTION_ID leaves the pending list and comes back when lost, unless retired meanwhile', () => {
  const { ids } = local();
  ids.setPeerActiveConnectionIdLimit(3);
  ids.replenish();
  ids.onNewConnectionIdSent(1);
  assert.equal(ids.pendingNewConnectionIds().map((f) => f.sequenceNumber), [2]);
  ids.onNewConnectionIdSent(2);
  assert.not.ok(ids.hasPendingNewConnectionIds);
  ids.onNewConnectionIdLost(1);
  assert.equal(ids.pendingNewConnectionIds().map((f) => f.sequenceNumber), [1]);
  ids.onNewConnectionIdSent(1);
  ids.onRetireConnectionId(2, ids.initial.connectionId);
  ids.onNewConnectionIdLost(2);
  assert.equal(ids.pendingNewConnectionIds().map((f) => f.sequenceNumber), [3], 'only the replacement');
  assert.is(ids.newConnectionIdFrame(2), undefined);
});

test('RETIRE_CONNECTION_ID removes the ID from routing and issues a replacement; a repeat is ignored', () => {
  const { ids, removed, added } = local();
  ids.setPeerActiveConnectionIdLimit(3);
  ids.replenish();
  const [one] = sendAll(ids);
  assert.is(ids.onRetireConnectionId(1, ids.initial.connectionId), 1);
  assert.is(removed.length, 1);
  assert.is(removed[0].sequenceNumber, 1);
  assert.is(ids.lookup(one.connectionId), undefined);
  assert.not.ok(ids.isActive(1));
  assert.is(added[added.length - 1].sequenceNumber, 3);
  assert.is(ids.activeCount, 3);
  assert.is(ids.onRetireConnectionId(1, ids.initial.connectionId), 0);
  assert.is(removed.length, 1);
});

test('RETIRE_CONNECTION_ID for a sequence number never sent is PROTOCOL_VIOLATION, even one issued but not yet written', () => {
  const { ids } = local();
  ids.setPeerActiveConnectionIdLimit(3);
  ids.replenish();
  expectError(() => ids.onRetireConnectionId(1, ids.initial.connectionId), TransportErrorCode.PROTOCOL_VIOLATION, FrameType.RETIRE_CONNECTION_ID);
  expectError(() => ids.onRetireConnectionId(9, ids.initial.connectionId), TransportErrorCode.PROTOCOL_VIOLATION);
  ids.onNewConnectionIdSent(2);
  ids.onRetireConnectionId(1, ids.initial.connectionId);
});

test('RETIRE_CONNECTION_ID naming the connection ID of its own packet is PROTOCOL_VIOLATION', () => {
  const { ids } = local();
  ids.setPeerActiveConnectionIdLimit(2);
  ids.replenish();
  const [f] = sendAll(ids);
  expectError(() => ids.onRetireConnectionId(1, f.connectionId), TransportErrorCode.PROTOCOL_VIOLATION, FrameType.RETIRE_CONNECTION_ID);
  expectError(() => ids.onRetireConnectionId(0, ids.initial.connectionId), TransportErrorCode.PROTOCOL_VIOLATION);
  assert.is(ids.onRetireConnectionId(0, f.connectionId), 1);
});

test('with zero-length connection IDs nothing is issued and RETIRE_CONNECTION_ID is PROTOCOL_VIOLATION', () => {
  const { ids } = local({ connectionIdLength: 0 });
  assert.ok(ids.zeroLength);
  assert.is(ids.initial.connectionId.length, 0);
  assert.is(ids.initial.statelessResetToken, undefined);
  ids.setPeerActiveConnectionIdLimit(8);
  assert.is(ids.replenish(), 0);
  expectError(() => ids.onRetireConnectionId(0, new Uint8Array(0)), TransportErrorCode.PROTOCOL_VIOLATION);
});

test('a generated ID that clashes with an active one is redrawn; a generator that always clashes is INTERNAL_ERROR', () => {
  const seq = [Uint8Array.of(1, 1), Uint8Array.of(1, 1), Uint8Array.of(2, 2)];
  let i = 0;
  const { ids } = local({ connectionIdLength: 2, initialConnectionId: Uint8Array.of(1, 1), generateConnectionId: () => seq[i++] });
  ids.setPeerActiveConnectionIdLimit(2);
  ids.replenish();
  assert.equal(ids.activeConnectionIds().map((e) => [...e.connectionId]), [
    [1, 1],
    [2, 2],
  ]);
  const stuck = local({ connectionIdLength: 2, initialConnectionId: Uint8Array.of(1, 1), generateConnectionId: () => Uint8Array.of(1, 1) }).ids;
  stuck.setPeerActiveConnectionIdLimit(2);
  expectError(() => stuck.replenish(), TransportErrorCode.INTERNAL_ERROR);
  const wrong = local({ connectionIdLength: 2, initialConnectionId: Uint8Array.of(1, 1), generateConnectionId: () => Uint8Array.of(1) }).ids;
  wrong.setPeerActiveConnectionIdLimit(2);
  assert.throws(() => wrong.replenish(), RangeError);
});

// ---- Peer connection IDs -----------------------------------------------------------------------

test('the handshake ID is current, sequence 0, with the server’s token once its transport parameters arrive', () => {
  const p = peer();
  assert.is(p.current.sequenceNumber, 0);
  assert.equal([...p.current.connectionId], [1, 1, 1, 1]);
  assert.is(p.current.statelessResetToken, undefined);
  assert.equal(p.statelessResetTokens(), []);
  const token = new Uint8Array(16).fill(0x77);
  p.setInitialStatelessResetToken(token);
  assert.equal([...(p.current.statelessResetToken as Uint8Array)], [...token]);
  assert.ok(p.isStatelessReset(Uint8Array.from([...new Uint8Array(10), ...token])));
  expectError(() => p.setInitialStatelessResetToken(new Uint8Array(15)), TransportErrorCode.FRAME_ENCODING_ERROR);
});

test('NEW_CONNECTION_ID adds an unused ID; its byte strings are copied', () => {
  const p = peer();
  const f = ncid(1);
  p.onNewConnectionId(f);
  f.connectionId.fill(0);
  f.statelessResetToken.fill(0);
  assert.is(p.activeCount, 2);
  assert.is(p.unusedCount, 1);
  assert.equal([...p.activeConnectionIds()[1].connectionId], [...ncid(1).connectionId]);
  assert.equal([...(p.activeConnectionIds()[1].statelessResetToken as Uint8Array)], [...ncid(1).statelessResetToken]);
});

test('a repeated NEW_CONNECTION_ID (same sequence, ID and token) is ignored', () => {
  const p = peer();
  p.onNewConnectionId(ncid(1));
  p.onNewConnectionId(ncid(1));
  assert.is(p.activeCount, 2);
});

test('the same sequence number with a different ID or token is PROTOCOL_VIOLATION', () => {
  const p = peer();
  p.onNewConnectionId(ncid(1));
  const otherId = { ...ncid(1), connectionId: Uint8Array.of(9, 9, 9) };
  expectError(() => p.onNewConnectionId(otherId), TransportErrorCode.PROTOCOL_VIOLATION, FrameType.NEW_CONNECTION_ID);
  const otherToken = { ...ncid(1), statelessResetToken: new Uint8Array(16).fill(0xee) };
  expectError(() => p.onNewConnectionId(otherToken), TransportErrorCode.PROTOCOL_VIOLATION);
});

test('an active ID or token repeated under another sequence number is PROTOCOL_VIOLATION', () => {
  const p = peer();
  p.onNewConnectionId(ncid(1));
  expectError(() => p.onNewConnectionId({ ...ncid(2), connectionId: ncid(1).connectionId }), TransportErrorCode.PROTOCOL_VIOLATION);
  expectError(() => p.onNewConnectionId({ ...ncid(2), statelessResetToken: ncid(1).statelessResetToken }), TransportErrorCode.PROTOCOL_VIOLATION);
  expectError(() => p.onNewConnectionId({ ...ncid(2), connectionId: Uint8Array.of(1, 1, 1, 1) }), TransportErrorCode.PROTOCOL_VIOLATION);
});

test('more active IDs than our active_connection_id_limit is CONNECTION_ID_LIMIT_ERROR', () => {
  const p = peer(2);
  p.onNewConnectionId(ncid(1));
  expectError(() => p.onNewConnectionId(ncid(2)), TransportErrorCode.CONNECTION_ID_LIMIT_ERROR, FrameType.NEW_CONNECTION_ID);
});

test('Retire Prior To retires lower IDs first, so a full set can be replaced at the limit', () => {
  const p = peer(2);
  p.onNewConnectionId(ncid(1));
  p.onNewConnectionId(ncid(2, 1));
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [1, 2]);
  assert.equal(p.pendingRetireConnectionIds(), [0]);
  assert.is(p.retirePriorTo, 1);
  p.onNewConnectionId(ncid(3, 3));
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [3]);
  assert.equal(p.pendingRetireConnectionIds(), [0, 1, 2]);
});

test('when Retire Prior To retires the current ID, the lowest unused active one becomes current', () => {
  const p = peer(4, Uint8Array.of(1, 1, 1, 1), new Uint8Array(16).fill(0x10));
  p.onNewConnectionId(ncid(1));
  p.onNewConnectionId(ncid(2));
  p.onNewConnectionId(ncid(3, 2));
  assert.is(p.current.sequenceNumber, 2);
  assert.equal(p.pendingRetireConnectionIds(), [0, 1]);
  // Tokens of retired IDs no longer count; the new current one's does.
  const old = Uint8Array.from([...new Uint8Array(8), ...new Uint8Array(16).fill(0x10)]);
  assert.not.ok(p.isStatelessReset(old));
  assert.ok(p.isStatelessReset(Uint8Array.from([...new Uint8Array(8), ...ncid(2).statelessResetToken])));
});

test('a Retire Prior To smaller than the largest received is ignored', () => {
  const p = peer(4);
  p.onNewConnectionId(ncid(1));
  p.onNewConnectionId(ncid(2, 1));
  p.onNewConnectionId(ncid(3, 0));
  assert.is(p.retirePriorTo, 1);
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [1, 2, 3]);
});

test('a NEW_CONNECTION_ID below the largest Retire Prior To is retired at once, not added, and its retirement queued once', () => {
  const p = peer(4);
  p.onNewConnectionId(ncid(5, 3));
  assert.equal(p.pendingRetireConnectionIds(), [0]);
  p.onNewConnectionId(ncid(2));
  assert.equal(p.pendingRetireConnectionIds(), [0, 2]);
  p.onNewConnectionId(ncid(2));
  assert.equal(p.pendingRetireConnectionIds(), [0, 2]);
  p.onRetireConnectionIdSent(2);
  p.onNewConnectionId(ncid(2));
  assert.equal(p.pendingRetireConnectionIds(), [0]);
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [5]);
});

test('too many unacknowledged retirements is CONNECTION_ID_LIMIT_ERROR', () => {
  const p = peer(2, Uint8Array.of(1, 1, 1, 1), undefined, 3);
  p.onNewConnectionId(ncid(1, 1));
  p.onNewConnectionId(ncid(2, 2));
  p.onNewConnectionId(ncid(3, 3));
  assert.is(p.pendingRetirements, 3);
  for (const s of p.pendingRetireConnectionIds()) p.onRetireConnectionIdSent(s);
  assert.is(p.pendingRetirements, 3, 'in flight still counts');
  expectError(() => p.onNewConnectionId(ncid(4, 4)), TransportErrorCode.CONNECTION_ID_LIMIT_ERROR);
  const q = peer(2, Uint8Array.of(1, 1, 1, 1), undefined, 3);
  for (let s = 1; s <= 3; s++) {
    q.onNewConnectionId(ncid(s, s));
    q.onRetireConnectionIdSent(s - 1);
    q.onRetireConnectionIdAcked(s - 1);
  }
  q.onNewConnectionId(ncid(4, 4));
  assert.is(q.pendingRetirements, 1);
});

test('the default retirement bound allows at least twice the active_connection_id_limit (RFC 9000 §5.1.2)', () => {
  const p = peer(4);
  for (let s = 1; s <= 8; s++) p.onNewConnectionId(ncid(s, s));
  assert.is(p.pendingRetirements, 8);
});

test('a lost RETIRE_CONNECTION_ID is queued again; an acknowledged one is done', () => {
  const p = peer(4);
  p.onNewConnectionId(ncid(1, 1));
  p.onRetireConnectionIdSent(0);
  assert.not.ok(p.hasPendingRetireConnectionIds);
  p.onRetireConnectionIdLost(0);
  assert.equal(p.pendingRetireConnectionIds(), [0]);
  p.onRetireConnectionIdSent(0);
  p.onRetireConnectionIdAcked(0);
  assert.is(p.pendingRetirements, 0);
  p.onRetireConnectionIdLost(0);
  assert.is(p.pendingRetirements, 0);
});

test('any NEW_CONNECTION_ID from a peer using zero-length connection IDs is PROTOCOL_VIOLATION', () => {
  const p = peer(4, new Uint8Array(0));
  assert.ok(p.zeroLength);
  expectError(() => p.onNewConnectionId(ncid(1)), TransportErrorCode.PROTOCOL_VIOLATION, FrameType.NEW_CONNECTION_ID);
  assert.is(p.switchConnectionId(), undefined);
  assert.not.ok(p.retire(0));
});

test('switching moves to the lowest unused ID and retires the old one; with none unused nothing changes', () => {
  const p = peer(4);
  assert.is(p.switchConnectionId(), undefined);
  p.onNewConnectionId(ncid(2));
  p.onNewConnectionId(ncid(1));
  const next = p.switchConnectionId() as ConnectionIdEntry;
  assert.is(next.sequenceNumber, 1);
  assert.is(p.current, next);
  assert.equal(p.pendingRetireConnectionIds(), [0]);
  assert.is(p.switchConnectionId(false)?.sequenceNumber, 2);
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [2, 1]);
  assert.is(p.statelessResetTokens().length, 2, 'both used IDs count for detection');
});

test('an ID we retired ourselves is not revived by a late copy of its NEW_CONNECTION_ID', () => {
  const p = peer(4);
  p.onNewConnectionId(ncid(1));
  assert.ok(p.retire(1));
  assert.equal(p.pendingRetireConnectionIds(), [1]);
  p.onNewConnectionId(ncid(1));
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [0]);
  assert.not.ok(p.retire(0), 'the last ID is kept');
  assert.not.ok(p.retire(7));
});

test('when Retire Prior To leaves no other ID, the current one stays in use and is retired once a replacement arrives', () => {
  // A retransmission of NEW_CONNECTION_ID for an ID we already retired may carry a larger Retire
  // Prior To than the original (senders resend the current value).
  const p = peer(4);
  p.onNewConnectionId(ncid(36, 35));
  p.onNewConnectionId(ncid(35, 35));
  p.switchConnectionId(); // 36 → 35, retiring 36
  assert.is(p.current.sequenceNumber, 35);
  p.onNewConnectionId({ ...ncid(36), retirePriorTo: 36 });
  assert.ok(p.isCurrentRetiring);
  assert.is(p.current.sequenceNumber, 35);
  assert.equal(p.activeConnectionIds(), []);
  assert.equal(p.pendingRetireConnectionIds(), [0, 36], 'no RETIRE for the ID our packets still carry');
  assert.is(p.statelessResetTokens().length, 1, 'its token still counts: it is in use');
  p.onNewConnectionId(ncid(35, 35)); // a late copy of its own frame, now below Retire Prior To
  assert.equal(p.pendingRetireConnectionIds(), [0, 36]);
  p.onNewConnectionId(ncid(37, 36));
  assert.not.ok(p.isCurrentRetiring);
  assert.is(p.current.sequenceNumber, 37);
  assert.equal(p.pendingRetireConnectionIds(), [0, 35, 36]);
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [37]);
});

test('retiring the current ID voluntarily switches to another one', () => {
  const p = peer(4);
  p.onNewConnectionId(ncid(1));
  assert.ok(p.retire(0));
  assert.is(p.current.sequenceNumber, 1);
});

test('unused IDs’ tokens are not used for detection (RFC 9000 §10.3.1)', () => {
  const p = peer(4);
  p.onNewConnectionId(ncid(1));
  const reset = Uint8Array.from([...new Uint8Array(8), ...ncid(1).statelessResetToken]);
  assert.not.ok(p.isStatelessReset(reset));
  p.switchConnectionId();
  assert.ok(p.isStatelessReset(reset));
});

test('the preferred address ID is added as sequence 1', () => {
  const p = peer(2);
  p.addPreferredAddressConnectionId(ncid(1).connectionId, ncid(1).statelessResetToken);
  assert.equal(p.activeConnectionIds().map((e) => e.sequenceNumber), [0, 1]);
  p.onNewConnectionId(ncid(1));
  expectError(() => p.onNewConnectionId(ncid(2)), TransportErrorCode.CONNECTION_ID_LIMIT_ERROR);
});

// ---- Properties --------------------------------------------------------------------------------

type PeerAction =
  | { kind: 'ncid'; seq: number; back: number; variant: number }
  | { kind: 'sent'; pick: number }
  | { kind: 'acked'; pick: number }
  | { kind: 'lost'; pick: number }
  | { kind: 'switch'; retire: boolean }
  | { kind: 'retire'; pick: number };

const peerAction: fc.Arbitrary<PeerAction> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('ncid' as const),
      seq: fc.integer({ min: 0, max: 40 }),
      back: fc.integer({ min: 0, max: 6 }),
      variant: fc.oneof({ weight: 20, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sent' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('acked' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lost' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('switch' as const), retire: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retire' as const), pick: fc.nat() }) },
);

test('property: random NEW_CONNECTION_ID / retirement sequences keep the active count within the limit and never lose the current ID', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 6 }), fc.array(peerAction, { minLength: 20, maxLength: 150, size: "max" }), (limit, actions) => {
      const p = peer(limit);
      const maxPending = Math.max(2 * limit, 8);
      const inFlight: number[] = [];
      for (const a of actions) {
        try {
          if (a.kind === 'ncid') p.onNewConnectionId(ncid(a.seq, Math.max(0, a.seq - a.back), a.variant));
          else if (a.kind === 'sent') {
            const q = p.pendingRetireConnectionIds();
            if (q.length > 0) {
              const s = q[a.pick % q.length];
              p.onRetireConnectionIdSent(s);
              inFlight.push(s);
            }
          } else if (a.kind === 'acked' || a.kind === 'lost') {
            if (inFlight.length > 0) {
              const [s] = inFlight.splice(a.pick % inFlight.length, 1);
              if (a.kind === 'acked') p.onRetireConnectionIdAcked(s);
              else p.onRetireConnectionIdLost(s);
            }
          } else if (a.kind === 'switch') p.switchConnectionId(a.retire);
          else {
            const act = p.activeConnectionIds();
            if (act.length > 0) p.retire(act[a.pick % act.length].sequenceNumber);
          }
        } catch (e) {
          // Only the protocol errors these rules define; after one the connection is closed.
          assert.instance(e, QuicError);
          assert.ok(
            ([TransportErrorCode.PROTOCOL_VIOLATION, TransportErrorCode.CONNECTION_ID_LIMIT_ERROR] as number[]).includes((e as QuicError).code),
            (e as QuicError).message,
          );
          return;
        }
        const active = p.activeConnectionIds();
        assert.ok(active.length <= limit, `${active.length} active, limit ${limit}`);
        // The current ID is active, or, when Retire Prior To left nothing else, kept until a replacement arrives.
        if (p.isCurrentRetiring) assert.is(active.length, 0);
        else assert.ok(active.includes(p.current), 'the current ID is active');
        assert.ok(active.every((e) => e.sequenceNumber >= p.retirePriorTo), 'nothing below Retire Prior To stays active');
        assert.ok(p.pendingRetirements <= maxPending);
        const pending = new Set([...p.pendingRetireConnectionIds(), ...inFlight]);
        assert.ok(active.every((e) => !pending.has(e.sequenceNumber)), 'an ID being retired is not active');
        assert.not.ok(pending.has(p.current.sequenceNumber), 'the ID we send with is never being retired');
      }
    }),
    { numRuns: 400 },
  );
});

test('property: random retirements by the peer keep our active IDs distinct, within its limit, replenished, and retired ones never return', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.array(fc.nat(), { maxLength: 60 }), (limit, maxActive, picks) => {
      const { ids, added, removed } = local({ maxActive, connectionIdLength: 4 });
      ids.setPeerActiveConnectionIdLimit(limit);
      ids.replenish();
      sendAll(ids);
      const target = Math.max(1, Math.min(limit, maxActive));
      const retired = new Set<number>();
      for (const pick of picks) {
        const active = ids.activeConnectionIds();
        assert.is(active.length, target);
        const victim = active[pick % active.length];
        const via = active.find((e) => e !== victim);
        if (via === undefined) continue;
        ids.onRetireConnectionId(victim.sequenceNumber, via.connectionId);
        retired.add(victim.sequenceNumber);
        sendAll(ids);
        const now = ids.activeConnectionIds();
        assert.is(now.length, target);
        assert.is(new Set(now.map((e) => connectionIdKey(e.connectionId))).size, now.length);
        assert.ok(now.every((e) => !retired.has(e.sequenceNumber)));
      }
      assert.is(added.length - removed.length, ids.activeCount, 'routing notifications match the active set');
    }),
    { numRuns: 300 },
  );
});

test.run();
