import { describe, expect, it } from 'vitest';
import { connState, EP, type EpState } from '../../src/analyze/conn-state.js';
import { one, type Seg, seg } from '../helpers/segments.js';

/** Client and server on ports that are not "likely server ports": no port heuristic flip. */
const HIGH = { hosts: { clientPort: 40000, serverPort: 50000 } };

describe("Zeek's own baselines (history, conn_state)", () => {
  // testing/btest/Baseline/scripts.base.protocols.conn.conn_state-RST-behavior/out and the baselines listed in
  // the field guide §1.2; the segment sequences are ours, built to have those histories.
  const cases: [string, string, Seg[], object?][] = [
    ['R', 'OTH', [seg('o', 'R')], HIGH],
    ['SR', 'RSTOS0', [seg('o', 'S'), seg('o', 'R')]],
    ['SaR', 'RSTOS0', [seg('o', 'S'), seg('r', 'A'), seg('o', 'R')]],
    ['SaFR', 'OTH', [seg('o', 'S'), seg('r', 'A'), seg('o', 'FA'), seg('o', 'R')]],
    ['Sr', 'REJ', [seg('o', 'S'), seg('r', 'RA', { seq: 0 })]],
    ['ShR', 'RSTO', [seg('o', 'S'), seg('r', 'SA'), seg('o', 'R')]],
    [
      'ShADadR',
      'RSTO',
      [
        seg('o', 'S'),
        seg('r', 'SA'),
        seg('o', 'A'),
        seg('o', 'PA', { len: 10 }),
        seg('r', 'A'),
        seg('r', 'PA', { len: 20 }),
        seg('o', 'R'),
      ],
    ],
    [
      'ShAdDaFR',
      'RSTO',
      [
        seg('o', 'S'),
        seg('r', 'SA'),
        seg('o', 'A'),
        seg('r', 'PA', { len: 20 }),
        seg('o', 'PA', { len: 10 }),
        seg('r', 'A'),
        seg('o', 'FA'),
        seg('o', 'R'),
      ],
    ],
    [
      'ShAdDafr',
      'RSTR',
      [
        seg('o', 'S'),
        seg('r', 'SA'),
        seg('o', 'A'),
        seg('r', 'PA', { len: 20 }),
        seg('o', 'PA', { len: 10 }),
        seg('r', 'A'),
        seg('r', 'FA'),
        seg('r', 'R'),
      ],
    ],
    [
      'ShADadFr',
      'RSTR',
      [
        seg('o', 'S'),
        seg('r', 'SA'),
        seg('o', 'A'),
        seg('o', 'PA', { len: 10 }),
        seg('r', 'A'),
        seg('r', 'PA', { len: 20 }),
        seg('o', 'FA'),
        seg('r', 'RA'),
      ],
    ],
    // A RST from a server port first: Zeek's port heuristic flips the roles.
    ['^r', 'RSTRH', [seg('r', 'R')]],
    ['Dr', 'RSTRH', [seg('o', 'PA', { len: 100 }), seg('r', 'RA')]],
  ];
  it.each(cases)('%s → %s', (history, state, segs, opts) => {
    const c = one(segs, opts);
    expect([c.history, c.connState]).toEqual([history, state]);
  });
});

describe('every conn_state is reachable', () => {
  const hs = [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A')];
  const cases: [string, string, Seg[]][] = [
    ['S0', 'S', [seg('o', 'S')]],
    ['S1', 'ShA', hs],
    ['SF', 'ShAFf', [...hs, seg('o', 'FA'), seg('r', 'FA'), seg('o', 'A')]],
    ['REJ', 'Sr', [seg('o', 'S'), seg('r', 'RA', { seq: 0 })]],
    ['S2', 'ShAF', [...hs, seg('o', 'FA')]],
    ['S3', 'ShAf', [...hs, seg('r', 'FA')]],
    ['RSTO', 'ShAR', [...hs, seg('o', 'RA')]],
    ['RSTR', 'ShAr', [...hs, seg('r', 'RA')]],
    ['RSTOS0', 'SR', [seg('o', 'S'), seg('o', 'R')]],
    ['RSTRH', '^hr', [seg('r', 'SA'), seg('r', 'R')]],
    ['SH', 'SF', [seg('o', 'S'), seg('o', 'F')]],
    ['SHR', '^hf', [seg('r', 'SA'), seg('r', 'FA')]],
    ['OTH', 'Dd', [seg('o', 'PA', { len: 5 }), seg('r', 'PA', { len: 5 })]],
  ];
  it.each(cases)('%s (%s)', (state, history, segs) => {
    const c = one(segs);
    expect([c.connState, c.history]).toEqual([state, history]);
  });
});

describe('conn_state() decision order (pure)', () => {
  const { INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET } = EP;
  const cases: [EpState, EpState, number, number, string, string][] = [
    [SYN_SENT, RESET, 0, 0, 'Sr', 'REJ'],
    [SYN_ACK_SENT, RESET, 0, 0, 'Hr', 'REJ'],
    [RESET, RESET, 0, 0, 'SrR', 'REJ'],
    [RESET, RESET, 5, 0, 'ShADRr', 'RSTR'], // both reset with data: the responder's RST wins
    [PARTIAL, RESET, 0, 0, 'Dr', 'RSTRH'],
    [INACTIVE, RESET, 0, 0, '^r', 'RSTRH'],
    [ESTABLISHED, RESET, 0, 0, 'ShAr', 'RSTR'],
    [CLOSED, RESET, 0, 0, 'ShAFr', 'RSTR'],
    [RESET, INACTIVE, 0, 0, '^SR', 'RSTOS0'],
    [RESET, INACTIVE, 0, 0, 'SAR', 'OTH'], // an originator ACK before the RST
    [RESET, PARTIAL, 0, 0, 'SdR', 'RSTOS0'],
    [RESET, ESTABLISHED, 0, 0, 'ShR', 'RSTO'],
    [CLOSED, CLOSED, 0, 0, 'ShAFf', 'SF'],
    [CLOSED, INACTIVE, 0, 0, 'SF', 'SH'],
    [CLOSED, ESTABLISHED, 0, 0, 'ShAF', 'S2'],
    [INACTIVE, CLOSED, 0, 0, '^hf', 'SHR'],
    [PARTIAL, CLOSED, 0, 0, 'Df', 'SHR'],
    [ESTABLISHED, CLOSED, 0, 0, 'ShAf', 'S3'],
    [SYN_SENT, INACTIVE, 0, 0, 'S', 'S0'],
    [SYN_SENT, PARTIAL, 0, 0, 'Sd', 'OTH'],
    [ESTABLISHED, ESTABLISHED, 0, 0, 'ShA', 'S1'],
    [PARTIAL, PARTIAL, 0, 0, 'Dd', 'OTH'],
    [SYN_SENT, ESTABLISHED, 0, 0, '^hS', 'OTH'],
  ];
  it.each(cases)('orig %i resp %i sizes %i/%i history %s → %s', (os, rs, ob, rb, h, want) => {
    expect(connState(os, rs, ob, rb, h)).toBe(want);
  });
});

describe('history letters', () => {
  const hs = [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A')];
  it('a, d are recorded once per direction', () => {
    const c = one([
      ...hs,
      seg('o', 'PA', { len: 10 }),
      seg('o', 'PA', { len: 10 }),
      seg('r', 'A'),
      seg('r', 'A'),
      seg('r', 'PA', { len: 3 }),
      seg('r', 'PA', { len: 3 }),
      seg('o', 'A'),
    ]);
    expect(c.history).toBe('ShADad');
  });

  it('R repeats only when the RST sequence number differs from the last RST', () => {
    expect(one([...hs, seg('o', 'R'), seg('o', 'R')]).history).toBe('ShAR');
    expect(one([...hs, seg('o', 'R'), seg('o', 'R', { seq: 9999 })]).history).toBe('ShARR');
    expect(
      one([...hs, seg('o', 'R'), seg('o', 'R', { seq: 9999 }), seg('o', 'R', { seq: 9999 })]).history,
    ).toBe('ShARR');
  });

  it('F repeats when the FIN sequence (after its data) differs; a FIN retransmission does not', () => {
    expect(one([...hs, seg('o', 'FA'), seg('o', 'FA', { seq: 1001 })]).history).toBe('ShAF');
    expect(one([...hs, seg('o', 'FA', { len: 5 }), seg('o', 'FA', { seq: 1001, len: 10 })]).history).toBe(
      'ShAFF',
    );
  });

  it('S repeats are per Zeek: a SYN retransmission with the same ISN adds nothing', () => {
    expect(one([seg('o', 'S'), seg('o', 'S', { seq: 1000 })]).history).toBe('S');
  });

  it('a packet with two of SYN/FIN/RST is only I (FIN+RST) or Q (SYN+FIN, SYN+RST), once', () => {
    expect(one([...hs, seg('o', 'FRA'), seg('o', 'FRA', { seq: 7 })]).history).toBe('ShAI');
    expect(one([seg('o', 'SF')], HIGH).history).toBe('Q');
    expect(one([...hs, seg('r', 'SRA'), seg('r', 'SRA', { seq: 77 })]).history).toBe('ShAq');
  });

  it('t (retransmitted payload) is logarithmic: 1st, 10th, 100th', () => {
    const base = [...hs, seg('o', 'PA', { len: 100 })];
    const rx = (n: number) => Array.from({ length: n }, () => seg('o', 'PA', { seq: 1001, len: 100 }));
    expect(one([...base, ...rx(1)]).history).toBe('ShADT');
    expect(one([...base, ...rx(9)]).history).toBe('ShADT');
    expect(one([...base, ...rx(10)]).history).toBe('ShADTT');
    expect(one([...base, ...rx(100)]).history).toBe('ShADTTT');
    expect(one([...base, ...rx(10)]).orig.retransmissions).toBe(10);
  });

  it('w (zero window) is logarithmic, not counted on a RST or after the peer FIN', () => {
    expect(one([...hs, seg('r', 'A', { win: 0 })]).history).toBe('ShAaw');
    const ten = Array.from({ length: 10 }, () => seg('r', 'A', { win: 0 }));
    expect(one([...hs, ...ten]).history).toBe('ShAaww');
    expect(one([...hs, seg('r', 'RA', { win: 0 })]).history).toBe('ShAr');
    expect(one([...hs, seg('o', 'FA'), seg('r', 'A', { win: 0 })]).history).toBe('ShAFa');
  });

  it('g: the peer acknowledges data the capture never showed', () => {
    const c = one([...hs, seg('o', 'PA', { len: 100 }), seg('r', 'A', { ack: 1101 + 500 })]);
    expect(c.history).toBe('ShADaG');
    expect(c.orig.ackedUnseen).toBe(1);
  });

  it('^ marks a flip: a SYN-ACK first makes its receiver the originator', () => {
    const c = one([seg('r', 'SA'), seg('o', 'A')]);
    expect(c.history).toBe('^hA');
    expect(c.flipped).toBe(true);
    expect([c.origAddr, c.origPort, c.respPort]).toEqual(['10.0.0.1', 40000, 80]);
    expect(c.connState).toBe('S1');
  });

  it('late SYN after its SYN-ACK (two capture interfaces) flips the roles back', () => {
    // The SYN-ACK is processed as coming from the originator (high ports: no heuristic), then the SYN.
    const c = one([seg('r', 'SA', { ack: 1001 }), seg('o', 'S'), seg('o', 'A')], {
      hosts: { clientPort: 50000, serverPort: 40000 },
    });
    expect(c.history.startsWith('^')).toBe(true);
    expect(c.origPort).toBe(50000);
  });
});

describe('special close rules', () => {
  const hs = [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A')];
  it('a RST after both FINs leaves the connection SF (TIME-WAIT assassination shape)', () => {
    const c = one([...hs, seg('o', 'FA'), seg('r', 'FA'), seg('o', 'A'), seg('r', 'R')]);
    expect([c.connState, c.history]).toEqual(['SF', 'ShAFfr']);
    expect(c.resets[0]!.afterBothFins).toBe(true);
    expect(c.resp.state).toBe('CLOSED');
  });

  it("FIN then RST from one side followed by the peer's FIN is a normal close", () => {
    const c = one([...hs, seg('o', 'FA'), seg('o', 'R'), seg('r', 'FA')]);
    expect([c.connState, c.history]).toEqual(['SF', 'ShAFRf']);
    expect(c.resets[0]!.afterBothFins).toBe(false);
  });

  it('FIN then RST from one side without the peer FIN stays RSTO', () => {
    expect(one([...hs, seg('o', 'FA'), seg('o', 'R')]).connState).toBe('RSTO');
  });
});

describe('keepalive probes (RFC 1122 §4.2.3.6), counted for the RST that follows them', () => {
  // Client ISN 1000: after 5 bytes of data SND.NXT is 1006, so a probe is an ACK with seq 1005.
  const talk = [
    seg('o', 'S'),
    seg('r', 'SA'),
    seg('o', 'A'),
    seg('o', 'PA', { len: 5 }),
    seg('r', 'A'),
    seg('r', 'PA', { len: 5 }),
    seg('o', 'A'),
  ];
  const probe = (opts: { len?: number } = {}) =>
    seg('o', opts.len ? 'PA' : 'A', { seq: 1005, len: opts.len ?? 0, gapSec: 1 });

  it('three unanswered probes then RST+ACK: the RST records 3; history and state as Zeek (no letter)', () => {
    // The shape of test/fixtures/pcap/scenarios/04-keepalive-v4.pcap (Linux tcp_keepalive_timer).
    const c = one([...talk, probe(), probe(), probe(), seg('o', 'RA', { gapSec: 1 })]);
    expect([c.connState, c.history]).toEqual(['RSTO', 'ShADadR']);
    expect(c.resets[0]!.keepaliveProbes).toBe(3);
  });

  it('a one-byte probe (the old BSD form) counts too', () => {
    const c = one([...talk, probe({ len: 1 }), seg('o', 'RA', { gapSec: 1 })]);
    expect(c.resets[0]!.keepaliveProbes).toBe(1);
  });

  it('an answer from the peer clears the count (tcp_ack clears icsk_probes_out)', () => {
    const c = one([...talk, probe(), probe(), seg('r', 'A'), probe(), seg('o', 'RA', { gapSec: 1 })]);
    expect(c.resets[0]!.keepaliveProbes).toBe(1);
  });

  it('new data from the prober clears the count; ordinary ACKs are not probes', () => {
    const c = one([...talk, probe(), seg('o', 'PA', { len: 3 }), seg('o', 'A'), seg('o', 'RA')]);
    expect(c.resets[0]!.keepaliveProbes).toBe(0);
  });

  it('zero-window probes (peer window 0) are not keepalive probes', () => {
    const c = one([
      ...talk.slice(0, -2),
      seg('r', 'PA', { len: 5, win: 0 }),
      seg('o', 'A'),
      probe(),
      probe(),
      seg('o', 'RA', { gapSec: 1 }),
    ]);
    expect(c.resets[0]!.keepaliveProbes).toBe(0);
  });
});
