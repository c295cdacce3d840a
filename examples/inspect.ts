// Watching a connection's actors at work: every quic-actors connection is an XState actor with its
// TLS handshake, packet builder and (while inspected) its streams as children. Pass an inspection
// observer as `inspect` — `createBrowserInspector().inspect` or a websocket inspector from
// @statelyai/inspect, or any function as here — and every actor of the connection reports to it.
//
//   node --import tsx examples/inspect.ts
//
// This program prints each actor as it starts and each state it enters, then one stream's worth
// of traffic later closes the connection.
import type { InspectionEvent } from 'xstate';
import { connect, createServer } from '../src/index.js';

const lastState = new Map<string, string>();

/** Prints actor creation and state changes from XState inspection events. */
function printer(side: string) {
  return (event: InspectionEvent): void => {
    // ActorRefLike is the public view; the id and system id are there on every real actor.
    const ref = event.actorRef as { id?: string; _systemId?: string };
    const id = ref.id ?? '?';
    const systemId = ref._systemId ?? id;
    if (event.type === '@xstate.actor') {
      console.log(`${side}  actor   ${systemId}`);
    } else if (event.type === '@xstate.snapshot') {
      const value = (event.snapshot as { value?: unknown }).value;
      if (value === undefined) return;
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      if (lastState.get(`${side}/${id}`) !== text) {
        lastState.set(`${side}/${id}`, text);
        console.log(`${side}  state   ${systemId.padEnd(18)} → ${text}`);
      }
    }
  };
}

const server = await createServer({ host: '127.0.0.1', port: 0, alpn: ['demo'], inspect: printer('server') });
server.connection$.subscribe((connection) => {
  connection.stream$.subscribe((stream) => {
    if ('writable' in stream) void stream.readable.pipeTo(stream.writable).catch(() => undefined);
  });
});

const connection = await connect({
  host: '127.0.0.1',
  port: server.address.port,
  alpn: ['demo'],
  pinnedSpkiSha256: [server.certificateSpkiSha256],
  inspect: printer('client'),
});
const stream = await connection.createBidirectionalStream();
const writer = stream.writable.getWriter();
await writer.write(new TextEncoder().encode('hello, actors'));
await writer.close();
let echoed = '';
for await (const chunk of stream.readable) echoed += new TextDecoder().decode(chunk);
console.log(`client  echo    ${JSON.stringify(echoed)}`);
await connection.close({ closeCode: 0, reason: 'done' });
await server.close();
