import { Client, type ConnectConfig } from 'ssh2';

/** Thrown when the server's host key is none of the keys the installer reported: no command is run. */
export class HostKeyMismatchError extends Error {
  constructor(readonly host: string, readonly presented: string) {
    super(`host key of ${host} (${presented}) is not one the installer reported; refusing to connect`);
    this.name = 'HostKeyMismatchError';
  }
}

/** Thrown when the server refuses our key (e.g. it was already removed). */
export class AuthRefusedError extends Error {
  constructor(readonly host: string) {
    super(`${host} refused the rebuild key`);
    this.name = 'AuthRefusedError';
  }
}

/** The result of one remote command. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Where and how to connect: the address the host phoned home from, pinned to its reported host keys. */
export interface SshTarget {
  host: string; // 10.0.0.5
  port: number; // 22
  username: string; // root
  privateKey: string; // OpenSSH PEM, decrypted only for this session
  hostKeys: readonly string[]; // ["ssh-ed25519 AAAA…", …] from the post-installation webhook
  readyTimeoutMs?: number;
}

/** The raw key blobs of `ssh-… AAAA…` lines. */
function keyBlobs(lines: readonly string[]): Buffer[] {
  return lines
    .map((line) => line.trim().split(/\s+/)[1])
    .filter((b64): b64 is string => typeof b64 === 'string' && b64.length > 0)
    .map((b64) => Buffer.from(b64, 'base64'));
}

/** An open SSH connection that runs commands; close() when done. */
export class SshSession {
  private constructor(
    private readonly client: Client,
    readonly target: SshTarget,
  ) {}

  /** Connects, accepting only a host key the installer reported (no trust on first use). */
  static connect(target: SshTarget, signal?: AbortSignal): Promise<SshSession> {
    const allowed = keyBlobs(target.hostKeys);
    return new Promise((resolve, reject) => {
      const client = new Client();
      let mismatch: HostKeyMismatchError | null = null;
      const onAbort = () => {
        client.end();
        reject(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      client.once('ready', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(new SshSession(client, target));
      });
      client.once('error', (err: Error & { level?: string }) => {
        signal?.removeEventListener('abort', onAbort);
        if (mismatch) reject(mismatch);
        else if (err.level === 'client-authentication') reject(new AuthRefusedError(target.host));
        else reject(err);
      });
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey: target.privateKey,
        readyTimeout: target.readyTimeoutMs ?? 20_000,
        hostVerifier: (key: Buffer) => {
          if (allowed.some((blob) => blob.equals(key))) return true;
          mismatch = new HostKeyMismatchError(target.host, `${key.subarray(4, 4 + key.readUInt32BE(0)).toString()} ${key.toString('base64').slice(0, 24)}…`);
          return false;
        },
      };
      client.connect(config);
    });
  }

  /** Runs `command` without a PTY, writes `stdin` (if any) and closes it, and collects the output. */
  exec(command: string, stdin?: string, signal?: AbortSignal): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, { pty: false }, (err, channel) => {
        if (err) return reject(err);
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        const onAbort = () => channel.close();
        signal?.addEventListener('abort', onAbort, { once: true });
        channel.on('data', (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        channel.once('close', (code: number | null) => {
          signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
          resolve({ code: code ?? null, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
        });
        if (stdin !== undefined) channel.end(stdin);
        else channel.end();
      });
    });
  }

  close(): void {
    this.client.end();
  }
}

/** Quotes `value` for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
