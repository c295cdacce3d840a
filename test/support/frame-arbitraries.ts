/**
 * fast-check arbitraries of valid QUIC frames (RFC 9000 §19, RFC 9221 §4).
 *
 * Every generated frame encodes without error and decodes back to an equal object: optional
 * fields are present exactly when a decoder reports them (`explicitLength` on STREAM/DATAGRAM,
 * `frameType` on transport CONNECTION_CLOSE, `ecn` on ACK 0x03). Numeric fields are biased toward
 * the varint size boundaries (63/64, 16383/16384, 2^30−1/2^30) and 2^53−1.
 *
 * Used by the frame tests and reusable by packet-builder tests.
 *
 * @module
 */
import fc from 'fast-check';
import type { EncryptionLevel } from '../../src/wire/levels.js';
import {
  frameAllowedIn,
  frameTypeOf,
  type AckEcnCounts,
  type AckFrame,
  type AckRange,
  type ConnectionCloseFrame,
  type CryptoFrame,
  type DatagramFrame,
  type Frame,
  type FrameKind,
  type FrameOf,
  type StreamFrame,
} from '../../src/wire/frames/index.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
// Decoded frames are plain objects; deep equality compares prototypes too.
const NO_NULL_PROTO = { noNullPrototype: true } as const;

/** Values at and around the varint size boundaries, plus 0 and 2^53−1. */
export const VARINT_BOUNDARIES: readonly number[] = [0, 1, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, MAX_SAFE - 1, MAX_SAFE];

/** An integer in [0, max], biased toward varint boundaries and covering every varint size. */
export function arbVarint(max: number = MAX_SAFE): fc.Arbitrary<number> {
  const boundaries = VARINT_BOUNDARIES.filter((v) => v <= max);
  const bands: Array<fc.Arbitrary<number>> = [fc.integer({ min: 0, max: Math.min(max, 63) })];
  if (max >= 64) bands.push(fc.integer({ min: 64, max: Math.min(max, 16383) }));
  if (max >= 16384) bands.push(fc.integer({ min: 16384, max: Math.min(max, 2 ** 30 - 1) }));
  if (max >= 2 ** 30) bands.push(fc.integer({ min: 2 ** 30, max }));
  return fc.oneof(fc.constantFrom(...boundaries), ...bands);
}

/** A bigint in [0, 2^62−1], biased toward the varint boundaries. */
export const arbVarintBig: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(0n, 63n, 64n, 16383n, 16384n, 2n ** 30n - 1n, 2n ** 30n, 2n ** 53n, 2n ** 62n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 62n - 1n }),
);

/** Random bytes of a length in [minLength, maxLength]. */
export function arbBytes(minLength: number, maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ minLength, maxLength });
}

/** Payload bytes for STREAM/CRYPTO/DATAGRAM: mostly short, sometimes across the 64 and 16384 Length boundaries. */
export const arbData: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 20, arbitrary: arbBytes(0, 80) },
  { weight: 4, arbitrary: arbBytes(60, 400) },
  { weight: 1, arbitrary: arbBytes(16380, 16390) },
);

/** PADDING of 1–1300 bytes. */
export const arbPadding: fc.Arbitrary<FrameOf<'padding'>> = fc.integer({ min: 1, max: 1300 }).map((length) => ({ kind: 'padding', length }));

/** PING. */
export const arbPing: fc.Arbitrary<FrameOf<'ping'>> = fc.constant({ kind: 'ping' });

/** HANDSHAKE_DONE. */
export const arbHandshakeDone: fc.Arbitrary<FrameOf<'handshakeDone'>> = fc.constant({ kind: 'handshakeDone' });

/**
 * Valid ACK ranges: newest first, descending, at least one unacknowledged packet between
 * neighbours, never below 0; between `minRanges` and `maxRanges` ranges. With `minRanges > 1`
 * (and `maxRanges` ≤ 1000) the ranges are dense — gaps and lengths ≤ 300 below a largest
 * packet number ≥ 2^20 — so that at least `minRanges` are always produced; otherwise ranges may
 * stop early where they would go below 0.
 */
export function arbAckRanges(maxRanges = 40, minRanges = 1): fc.Arbitrary<AckRange[]> {
  const dense = minRanges > 1;
  const step = dense ? arbVarint(300) : fc.oneof(arbVarint(100), arbVarint(20_000));
  const largestArb = dense ? fc.integer({ min: 2 ** 20, max: MAX_SAFE }) : arbVarint();
  return fc
    .tuple(largestArb, dense ? step : arbVarint(), fc.array(fc.tuple(step, step), { minLength: minRanges - 1, maxLength: maxRanges - 1 }))
    .map(([largest, firstLength, rest]) => {
      const smallest0 = Math.max(0, largest - firstLength);
      const ranges: AckRange[] = [{ smallest: smallest0, largest }];
      let smallest = smallest0;
      for (const [gap, length] of rest) {
        const rangeLargest = smallest - gap - 2;
        const rangeSmallest = rangeLargest - length;
        if (rangeSmallest < 0) break;
        ranges.push({ smallest: rangeSmallest, largest: rangeLargest });
        smallest = rangeSmallest;
      }
      return ranges;
    });
}

/** ECN counts for ACK 0x03. */
export const arbEcn: fc.Arbitrary<AckEcnCounts> = fc.record({ ect0: arbVarint(), ect1: arbVarint(), ce: arbVarint() }, NO_NULL_PROTO);

/** ACK, type 0x02 or 0x03. */
export const arbAck: fc.Arbitrary<AckFrame> = fc
  .tuple(arbAckRanges(), arbVarint(), fc.option(arbEcn, { nil: undefined }))
  .map(([ranges, ackDelay, ecn]) => {
    const frame: AckFrame = { kind: 'ack', largest: ranges[0].largest, ackDelay, ranges };
    if (ecn !== undefined) frame.ecn = ecn;
    return frame;
  });

/** RESET_STREAM. */
export const arbResetStream: fc.Arbitrary<FrameOf<'resetStream'>> = fc.record(
  {
    kind: fc.constant('resetStream' as const),
    streamId: arbVarint(),
    applicationErrorCode: arbVarintBig,
    finalSize: arbVarint(),
  },
  NO_NULL_PROTO,
);

/** STOP_SENDING. */
export const arbStopSending: fc.Arbitrary<FrameOf<'stopSending'>> = fc.record(
  {
    kind: fc.constant('stopSending' as const),
    streamId: arbVarint(),
    applicationErrorCode: arbVarintBig,
  },
  NO_NULL_PROTO,
);

/** An offset for `data` such that offset + length ≤ 2^53−1, biased toward boundaries. */
function arbOffsetFor(data: Uint8Array): fc.Arbitrary<number> {
  return arbVarint(MAX_SAFE - data.length);
}

/** CRYPTO. */
export const arbCrypto: fc.Arbitrary<CryptoFrame> = arbData.chain((data) =>
  arbOffsetFor(data).map((offset): CryptoFrame => ({ kind: 'crypto', offset, data })),
);

/** NEW_TOKEN with a 1–200 byte token. */
export const arbNewToken: fc.Arbitrary<FrameOf<'newToken'>> = arbBytes(1, 200).map((token) => ({ kind: 'newToken', token }));

/** STREAM with any combination of OFF (offset > 0), LEN and FIN. */
export function arbStream(explicitLength?: boolean): fc.Arbitrary<StreamFrame> {
  return fc
    .tuple(arbData, arbVarint(), fc.boolean(), explicitLength === undefined ? fc.boolean() : fc.constant(explicitLength))
    .chain(([data, streamId, fin, len]) =>
      fc.oneof(fc.constant(0), arbOffsetFor(data)).map((offset): StreamFrame => ({ kind: 'stream', streamId, offset, data, fin, explicitLength: len })),
    );
}

/** MAX_DATA. */
export const arbMaxData: fc.Arbitrary<FrameOf<'maxData'>> = arbVarint().map((maximum) => ({ kind: 'maxData', maximum }));

/** MAX_STREAM_DATA. */
export const arbMaxStreamData: fc.Arbitrary<FrameOf<'maxStreamData'>> = fc.record(
  {
    kind: fc.constant('maxStreamData' as const),
    streamId: arbVarint(),
    maximum: arbVarint(),
  },
  NO_NULL_PROTO,
);

/** MAX_STREAMS, bidirectional or unidirectional. */
export const arbMaxStreams: fc.Arbitrary<FrameOf<'maxStreams'>> = fc.record(
  {
    kind: fc.constant('maxStreams' as const),
    bidirectional: fc.boolean(),
    maximum: arbVarint(),
  },
  NO_NULL_PROTO,
);

/** DATA_BLOCKED. */
export const arbDataBlocked: fc.Arbitrary<FrameOf<'dataBlocked'>> = arbVarint().map((limit) => ({ kind: 'dataBlocked', limit }));

/** STREAM_DATA_BLOCKED. */
export const arbStreamDataBlocked: fc.Arbitrary<FrameOf<'streamDataBlocked'>> = fc.record(
  {
    kind: fc.constant('streamDataBlocked' as const),
    streamId: arbVarint(),
    limit: arbVarint(),
  },
  NO_NULL_PROTO,
);

/** STREAMS_BLOCKED, bidirectional or unidirectional. */
export const arbStreamsBlocked: fc.Arbitrary<FrameOf<'streamsBlocked'>> = fc.record(
  {
    kind: fc.constant('streamsBlocked' as const),
    bidirectional: fc.boolean(),
    limit: arbVarint(),
  },
  NO_NULL_PROTO,
);

/** NEW_CONNECTION_ID with a 1–20 byte connection ID and Retire Prior To ≤ Sequence Number. */
export const arbNewConnectionId: fc.Arbitrary<FrameOf<'newConnectionId'>> = fc
  .tuple(arbVarint(), fc.double({ min: 0, max: 1, noNaN: true }), arbBytes(1, 20), arbBytes(16, 16))
  .map(([sequenceNumber, fraction, connectionId, statelessResetToken]) => ({
    kind: 'newConnectionId',
    sequenceNumber,
    retirePriorTo: Math.floor(sequenceNumber * fraction),
    connectionId,
    statelessResetToken,
  }));

/** RETIRE_CONNECTION_ID. */
export const arbRetireConnectionId: fc.Arbitrary<FrameOf<'retireConnectionId'>> = arbVarint().map((sequenceNumber) => ({
  kind: 'retireConnectionId',
  sequenceNumber,
}));

/** PATH_CHALLENGE. */
export const arbPathChallenge: fc.Arbitrary<FrameOf<'pathChallenge'>> = arbBytes(8, 8).map((data) => ({ kind: 'pathChallenge', data }));

/** PATH_RESPONSE. */
export const arbPathResponse: fc.Arbitrary<FrameOf<'pathResponse'>> = arbBytes(8, 8).map((data) => ({ kind: 'pathResponse', data }));

/** CONNECTION_CLOSE, transport (0x1c, with a Frame Type) or application (0x1d). */
export const arbConnectionClose: fc.Arbitrary<ConnectionCloseFrame> = fc
  .tuple(fc.boolean(), arbVarintBig, arbVarint(), arbBytes(0, 120))
  .map(([application, errorCode, frameType, reason]) =>
    application
      ? { kind: 'connectionClose', application, errorCode, reason }
      : { kind: 'connectionClose', application, errorCode, frameType, reason },
  );

/** DATAGRAM, with (0x31) or without (0x30) a Length field. */
export function arbDatagram(explicitLength?: boolean): fc.Arbitrary<DatagramFrame> {
  return fc
    .tuple(arbData, explicitLength === undefined ? fc.boolean() : fc.constant(explicitLength))
    .map(([data, len]): DatagramFrame => ({ kind: 'datagram', data, explicitLength: len }));
}

/** One arbitrary per frame kind. */
export const frameArbitraries: { [K in FrameKind]: fc.Arbitrary<FrameOf<K>> } = {
  padding: arbPadding,
  ping: arbPing,
  ack: arbAck,
  resetStream: arbResetStream,
  stopSending: arbStopSending,
  crypto: arbCrypto,
  newToken: arbNewToken,
  stream: arbStream(),
  maxData: arbMaxData,
  maxStreamData: arbMaxStreamData,
  maxStreams: arbMaxStreams,
  dataBlocked: arbDataBlocked,
  streamDataBlocked: arbStreamDataBlocked,
  streamsBlocked: arbStreamsBlocked,
  newConnectionId: arbNewConnectionId,
  retireConnectionId: arbRetireConnectionId,
  pathChallenge: arbPathChallenge,
  pathResponse: arbPathResponse,
  connectionClose: arbConnectionClose,
  handshakeDone: arbHandshakeDone,
  datagram: arbDatagram(),
};

/** Every frame kind. */
export const FRAME_KINDS: readonly FrameKind[] = Object.keys(frameArbitraries) as FrameKind[];

/** Any valid frame (STREAM and DATAGRAM may lack a Length field: such a frame must end its payload). */
export const arbFrame: fc.Arbitrary<Frame> = fc.oneof(...FRAME_KINDS.map((k) => frameArbitraries[k] as fc.Arbitrary<Frame>));

/** Any valid frame that carries its own length (can be followed by other frames). */
export const arbSelfDelimitedFrame: fc.Arbitrary<Frame> = fc.oneof(
  ...FRAME_KINDS.map((k): fc.Arbitrary<Frame> =>
    k === 'stream' ? arbStream(true) : k === 'datagram' ? arbDatagram(true) : (frameArbitraries[k] as fc.Arbitrary<Frame>),
  ),
);

/** One of the four encryption levels. */
export const arbLevel: fc.Arbitrary<EncryptionLevel> = fc.constantFrom('initial', 'zeroRtt', 'handshake', 'oneRtt');

/**
 * A sequence of frames that is a valid packet payload at `level` and decodes back to itself:
 * non-empty, every frame permitted at the level (RFC 9000 §12.4), no two PADDING frames adjacent
 * (a run of 0x00 decodes as one), and only the last frame may omit its Length field.
 */
export function arbPayloadFrames(level: EncryptionLevel, maxFrames = 8): fc.Arbitrary<Frame[]> {
  const allowed = (f: Frame) => frameAllowedIn(frameTypeOf(f), level);
  return fc
    .tuple(fc.array(arbSelfDelimitedFrame.filter(allowed), { minLength: 0, maxLength: maxFrames - 1 }), arbFrame.filter(allowed))
    .map(([head, last]) => {
      const frames: Frame[] = [];
      for (const f of [...head, last]) {
        const prev = frames[frames.length - 1];
        if (f.kind === 'padding' && prev?.kind === 'padding') prev.length += f.length;
        else frames.push(f.kind === 'padding' ? { ...f } : f);
      }
      return frames;
    });
}
