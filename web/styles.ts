import { DARK, LIGHT, type Palette, STATUS_TONES } from './theme.js';

function vars(p: Palette): string {
  const out = [
    `--bg:${p.bg}`,
    `--surface:${p.surface}`,
    `--text:${p.text}`,
    `--muted:${p.muted}`,
    `--border:${p.border}`,
    `--link:${p.link}`,
    `--focus:${p.focus}`,
    `--on-status:${p.onStatus}`,
    `--warn-bg:${p.warnBg}`,
    `--warn-text:${p.warnText}`,
    `--log-bg:${p.logBg}`,
    `--log-text:${p.logText}`,
  ];
  for (const t of STATUS_TONES) out.push(`--s-${t}:${p.status[t]}`);
  return out.join(';');
}

/**
 * The run view's stylesheet, generated from the palettes in web/theme.ts (so the colours the
 * contrast test checks are the colours served). Light by default, dark when the system asks.
 */
export function stylesheet(): string {
  const tones = STATUS_TONES.map((t) => `.tone-${t}{background-color:var(--s-${t})}`).join('\n');
  return `:root{${vars(LIGHT)};color-scheme:light dark}
@media (prefers-color-scheme: dark){:root{${vars(DARK)}}}
*{box-sizing:border-box}
html,body{margin:0;background:var(--bg);color:var(--text)}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-9999px;top:8px;background:var(--bg);color:var(--link);padding:6px 10px;z-index:20}
.skip:focus{left:8px}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
header.top{display:flex;gap:16px;align-items:center;padding:10px 20px;border-bottom:1px solid var(--border);background:var(--surface)}
header.top nav{display:flex;gap:14px}
.brand{font-weight:700;color:var(--text);text-decoration:none;font-size:17px}
.live{margin-left:auto;color:var(--muted);font-size:13px;white-space:nowrap}
.live[data-state=live]::before{content:"\\25CF  ";color:var(--s-completed)}
.live[data-state=offline]::before{content:"\\25CB  ";color:var(--s-failed)}
main{padding:16px 20px 40px;max-width:1400px;margin:0 auto}
main:focus{outline:none}
h1{font-size:20px;margin:4px 0 8px;overflow-wrap:anywhere}
h2{font-size:16px;margin:20px 0 8px}
h3{font-size:15px;margin:12px 0 6px}
.crumb{color:var(--muted);font-size:13.5px}
.meta{color:var(--muted);font-size:13.5px;display:flex;flex-wrap:wrap;gap:4px 18px;margin:4px 0 8px}
.meta b{color:var(--text);font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12.5px;font-weight:600;color:var(--on-status);white-space:nowrap;line-height:1.5}
${tones}
.warn{background:var(--warn-bg);color:var(--warn-text);padding:1px 6px;border-radius:4px;font-size:12.5px;font-weight:600;white-space:nowrap}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--border);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:13px}
tbody tr:hover{background:var(--surface)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;overflow-wrap:anywhere}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:8px 0 12px}
.filters label{display:flex;flex-direction:column;font-size:13px;color:var(--muted);gap:2px}
select,button{font:inherit;color:var(--text);background:var(--bg);border:1px solid var(--muted);border-radius:6px;padding:4px 10px}
button{cursor:pointer;background:var(--surface)}
button.danger{background:var(--s-failed);color:var(--on-status);border-color:var(--s-failed)}
button.primary{background:var(--s-running);color:var(--on-status);border-color:var(--s-running)}
button:disabled{cursor:not-allowed;opacity:.65}
.actions{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.actions .why{color:var(--muted);font-size:13px}
.status-line{min-height:1.4em;font-size:14px}
.empty{color:var(--muted);padding:12px 0}
.gantt{border:1px solid var(--border);border-radius:6px;margin:12px 0;overflow:hidden}
.g-row{display:grid;grid-template-columns:minmax(140px,28%) 1fr;align-items:stretch;border-top:1px solid var(--border)}
.g-row:first-child{border-top:0}
.g-label{padding:5px 8px;display:flex;gap:6px;align-items:center;min-width:0}
.g-name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;min-width:0}
.g-track{position:relative;min-height:30px;margin-right:12px}
.g-track .crumb{position:absolute;top:5px;white-space:nowrap;font-size:12.5px}
.g-label .crumb{white-space:nowrap}
.g-axis .g-track{min-height:24px}
.g-axis .g-label{color:var(--muted);font-size:12px}
.g-stage{background:var(--surface)}
.g-stage .g-label{font-weight:600;font-size:13.5px}
.tick{position:absolute;top:0;bottom:0;border-left:1px solid var(--border);font-size:11.5px;color:var(--muted);padding:3px 0 0 3px;white-space:nowrap}
.g-stagebar{position:absolute;top:12px;height:6px;border-radius:3px}
.bar{position:absolute;top:6px;height:18px;border-radius:3px;border:0;padding:0 0 0 4px;min-width:6px;cursor:pointer;font-size:11px;line-height:18px;color:var(--on-status);overflow:hidden;white-space:nowrap;text-align:left}
.bar.running{background-image:repeating-linear-gradient(45deg,rgba(0,0,0,0) 0 6px,rgba(0,0,0,.16) 6px 12px);background-size:17px 17px;animation:stripes 1s linear infinite}
@keyframes stripes{to{background-position:17px 0}}
@media (prefers-reduced-motion: reduce){.bar.running{animation:none}}
.bar[aria-pressed=true]{box-shadow:0 0 0 2px var(--bg),0 0 0 4px var(--text)}
.bar:focus-visible{outline:3px solid var(--focus);outline-offset:2px;z-index:2}
.job-btn{background:none;border:0;padding:0;color:var(--link);text-decoration:underline;cursor:pointer;font:inherit;text-align:left;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.job-btn[aria-pressed=true]{font-weight:700}
.panel{border:1px solid var(--border);border-radius:6px;padding:12px 14px;margin-top:12px}
.panel h2{margin-top:0;overflow-wrap:anywhere}
.error{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--surface);border-left:3px solid var(--s-failed);padding:6px 8px;margin:4px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.log-bar{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-top:10px}
.log-bar label{font-size:13.5px;display:flex;gap:4px;align-items:center}
pre.log{background:var(--log-bg);color:var(--log-text);padding:10px;border-radius:6px;min-height:60px;max-height:440px;overflow:auto;font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere;margin:8px 0 0}
pre.log .notice{font-style:italic}
.chart-wrap{position:relative;border-bottom:1px solid var(--border);border-left:1px solid var(--border);height:200px;margin:8px 0 4px;overflow-x:auto;overflow-y:hidden}
.chart{display:flex;align-items:flex-end;gap:4px;height:100%;padding:16px 8px 0;min-width:min-content}
.cbar-slot{display:flex;flex-direction:column;justify-content:flex-end;height:100%}
.cbar{flex:0 0 auto;width:20px;display:block;border-radius:2px 2px 0 0;min-height:3px;position:relative}
.cbar.longer{box-shadow:inset 0 4px 0 var(--text)}
.median{position:absolute;left:0;right:0;border-top:2px dashed var(--muted);pointer-events:none}
.median span{position:absolute;right:4px;top:-18px;font-size:11.5px;color:var(--muted);background:var(--bg);padding:0 3px}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:12.5px;color:var(--muted);margin:4px 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
pre.def{background:var(--surface);padding:10px;border-radius:6px;overflow:auto;font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:480px}
dialog{border:1px solid var(--border);border-radius:8px;background:var(--bg);color:var(--text);max-width:min(520px,92vw);padding:18px}
dialog::backdrop{background:rgba(0,0,0,.5)}
dialog .buttons{display:flex;gap:10px;justify-content:flex-end;margin-top:14px}
.more{margin:12px 0}
@media (max-width:700px){
  main{padding:12px 10px 32px}
  header.top{padding:8px 10px;gap:10px}
  .narrow-hide{display:none}
  .g-row{grid-template-columns:1fr}
  .g-label{padding:4px 6px 0;font-size:13px}
  .g-track{margin:0 8px 0 6px}
  .g-axis .g-label{display:none}
  th,td{padding:6px 4px}
}
`;
}
