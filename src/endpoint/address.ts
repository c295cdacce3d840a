/**
 * UDP addresses as the endpoint sees them: conversion from `node:dgram`'s `RemoteInfo`, stable
 * string keys for maps, and the bytes that bind a Retry token to an address.
 *
 * @module
 */
import { isIP } from 'node:net';
import type { SocketAddress } from '../transport/connection-types.js';

export type { SocketAddress };

/** The `node:dgram` socket type that can reach `host` (`udp6` for an IPv6 literal, `udp4` otherwise). */
export function socketTypeFor(host: string): 'udp4' | 'udp6' {
  return isIP(stripBrackets(host)) === 6 ? 'udp6' : 'udp4';
}

/** `[::1]` → `::1`: URL-style brackets around an IPv6 literal removed. */
export function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A {@link SocketAddress} from the fields of a `node:dgram` `RemoteInfo` or `AddressInfo`. */
export function toSocketAddress(info: { readonly address: string; readonly port: number; readonly family: string }): SocketAddress {
  const family = info.family === 'IPv6' || (info.family as unknown) === 6 ? 'IPv6' : 'IPv4';
  return { address: info.address, port: info.port, family };
}

/** A string naming the address and port, for maps and limiters (`127.0.0.1:4433`, `[::1]:4433`). */
export function addressKey(address: SocketAddress): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/** True when both name the same address and port. */
export function sameAddress(a: SocketAddress, b: SocketAddress): boolean {
  return a.port === b.port && a.address === b.address;
}

/** The bytes of `addressKey(address)` (UTF-8): what a Retry token is bound to (RFC 9000 §8.1.4). */
export function addressBytes(address: SocketAddress): Uint8Array {
  return new TextEncoder().encode(addressKey(address));
}
