/**
 * The packet builder and the single outbound path's assembly (RFC 9000 §12, §14, §17; RFC 9001
 * §5): {@link PacketAssembler} runs one flush, pulling frames from its sources into packets that a
 * {@link PacketBuilder} writes in place, seals and batches, following the lifecycle of msquic's
 * builder (uninitialized → initialized → prepared → building → finalized → sent). Every finished
 * packet is recorded as a {@link SentPacket} for loss recovery.
 *
 * @module packet
 */
export * from './types.js';
export * from './context.js';
export * from './packet-numbers.js';
export * from './random.js';
export * from './builder.js';
export * from './assembler.js';
export * from './dispatch.js';
export * from './lifecycle.js';
export * from './inspect.js';
