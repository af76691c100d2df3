// Unit: the pure checks of power settings. No I/O.
import { describe, expect, it } from 'vitest';
import { hostOrIpProblem, inSubnet, normalizeFingerprint, parseIpv4, redfishUrlProblem, subnetBroadcast, utf8Length } from '../../src/domain/power-settings';

describe('parseIpv4', () => {
  it.each([
    ['192.168.1.255', 0xc0a801ff],
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
  ])('reads %s', (text, value) => expect(parseIpv4(text)).toBe(value));

  it.each(['192.168.1', '192.168.1.256', '192.168.01.1', '1.2.3.4.5', 'a.b.c.d', '', ' 1.2.3.4'])('refuses %j', (text) => expect(parseIpv4(text)).toBeNull());
});

describe('subnetBroadcast', () => {
  it.each([
    ['192.168.1.0/24', '192.168.1.255'],
    ['192.168.1.77/24', '192.168.1.255'],
    ['10.0.0.0/8', '10.255.255.255'],
    ['172.16.4.0/22', '172.16.7.255'],
    ['192.168.1.5/32', '192.168.1.5'],
  ])('of %s is %s', (cidr, broadcast) => expect(subnetBroadcast(cidr)).toBe(broadcast));

  it.each(['', '192.168.1.0', '192.168.1.0/33', 'x/24'])('is null for %j', (cidr) => expect(subnetBroadcast(cidr)).toBeNull());
});

describe('inSubnet', () => {
  it.each([
    ['192.168.1.255', '192.168.1.0/24', true],
    ['192.168.1.0', '192.168.1.0/24', true],
    ['192.168.2.255', '192.168.1.0/24', false],
    ['172.16.7.255', '172.16.4.0/22', true],
    ['172.16.8.0', '172.16.4.0/22', false],
    ['not-an-ip', '192.168.1.0/24', false],
  ])('%s in %s: %s', (ip, cidr, inside) => expect(inSubnet(ip, cidr)).toBe(inside));
});

describe('hostOrIpProblem', () => {
  it.each(['192.168.1.210', 'bmc-03', 'bmc-03.lab.example'])('accepts %s', (text) => expect(hostOrIpProblem(text)).toBeNull());
  it.each(['192.168.1.300', 'bmc_03', '-bmc', 'http://bmc', ''])('refuses %j', (text) => expect(hostOrIpProblem(text)).toMatch(/^expected an IPv4 address or DNS name/));
});

describe('redfishUrlProblem', () => {
  it.each(['https://192.168.1.210', 'https://bmc-03.lab.example:8443/', 'https://bmc/redfish/v1'])('accepts %s', (url) => expect(redfishUrlProblem(url)).toBeNull());
  it('refuses plain http: the password would cross the LAN readable', () => {
    expect(redfishUrlProblem('http://192.168.1.210')).toBe('must be https:// (the BMC password goes over it), got "http://192.168.1.210"');
  });
  it('refuses credentials in the URL', () => expect(redfishUrlProblem('https://root:calvin@bmc')).toBe('must not carry a user or password: set power.username and power.password'));
  it('refuses a query', () => expect(redfishUrlProblem('https://bmc/?x=1')).toMatch(/^must not have a query or fragment/));
  it('refuses what is not a URL', () => expect(redfishUrlProblem('bmc-03')).toBe('expected an https:// URL like https://192.168.1.210, got "bmc-03"'));
});

describe('normalizeFingerprint', () => {
  const colon = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
  it('keeps the colon form, upper-cased', () => expect(normalizeFingerprint(colon.toLowerCase())).toBe(colon));
  it('reads 64 bare hex digits', () => expect(normalizeFingerprint(colon.replace(/:/g, '').toLowerCase())).toBe(colon));
  it.each(['AB:CD', colon.slice(3), `${colon}:00`, 'SHA256:abc'])('refuses %j', (text) => expect(normalizeFingerprint(text)).toBeNull());
});

describe('utf8Length', () => {
  it('counts bytes, not characters', () => expect(utf8Length('pässwörd')).toBe(10));
});
