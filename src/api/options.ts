/**
 * Option types shared by `createServer`, `connect` and `createEndpoint`, and their resolution into
 * what the endpoint and the sans-IO connection take.
 *
 * @module
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { InspectionEvent, Observer } from 'xstate';
import { cryptoProviders, defaultCryptoProvider, type CryptoProviderName } from '../crypto/default.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { loadCertificateChainPem, loadPrivateKeyPem } from '../tls/certificates.js';
import type { ConnectionFactory, InspectFunction } from '../endpoint/endpoint.js';
import type { TransportSettings } from '../transport/connection-types.js';

/** A crypto provider: a built-in one by name (`'node'`: node:crypto/OpenSSL, the default; `'noble'`: pure JS), or your own. */
export type CryptoOption = CryptoProviderName | CryptoProvider;

/**
 * An XState inspection observer (e.g. `createBrowserInspector().inspect`, or a function). Every
 * actor of the connection — the connection machine, its TLS handshake and packet builder
 * children — reports to it.
 */
export type InspectOption = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** A certificate chain and its private key. */
export interface CertificateInput {
  /** The private key: PEM text (PKCS#8, SEC1 or PKCS#1), PKCS#8 DER bytes, or a `KeyObject`. */
  readonly key: string | Uint8Array | KeyObject;
  /** The chain, end entity first: PEM text (one or more certificates), or a list of PEM texts / DER certificates. */
  readonly chain: string | readonly (string | Uint8Array)[];
}

/** Options every endpoint-creating call takes. */
export interface EndpointCreationOptions {
  /** Crypto provider; default `'node'`. */
  readonly crypto?: CryptoOption;
  /** Length of the connection IDs this endpoint issues (1–20). Default 8. */
  readonly connectionIdLength?: number;
  /** 32-byte key of stateless reset tokens (RFC 9000 §10.3.2); default random. Keep it across restarts so peers of lost connections get reset. */
  readonly statelessResetKey?: Uint8Array;
  /** @internal Makes the sans-IO connections (tests substitute a fake). */
  readonly connectionFactory?: ConnectionFactory;
}

/** Transport settings a user may set (see {@link TransportSettings} for each field and its default). */
export type TransportOptions = Partial<TransportSettings>;

/** @internal The provider named by `option` (default: node:crypto). */
export function resolveCrypto(option: CryptoOption | undefined): CryptoProvider {
  if (option === undefined) return defaultCryptoProvider;
  if (typeof option === 'string') {
    const provider = cryptoProviders[option];
    if (provider === undefined) throw new TypeError(`unknown crypto provider ${JSON.stringify(option)}; use 'node', 'noble' or a CryptoProvider`);
    return provider;
  }
  return option;
}

/** @internal The inspection observer as a function. */
export function toInspectFunction(option: InspectOption | undefined): InspectFunction | undefined {
  if (option === undefined) return undefined;
  if (typeof option === 'function') return option;
  return (event) => option.next?.(event);
}

/** @internal The chain as DER and the key as a KeyObject. */
export function resolveCertificate(input: CertificateInput): { readonly certificateChain: Uint8Array[]; readonly privateKey: KeyObject } {
  const chain = typeof input.chain === 'string' ? loadCertificateChainPem(input.chain) : input.chain.flatMap((c) => (typeof c === 'string' ? loadCertificateChainPem(c) : [c]));
  if (chain.length === 0) throw new TypeError('certificate.chain holds no certificate');
  let privateKey: KeyObject;
  if (typeof input.key === 'string') privateKey = loadPrivateKeyPem(input.key);
  else if (input.key instanceof Uint8Array) privateKey = createPrivateKey({ key: Buffer.from(input.key), format: 'der', type: 'pkcs8' });
  else privateKey = input.key;
  return { certificateChain: chain, privateKey };
}
