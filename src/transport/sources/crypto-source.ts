/**
 * The CRYPTO frame source (RFC 9000 §19.6): one {@link CryptoSendStream} per encryption level
 * that carries CRYPTO frames (Initial, Handshake, 1-RTT).
 *
 * Frames are cut at flush time to the room left in the packet (`fitCryptoFrame`): nothing is
 * pre-cut, so a CRYPTO frame can never outgrow its packet. Lost ranges go first, lowest offset
 * first; a packet may carry several CRYPTO frames (a lost range, then new data).
 *
 * @module
 */
import { merge, type Observable } from 'rxjs';
import type { FrameSource, PacketWriter, SentFrame, SentPacket } from '../../packet/types.js';
import { fitCryptoFrame, writeCryptoFrame } from '../../wire/frames/encode.js';
import type { EncryptionLevel } from '../../wire/levels.js';
import { CryptoSendStream, type CryptoLevel } from '../crypto-send.js';
import { copyScratch } from '../send-buffer.js';

/** Writes CRYPTO frames for the Initial, Handshake and 1-RTT CRYPTO streams. */
export class CryptoSource implements FrameSource {
  /** Source name. */
  readonly name = 'crypto';
  private readonly streams: Record<CryptoLevel, CryptoSendStream> = {
    initial: new CryptoSendStream('initial'),
    handshake: new CryptoSendStream('handshake'),
    oneRtt: new CryptoSendStream('oneRtt'),
  };

  /** Emits when CRYPTO data becomes sendable at any level. */
  readonly pending$: Observable<void> = merge(this.streams.initial.pending$, this.streams.handshake.pending$, this.streams.oneRtt.pending$);

  /** The CRYPTO stream of a level. */
  stream(level: CryptoLevel): CryptoSendStream {
    return this.streams[level];
  }

  /** Appends TLS bytes to the CRYPTO stream of `level`. */
  append(level: CryptoLevel, data: Uint8Array): void {
    this.streams[level].append(data);
  }

  /** True when the level's CRYPTO stream has lost or new data. */
  hasPending(level: EncryptionLevel): boolean {
    return level !== 'zeroRtt' && this.streams[level].hasPending;
  }

  /** Writes CRYPTO frames into the room left, lost data first. */
  write(writer: PacketWriter): number {
    if (writer.level === 'zeroRtt') return 0;
    const stream = this.streams[writer.level];
    let frames = 0;
    while (!writer.full) {
      const range = stream.nextRange();
      if (range === undefined) break;
      const length = fitCryptoFrame(writer.room, range.offset, range.available);
      if (length === 0) break;
      const data = stream.read(range.offset, length, copyScratch(length));
      const start = writer.offset;
      const end = writeCryptoFrame(writer.buffer, start, range.offset, data);
      writer.commitFrame(end - start, { kind: 'crypto', offset: range.offset, length }, true);
      stream.onSent(range.offset, length);
      frames++;
    }
    return frames;
  }

  /** Releases acknowledged CRYPTO data. */
  onAcked(frame: SentFrame, packet: SentPacket): void {
    if (frame.kind !== 'crypto' || packet.level === 'zeroRtt') return;
    this.streams[packet.level].onAcked(frame.offset, frame.length);
  }

  /** Queues lost CRYPTO data to be sent again (RFC 9000 §13.3). */
  onLost(frame: SentFrame, packet: SentPacket): void {
    if (frame.kind !== 'crypto' || packet.level === 'zeroRtt') return;
    this.streams[packet.level].onLost(frame.offset, frame.length);
  }
}
