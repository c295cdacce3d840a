/**
 * The machines: each lifecycle of quic-actors defined once as an XState v5 machine — the
 * connection (RFC 9000 §10), the TLS 1.3 client and server handshakes (RFC 8446 Appendix A), the
 * packet builder (msquic's builder contract), the sending and receiving parts of a stream
 * (RFC 9000 §3) — and the compiler that turns a flat machine into a transition table for the hot
 * paths, with a live actor of the same machine mirroring it while an inspector is attached.
 * Useful to draw the machines, walk their paths (`@xstate/graph`) or run them in tests.
 *
 * @module machines
 */
export * from './compiled.js';
export * from './connection.js';
export * from './packet-builder.js';
export * from './send-stream.js';
export * from './recv-stream.js';
export * from './tls-common.js';
export * from './tls-client.js';
export * from './tls-server.js';
export * from './pmtud.js';
