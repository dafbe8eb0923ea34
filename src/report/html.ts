/**
 * `rstwatch analyze --html OUT`: one self-contained page, readable offline on a laptop and a phone.
 *
 * - Inline CSS and inline SVG charts drawn by src/report/svg.ts; no CDN, no font, no image, no framework. The
 *   only script is a dozen lines that filter the connection table (the page works without it).
 * - A Content-Security-Policy with `default-src 'none'` and the hashes of our one style and one script: the
 *   page cannot load or send anything, and if a hostile capture ever slipped markup past `esc`, the browser
 *   would still run no script and fetch nothing from it.
 * - Every string from the capture or the file system goes through `esc` (addresses, the file name, problem
 *   messages, evidence); the cause titles and next steps come from src/model/explain.ts.
 */

import { createHash } from 'node:crypto';
import type { AnalysisReport, Counted, ReportedConnection } from '../analyze/analyze.js';
import { bucketLabel, codeSpans, humanBytes, humanDuration, num, utcSpan, utcTime } from './format.js';
import { DEFAULT_HTML_MAX_ROWS } from './html-limits.js';
import { SCHEMA_VERSION } from './json.js';
import { barsSvg, esc, timelineAxis, timelineSvg } from './svg.js';
import { topicAdvice, topicsOf } from './topics.js';

export interface HtmlOptions {
  version: string;
  /** Most rows in the connection table (default 2000): a page stays light enough for a phone's browser. */
  maxRows?: number;
}

export { DEFAULT_HTML_MAX_ROWS };

const CSS = `
:root{--fg:#1d2330;--muted:#5b6475;--bg:#fff;--card:#f4f6fa;--line:#d9dee8;--accent:#2f6fdf;--bad:#c62828;--warn:#a86b00;--code:#eef1f6}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#9aa3b5;--bg:#14171d;--card:#1d222b;--line:#313847;--accent:#6b9cff;--bad:#ff6b6b;--warn:#f0b429;--code:#252b36}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 16px}
header{padding-top:20px}
h1{font-size:1.4em;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:1.15em;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:1em;margin:14px 0 6px}
code{font:0.92em ui-monospace,"DejaVu Sans Mono",monospace;background:var(--code);padding:0 3px;border-radius:3px;overflow-wrap:anywhere}
.meta,.muted,footer{color:var(--muted)}
.partial{border:2px solid var(--bad);color:var(--bad);padding:8px 12px;border-radius:6px;font-weight:600}
.problems li.error{color:var(--bad)}.problems li.warning{color:var(--warn)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:0}
.cards div{background:var(--card);border-radius:8px;padding:8px 12px}
.cards dt{color:var(--muted);font-size:.85em}.cards dd{margin:0;font-size:1.3em;font-weight:600}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:18px}
svg.chart{width:100%;height:auto;display:block}svg.bars{max-width:520px}
figure.timeline{margin:0}svg.timeline{height:180px;border-left:1px solid var(--line)}
.axis{display:flex;justify-content:space-between;color:var(--muted);font-size:.85em}
svg .bar{fill:var(--accent)}svg .grid{stroke:var(--line);stroke-width:1}
svg text{fill:var(--muted);font:13px system-ui,sans-serif}svg text.label{fill:var(--fg)}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{background:var(--card)}td.n{text-align:right;font-variant-numeric:tabular-nums}
td ul{margin:0;padding-left:18px}
.certain{color:var(--bad);font-weight:600}.likely{color:var(--warn);font-weight:600}.possible{color:var(--muted)}
ul.findings li{margin-bottom:6px}
details{margin:6px 0}summary{cursor:pointer}a{color:var(--accent)}
input#filter{font:inherit;padding:6px 8px;width:100%;max-width:420px;margin-bottom:8px;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:6px}
@media (max-width:640px){
 table.stack thead{display:none}
 table.stack tr{display:block;border:1px solid var(--line);border-radius:8px;margin-bottom:10px;padding:4px}
 table.stack td{display:block;border:0;padding:3px 6px}
 table.stack td::before{content:attr(data-label) ": ";color:var(--muted)}
}
`.trim();

// Filters the connection table as the user types; shown only when scripts run (the input starts hidden).
const SCRIPT = `(function(){var i=document.getElementById('filter');if(!i)return;i.hidden=false;var rows=document.querySelectorAll('#conns tbody tr');i.addEventListener('input',function(){var q=i.value.toLowerCase();for(var k=0;k<rows.length;k++){var r=rows[k];r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;}});})();`;

const hash = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
const CSP = `default-src 'none'; style-src ${hash(CSS)}; script-src ${hash(SCRIPT)}; img-src data:; base-uri 'none'; form-action 'none'`;

/** Escaped text with its backtick spans as <code>. */
function rich(text: string): string {
  return codeSpans(text)
    .map((part, i) => (i % 2 === 1 ? `<code>${esc(part)}</code>` : esc(part)))
    .join('');
}

const confSpan = (c: string) => `<span class="${esc(c)}">${esc(c)}</span>`;

function card(label: string, value: string): string {
  return `<div><dt>${esc(label)}</dt><dd>${value}</dd></div>`;
}

function header(r: AnalysisReport): string {
  const s = r.summary;
  const cap = r.capture;
  const out: string[] = ['<header>', `<h1>TCP resets in <code>${esc(r.source)}</code></h1>`];
  const span =
    s.firstTime === null
      ? ''
      : ` · ${esc(utcSpan(s.firstTime, s.lastTime))} (${esc(humanDuration(s.durationSec))})`;
  out.push(
    `<p class="meta">${esc(cap.format)} (${esc(cap.variant)}) · ${humanBytes(cap.bytes)} of packet data · ${num(cap.interfaces)} interface${cap.interfaces === 1 ? '' : 's'}${span}</p>`,
  );
  if (cap.partial)
    out.push(
      '<p class="partial" id="partial">PARTIAL: the capture could not be read to the end; this report covers what was read.</p>',
    );
  if (cap.problems.length > 0) {
    out.push('<ul class="problems">');
    for (const p of cap.problems)
      out.push(
        `<li class="${p.severity === 'error' ? 'error' : 'warning'}"><code>${esc(p.code)}</code> ${esc(p.message)}</li>`,
      );
    out.push('</ul>');
  }
  if (cap.drops !== null && cap.drops > 0)
    out.push(
      `<p class="partial">The capture itself dropped ${num(cap.drops)} packets: resets may be missing.</p>`,
    );
  if (s.flowsEvicted > 0)
    out.push(
      `<p class="partial">${num(s.flowsEvicted)} flows were evicted (the flow table was full; raise <code>--max-flows</code>): some causes may be missed.</p>`,
    );
  out.push('</header>');
  return out.join('\n');
}

function summary(r: AnalysisReport): string {
  const s = r.summary;
  const out = ['<section id="summary"><h2>Summary</h2><dl class="cards">'];
  out.push(
    card('Packets', num(s.packets)),
    card('TCP segments', num(s.tcpSegments)),
    card('Connections', num(s.connections)),
    card('TCP resets', num(s.rsts)),
    card('Connections with resets', num(s.connectionsWithResets)),
    card('over IPv4 / IPv6', `${num(s.rstIpv4)} / ${num(s.rstIpv6)}`),
    card('RST+ACK / bare RST', `${num(s.rstAck)} / ${num(s.rstBare)}`),
    card('sent by client / server', `${num(s.rstFromOrig)} / ${num(s.rstFromResp)}`),
  );
  if (s.rstInbound + s.rstOutbound > 0)
    out.push(
      card(
        'outgoing / incoming / unknown',
        `${num(s.rstOutbound)} / ${num(s.rstInbound)} / ${num(s.rstDirectionUnknown)}`,
      ),
    );
  out.push('</dl>');
  const skips = Object.entries(s.decodeSkips);
  if (skips.length > 0)
    out.push(
      `<p class="muted">Not decoded as TCP: ${skips.map(([k, v]) => `${esc(k)} ${num(v)}`).join(', ')}.</p>`,
    );
  out.push('</section>');
  return out.join('\n');
}

function timeline(r: AnalysisReport): string {
  const t = r.timeline;
  if (t.counts.length === 0) return '';
  const title = `TCP resets per ${bucketLabel(t.bucketSec)}, ${utcTime(t.startSec)} onwards`;
  let peak = 0;
  for (const v of t.counts) if (v > peak) peak = v;
  return `<section id="timeline"><h2>Timeline</h2><p class="muted">RSTs per ${esc(bucketLabel(t.bucketSec))}, peak ${num(peak)}; times in UTC.</p><figure class="timeline">${timelineSvg(t, title)}${timelineAxis(t)}</figure></section>`;
}

function causes(r: AnalysisReport): string {
  if (r.causes.length === 0) return '';
  const out = ['<section id="causes"><h2>Causes</h2>'];
  out.push(
    barsSvg(
      r.causes.map((c) => ({ label: c.title, value: c.count })),
      'Resets by cause',
    ),
  );
  out.push(
    '<div class="table"><table class="stack"><thead><tr><th>cause</th><th>resets</th><th>confidence</th><th>example connections</th><th>explained in</th></tr></thead><tbody>',
  );
  for (const c of r.causes) {
    const confs = (['certain', 'likely', 'possible'] as const)
      .filter((k) => c.byConfidence[k] > 0)
      .map((k) => `${num(c.byConfidence[k])} ${confSpan(k)}`)
      .join(', ');
    const topic = topicAdvice(c.topic);
    out.push(
      `<tr><td data-label="cause">${esc(c.title)}</td><td class="n" data-label="resets">${num(c.count)}</td><td data-label="confidence">${confs}</td><td data-label="examples"><ul>${c.examples.map((e) => `<li><code>${esc(e)}</code></li>`).join('')}</ul></td><td data-label="explained in"><a href="#topic-${esc(topic.id)}">${esc(topic.title)}</a></td></tr>`,
    );
  }
  out.push('</tbody></table></div>');
  out.push('<h3>What the causes mean and what to do</h3>');
  for (const id of topicsOf(r.causes)) {
    const a = topicAdvice(id);
    out.push(
      `<details id="topic-${esc(a.id)}" open><summary><strong>${esc(a.title)}</strong> — <code>${esc(a.command)}</code></summary>`,
      `<p>${rich(a.summary)}</p><ol>${a.steps.map((s) => `<li>${rich(s)}</li>`).join('')}</ol></details>`,
    );
  }
  out.push('</section>');
  return out.join('\n');
}

function findings(r: AnalysisReport): string {
  if (r.findings.length === 0) return '';
  const items = r.findings.map((f) => `<li>[${confSpan(f.confidence)}] ${rich(f.text)}</li>`);
  return `<section id="findings"><h2>Findings</h2><ul class="findings">${items.join('')}</ul></section>`;
}

function top(r: AnalysisReport): string {
  const chart = (title: string, items: Counted[]) =>
    items.length === 0
      ? ''
      : `<div><h3>${esc(title)}</h3>${barsSvg(
          items.map((i) => ({ label: i.key, value: i.count })),
          title,
        )}</div>`;
  const charts = [
    chart('RST senders', r.top.senders),
    chart('RST receivers', r.top.receivers),
    chart('Service ports of reset connections', r.top.ports),
    chart('Who sent RSTs to whom', r.top.pairs),
  ].join('');
  return charts === ''
    ? ''
    : `<section id="top"><h2>Top talkers</h2><div class="grid2">${charts}</div></section>`;
}

function connectionRow(c: ReportedConnection): string {
  const evidence = c.evidence.map((e) => `<li>${esc(e)}</li>`).join('');
  const more =
    c.resets.length > 1
      ? `<details><summary>${num(c.resets.length)} resets</summary><ul>${c.resets.map((x) => `<li>frame ${num(x.frame)}: ${esc(x.flags)} from the ${x.side === 'orig' ? 'originator' : 'responder'}, ${esc(x.judgment)}: ${esc(x.cause)} (${confSpan(x.confidence)})</li>`).join('')}</ul></details>`
      : '';
  return `<tr><td data-label="originator"><code>${esc(c.orig)}</code></td><td data-label="responder"><code>${esc(c.resp)}</code></td><td data-label="conn_state">${esc(c.connState)}</td><td data-label="history"><code>${esc(c.history)}</code></td><td data-label="cause">${esc(c.cause)}</td><td data-label="confidence">${confSpan(c.confidence)}</td><td data-label="evidence"><ul>${evidence}</ul>${more}</td></tr>`;
}

function connections(r: AnalysisReport, maxRows: number): string {
  if (r.connections.length === 0) return '';
  const rows = r.connections.slice(0, maxRows);
  const notShown = r.connectionsOmitted + r.connections.length - rows.length;
  const omitted =
    notShown > 0
      ? `<p class="muted">${num(notShown)} more connections with resets are not listed here: <code>--json --max-connections all</code> lists every one.</p>`
      : '';
  return [
    '<section id="connections"><h2>Connections with resets</h2>',
    `<p class="muted">${num(rows.length)} of ${num(r.summary.connectionsWithResets)} connections; conn_state and history as Zeek writes them.</p>`,
    '<input id="filter" type="search" placeholder="filter: address, state, cause…" aria-label="filter the connections" hidden>',
    '<div class="table"><table id="conns" class="stack"><thead><tr><th>originator</th><th>responder</th><th>conn_state</th><th>history</th><th>cause</th><th>confidence</th><th>evidence</th></tr></thead><tbody>',
    ...rows.map(connectionRow),
    '</tbody></table></div>',
    omitted,
    '</section>',
  ].join('\n');
}

export function renderHtml(r: AnalysisReport, opts: HtmlOptions): string {
  const body =
    r.summary.rsts === 0
      ? '<section id="causes"><h2>Causes</h2><p>No TCP reset in this capture.</p></section>'
      : [
          timeline(r),
          causes(r),
          findings(r),
          top(r),
          connections(r, opts.maxRows ?? DEFAULT_HTML_MAX_ROWS),
        ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">
<meta name="generator" content="rstwatch ${esc(opts.version)}">
<title>rstwatch analyze: ${esc(r.source)}</title>
<style>${CSS}</style>
</head>
<body>
${header(r)}
<main>
${summary(r)}
${body}
</main>
<footer><p>rstwatch ${esc(opts.version)} · <code>rstwatch analyze --json</code> gives the same data (schemaVersion ${SCHEMA_VERSION}) · every topic: <code>rstwatch explain</code></p></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
