import { clear, h, link } from './dom.js';
import { runPage } from './run-page.js';
import { runsPage } from './runs-page.js';
import { workflowPage } from './workflow-page.js';

/** The run view's browser client: picks the page from the path. */
function start(): void {
  const main = document.getElementById('main');
  if (!main) return;
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) runsPage(main);
  else if (parts[0] === 'runs' && parts[1]) runPage(main, parts[1]);
  else if (parts[0] === 'workflows' && parts[1]) workflowPage(main, parts[1]);
  else notFound(main);
}

function notFound(main: HTMLElement): void {
  clear(main);
  main.appendChild(h('h1', null, 'Not found'));
  main.appendChild(h('p', null, link([], 'All runs')));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
