import { clear, h, link } from './dom.js';
import { runPage } from './run-page.js';
import { runsPage } from './runs-page.js';
import { workflowPage } from './workflow-page.js';

/** The run view's browser client: picks the page from the path. */
function start(): void {
  const main = document.getElementById('main');
  if (!main) return;
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return runsPage(main);
  if (parts[0] === 'runs' && parts[1]) return runPage(main, parts[1]);
  if (parts[0] === 'workflows' && parts[1]) return workflowPage(main, parts[1]);
  clear(main);
  main.appendChild(h('h1', null, 'Not found'));
  main.appendChild(h('p', null, link([], 'All runs')));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
