/**
 * The HTML report without a browser: structure (balanced tags, every section, one SVG bar per non-empty
 * bucket, one table row per listed connection), self-containment (nothing to fetch, a CSP whose hashes match
 * the page's own style and script) and escaping of everything that comes from a capture or the file system.
 * test/e2e/report-html.test.ts opens the page in Chromium.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AnalysisReport, analyzeCapture } from '../../src/analyze/analyze.js';
import { renderHtml } from '../../src/report/html.js';
import { esc } from '../../src/report/svg.js';
import { topicAdvice } from '../../src/report/topics.js';
import { analyzeBytes, CORPUS, richPackets, toPcap } from './report-captures.js';

const VOID = new Set(['meta', 'input', 'br', 'hr', 'img', 'link', 'wbr']);

/** Checks that tags nest and close (outside <style> and <script>); returns the problems. */
function tagProblems(html: string): string[] {
  const body = html.replace(/<(style|script)\b[^>]*>[\s\S]*?<\/\1>/g, '<$1></$1>');
  const stack: string[] = [];
  const problems: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*?(\/?)>/g)) {
    const [, closing, rawName, selfClosing] = m;
    const name = rawName!.toLowerCase();
    if (VOID.has(name) || selfClosing === '/') continue;
    if (closing === '') stack.push(name);
    else if (stack.pop() !== name) problems.push(`</${name}> at ${m.index}`);
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' ')}`);
  // A '<' not starting a tag, a comment or the doctype would be text the escaper let through.
  const stray = body.replace(/<!doctype html>/i, '').match(/<(?![a-zA-Z/])/g);
  if (stray) problems.push(`${stray.length} stray '<'`);
  return problems;
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

let rich: AnalysisReport;
let richHtml: string;
beforeAll(async () => {
  rich = await analyzeBytes(toPcap(richPackets()));
  richHtml = renderHtml(rich, { version: '1.2.3' });
});

describe('renderHtml', () => {
  it('renders a real capture (tcpdump corpus) as a well-formed page with every section', async () => {
    const r = await analyzeCapture(`${CORPUS}/bgp-bgpsec.pcap`);
    const html = renderHtml(r, { version: '1.2.3' });
    expect(tagProblems(html)).toEqual([]);
    for (const id of ['summary', 'timeline', 'causes', 'findings', 'top', 'connections'])
      expect(html, id).toContain(`<section id="${id}">`);
    expect(html).toContain(`<code>${esc(`${CORPUS}/bgp-bgpsec.pcap`)}</code>`);
    // Three refused BGP connects: three rows, REJ with history Sr.
    const rows = html.match(/<tr><td data-label="originator">/g) ?? [];
    expect(rows).toHaveLength(3);
    expect(html).toContain(
      '<td data-label="conn_state">REJ</td><td data-label="history"><code>Sr</code></td>',
    );
  });

  it('says so when a capture has no reset, still well-formed', async () => {
    const none = await analyzeBytes(toPcap(richPackets().filter((p) => !p.flags.includes('R'))));
    const html = renderHtml(none, { version: '1' });
    expect(tagProblems(html)).toEqual([]);
    expect(html).toContain('No TCP reset in this capture.');
    expect(html).not.toContain('<svg');
  });

  it('draws one timeline bar per non-empty bucket and one bar per top-list entry', () => {
    const timeline = /<svg class="chart timeline"[\s\S]*?<\/svg>/.exec(richHtml)![0];
    const nonEmpty = rich.timeline.counts.filter((c) => c > 0).length;
    expect(nonEmpty).toBeGreaterThan(30);
    expect(timeline.match(/<rect class="bar"/g)).toHaveLength(nonEmpty);
    const bars = richHtml.match(/<svg class="chart bars"[\s\S]*?<\/svg>/g)!;
    // Causes chart + senders, receivers, ports, pairs.
    expect(bars).toHaveLength(5);
    expect(bars[0]!.match(/<rect class="bar"/g)).toHaveLength(rich.causes.length);
    expect(richHtml).toContain('>1,234</text>'); // the biggest pair's count, with its separator
  });

  it('lists the connections with conn_state, history, cause, confidence and evidence', () => {
    const rows = richHtml.match(/<tr><td data-label="originator">[\s\S]*?<\/tr>/g)!;
    expect(rows).toHaveLength(rich.connections.length);
    const abort = rows.find((r) => r.includes('10.0.0.7:40000'))!;
    expect(abort).toMatch(/conn_state">RSTR</);
    expect(abort).toMatch(/cause">abort</);
    expect(abort).toMatch(/<span class="likely">likely<\/span>/);
    expect(abort).toContain(esc(rich.connections.find((c) => c.orig === '10.0.0.7:40000')!.evidence[0]!));
    expect(richHtml).toContain('238 more connections with resets are not listed here');
    // The page keeps at most maxRows rows whatever --max-connections said; the rest are counted.
    const capped = renderHtml(rich, { version: '1', maxRows: 10 });
    expect(capped.match(/<tr><td data-label="originator">/g)).toHaveLength(10);
    expect(capped).toContain('10 of 1,238 connections');
    expect(capped).toContain('1,228 more connections with resets are not listed here');
  });

  it('explains each cause with the words of src/model/explain.ts', () => {
    const refused = topicAdvice('refused');
    expect(richHtml).toContain(`<strong>${esc(refused.title)}</strong>`);
    expect(richHtml).toContain('<code>ss -ltnp</code>'); // a step's command, as code
    expect(richHtml).toContain('<code>10.0.0.5</code> tried port 9001 on <code>10.0.0.9</code> 1,234 times');
  });

  it('is self-contained: nothing to fetch, and a CSP that allows only its own style and script', () => {
    for (const html of [richHtml]) {
      expect(html).not.toMatch(/\ssrc=|@import|url\(|<link\b|<iframe|<object|<img/i);
      const urls = html.match(/https?:\/\/[^\s"'<>)]+/g) ?? [];
      expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg'])); // an XML namespace, not fetched
      const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/
        .exec(html)![1]!
        .replace(/&#39;/g, "'");
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
      const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain(`style-src ${sha256(style)}`);
      expect(csp).toContain(`script-src ${sha256(script)}`);
      expect(html.match(/<script/g)).toHaveLength(1);
      expect(html.match(/<style/g)).toHaveLength(1);
    }
  });

  it('escapes every string that can come from a hostile capture or file name', () => {
    const evil = `<script>alert("x")</script><img src=x onerror='alert(1)'>&amp;`;
    const hostile: AnalysisReport = {
      ...rich,
      source: `${evil}.pcap`,
      capture: {
        ...rich.capture,
        partial: true,
        problems: [{ code: 'E_CAPTURE_READ', message: `cannot open ${evil}`, severity: 'error', offset: 0 }],
      },
      summary: { ...rich.summary, decodeSkips: { [evil]: 1 } },
      causes: rich.causes.map((c) => ({ ...c, title: evil, examples: [evil] })),
      top: {
        senders: [{ key: evil, count: 2 }],
        receivers: [{ key: evil, count: 2 }],
        ports: [{ key: evil, count: 2 }],
        pairs: [{ key: `${evil} → ${evil}`, count: 2 }],
      },
      findings: rich.findings.map((f) => ({
        ...f,
        text: `\`${evil}\` ${evil}`,
        confidence: evil as 'likely',
      })),
      connections: rich.connections.slice(0, 3).map((c) => ({
        ...c,
        orig: evil,
        resp: evil,
        history: evil,
        connState: evil,
        cause: evil as 'abort',
        evidence: [evil],
        resets: [...c.resets, ...c.resets].map((x) => ({ ...x, judgment: evil, evidence: [evil] })),
      })),
    };
    const html = renderHtml(hostile, { version: `1"><script>x</script>` });
    expect(tagProblems(html)).toEqual([]);
    expect(html.match(/<script/g)).toHaveLength(1); // ours only
    expect(html).not.toContain('<img');
    expect(html).not.toContain(`onerror='`);
    expect(html).toContain(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;amp;',
    );
    expect(html).toContain('<p class="partial" id="partial">PARTIAL');
  });
});
