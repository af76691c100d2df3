// A simulated bare-metal host that does over HTTP what real firmware, the Proxmox installer and the first boot do
// (proxmox.md §9), against a gateway listening at `publicUrl`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@iarna/toml';
import { answerRequest, installedWebhook } from './installer-payloads';
import type { StandInNode } from './sshd-node';

export interface InstallTrace {
  ipxeScript: string;
  answer: { global: { 'root-ssh-keys': string[] }; 'post-installation-webhook': { url: string }; 'first-boot': { url: string } };
  firstBootScript: string;
}

/** PXE boots (iPXE script and its downloads), fetches the answer, the first-boot script, and authorises the key on `node`. */
export async function pxeAndInstall(publicUrl: string, mac: string, node: StandInNode): Promise<InstallTrace> {
  const ipxeScript = await (await fetch(`${publicUrl}/ipxe/${mac.replace(/:/g, '-')}`)).text();
  for (const m of ipxeScript.matchAll(/^(?:kernel|initrd) (\S+)/gm)) {
    const res = await fetch(m[1]!);
    if (res.status !== 200) throw new Error(`GET ${m[1]} answered ${res.status}`);
    await res.arrayBuffer();
  }
  const answerRes = await fetch(`${publicUrl}/api/boot/answer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', accept: 'application/json, application/toml;q=0.5' },
    body: JSON.stringify(answerRequest(['58:47:ca:00:00:01', mac])),
  });
  if (answerRes.status !== 200) throw new Error(`answer request answered ${answerRes.status}: ${await answerRes.text()}`);
  const answer = parse(await answerRes.text()) as unknown as InstallTrace['answer'];
  const firstBoot = await fetch(answer['first-boot'].url);
  if (firstBoot.status !== 200) throw new Error(`first-boot script answered ${firstBoot.status}`);
  const firstBootScript = await firstBoot.text();
  node.authorize(answer.global['root-ssh-keys'][0]!); // the installer writes root-ssh-keys to authorized_keys
  return { ipxeScript, answer, firstBootScript };
}

/** The installer's webhook after a successful install. */
export async function reportInstalled(trace: InstallTrace, mac: string, node: StandInNode): Promise<number> {
  const res = await fetch(trace.answer['post-installation-webhook'].url, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(installedWebhook({ mac, address: '127.0.0.1/8', hostKeys: { ed25519: node.hostKey }, machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' })),
  });
  return res.status;
}

/** Runs the first-boot script the way systemd does (exec'd directly, so it needs its shebang). */
export function runFirstBoot(trace: InstallTrace, dir: string): Promise<{ code: number | null; output: string }> {
  const file = join(dir, 'proxmox-first-boot');
  writeFileSync(file, trace.firstBootScript, { mode: 0o700 });
  return new Promise((resolve) => {
    const child = spawn(file, [], { env: { PATH: process.env.PATH! } });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b));
    child.stderr.on('data', (b: Buffer) => (output += b));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
