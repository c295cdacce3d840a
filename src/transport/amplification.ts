/**
 * The anti-amplification limit of a server before it has validated the client's address
 * (RFC 9000 §8.1): at most three times the bytes received from that address may be sent.
 *
 * Every datagram attributed to the connection counts, whether its packets were processed or
 * discarded (§8.1: "servers MUST count all of the payload bytes received in datagrams that are
 * uniquely attributed to a single connection"). The address is validated when the server
 * processes a Handshake packet from the client (§8.1), or from the start when the endpoint
 * validated it with a Retry or NEW_TOKEN token (§8.1.2, §8.1.3). A client is never limited.
 *
 * @module
 */

/** RFC 9000 §8.1: the factor of the anti-amplification limit. */
export const AMPLIFICATION_FACTOR = 3;

/** Bytes received and sent before address validation, and the budget they leave. */
export class AmplificationLimit {
  private validatedFlag: boolean;
  private received = 0;
  private sent = 0;

  /** `validated`: true for a client, or a server whose endpoint validated the address already. */
  constructor(validated: boolean) {
    this.validatedFlag = validated;
  }

  /** True once the peer's address is validated: no limit applies. */
  get validated(): boolean {
    return this.validatedFlag;
  }

  /** Marks the address validated (a Handshake packet was processed, RFC 9000 §8.1). */
  validate(): void {
    this.validatedFlag = true;
  }

  /** Counts a datagram of `bytes` received from the peer's address. */
  onReceived(bytes: number): void {
    if (!this.validatedFlag) this.received += bytes;
  }

  /** Counts a datagram of `bytes` sent to the peer's address. */
  onSent(bytes: number): void {
    if (!this.validatedFlag) this.sent += bytes;
  }

  /** Bytes that may still be sent: `3 × received − sent`, or `Infinity` once validated. */
  budget(): number {
    return this.validatedFlag ? Number.POSITIVE_INFINITY : Math.max(0, AMPLIFICATION_FACTOR * this.received - this.sent);
  }
}
